//! SCIM messages and resources on the wire, shared by the endpoint and the SCIM target.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ScimType;

/// The SCIM error schema (RFC 7644 §3.12).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub schemas: Vec<String>,
    /// The HTTP status, as a string.
    pub status: String,
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none", default)]
    pub scim_type: Option<ScimType>,
    pub detail: String,
}

impl<'de> Deserialize<'de> for ScimType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        [
            Self::InvalidFilter,
            Self::TooMany,
            Self::Uniqueness,
            Self::Mutability,
            Self::InvalidSyntax,
            Self::InvalidPath,
            Self::NoTarget,
            Self::InvalidValue,
            Self::InvalidVers,
            Self::Sensitive,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown scimType `{s}`")))
    }
}

/// A page of resources (RFC 7644 §3.4.2). Read leniently (counts may come as strings, and
/// `startIndex` and `itemsPerPage` may be missing), as providers send it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse<T> {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "totalResults", deserialize_with = "lenient_count")]
    pub total_results: usize,
    #[serde(
        rename = "startIndex",
        default,
        deserialize_with = "lenient_opt_count_or_zero"
    )]
    pub start_index: usize,
    #[serde(
        rename = "itemsPerPage",
        default,
        deserialize_with = "lenient_opt_count_or_zero"
    )]
    pub items_per_page: usize,
    #[serde(rename = "Resources", default)]
    pub resources: Vec<T>,
}

impl<T> ListResponse<T> {
    #[must_use]
    pub fn new(resources: Vec<T>, total_results: usize, start_index: usize) -> Self {
        Self {
            schemas: vec![crate::LIST_RESPONSE_SCHEMA.to_owned()],
            total_results,
            start_index,
            items_per_page: resources.len(),
            resources,
        }
    }
}

/// `meta` of every resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub resource_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub created: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_modified: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub location: Option<String>,
    /// A weak ETag, `W/"<version>"`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
}

/// `name`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Name {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub formatted: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub middle_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub honorific_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub honorific_suffix: Option<String>,
}

/// An element of a multi-valued attribute (`emails`, `groups`, `members`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiValue {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient_opt_bool"
    )]
    pub primary: Option<bool>,
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none", default)]
    pub reference: Option<String>,
}

/// The enterprise User extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnterpriseUser {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub employee_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cost_center: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub division: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub manager: Option<Manager>,
}

/// `manager` of the enterprise extension.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manager {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
    #[serde(rename = "$ref", skip_serializing_if = "Option::is_none", default)]
    pub reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_name: Option<String>,
}

/// A User (core schema and the enterprise extension). Has no password field: the SCIM target
/// adds a password to a request body only when it sends one, so it cannot be printed or kept
/// by accident.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub nick_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub preferred_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub locale: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub timezone: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        default,
        deserialize_with = "lenient_opt_bool"
    )]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub emails: Vec<MultiValue>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub phone_numbers: Vec<MultiValue>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub groups: Vec<MultiValue>,
    #[serde(
        rename = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        skip_serializing_if = "Option::is_none",
        default
    )]
    pub enterprise: Option<EnterpriseUser>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub meta: Option<Meta>,
}

/// A Group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub members: Vec<MultiValue>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub meta: Option<Meta>,
}

/// An error answer as a service provider sends it, read leniently (`status` as a number or a
/// string, any `scimType`): what the SCIM target reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReply {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(default, deserialize_with = "lenient_opt_count")]
    pub status: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The parts of a provider's `ServiceProviderConfig` a client relies on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceProviderConfig {
    #[serde(default)]
    pub patch: Supported,
    #[serde(default)]
    pub filter: Supported,
    #[serde(default)]
    pub change_password: Supported,
}

/// `{"supported": …}` of a `ServiceProviderConfig` feature.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Supported {
    #[serde(default, deserialize_with = "lenient_opt_bool")]
    pub supported: Option<bool>,
}

impl Supported {
    /// Whether the feature is declared supported.
    #[must_use]
    pub fn yes(&self) -> bool {
        self.supported == Some(true)
    }
}

fn lenient_opt_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?
        .as_ref()
        .and_then(lenient_bool))
}

/// A count that may be sent as a string (`"409"`).
fn lenient_opt_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Number(n)) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    })
}

fn lenient_opt_count_or_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    Ok(lenient_opt_count(d)?.unwrap_or(0))
}

fn lenient_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    lenient_opt_count(d)?.ok_or_else(|| serde::de::Error::custom("expected a count"))
}

/// A boolean as clients send it: `true`, or the strings `"True"` / `"false"`.
#[must_use]
pub fn lenient_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Rewrites a resource's keys to their schema's spelling (`username` → `userName`) and its
/// string booleans to booleans, so a lenient body reads as the typed resource.
#[must_use]
pub fn canonical_keys(v: Value, names: &[&str]) -> Value {
    match v {
        Value::Object(o) => {
            let mut out = Map::new();
            for (k, v) in o {
                let key = names
                    .iter()
                    .find(|n| n.eq_ignore_ascii_case(&k))
                    .map_or(k, |n| (*n).to_owned());
                let v = match (key.as_str(), &v) {
                    ("active" | "primary", Value::String(_)) => {
                        lenient_bool(&v).map_or(v, Value::Bool)
                    }
                    _ => canonical_keys(v, names),
                };
                out.insert(key, v);
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|v| canonical_keys(v, names)).collect()),
        v => v,
    }
}

/// Every attribute name of the schemas above, for [`canonical_keys`].
pub const ATTRIBUTE_NAMES: &[&str] = &[
    "schemas",
    "id",
    "externalId",
    "userName",
    "name",
    "formatted",
    "familyName",
    "givenName",
    "displayName",
    "userType",
    "active",
    "emails",
    "groups",
    "members",
    "value",
    "display",
    "type",
    "primary",
    "$ref",
    "employeeNumber",
    "department",
    "manager",
    "meta",
    "resourceType",
    "created",
    "lastModified",
    "location",
    "version",
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_user_with_quirks() {
        let u: User = serde_json::from_value(json!({
            "schemas": [crate::USER_SCHEMA, crate::ENTERPRISE_USER_SCHEMA],
            "id": "2819c223", "userName": "ada", "active": "False",
            "name": {"givenName": "Ada"}, "emails": [{"value": "a@x.org", "type": "work", "primary": "true"}],
            crate::ENTERPRISE_USER_SCHEMA: {"department": "lincoln"},
            "x-unknown": 1
        }))
        .unwrap();
        assert_eq!(u.active, Some(false));
        assert_eq!(u.emails[0].primary, Some(true));
        assert_eq!(u.enterprise.unwrap().department.as_deref(), Some("lincoln"));
        let e: ErrorReply =
            serde_json::from_value(json!({"status": "409", "scimType": "uniqueness"})).unwrap();
        assert_eq!(e.status, Some(409));
        let l: ListResponse<User> =
            serde_json::from_value(json!({"totalResults": "0", "schemas": []})).unwrap();
        assert_eq!(l.total_results, 0);
        assert!(serde_json::from_value::<ListResponse<User>>(json!({"schemas": []})).is_err());
    }
}
