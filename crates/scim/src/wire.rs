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

/// A page of resources (RFC 7644 §3.4.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse<T> {
    pub schemas: Vec<String>,
    #[serde(rename = "totalResults")]
    pub total_results: usize,
    #[serde(rename = "startIndex")]
    pub start_index: usize,
    #[serde(rename = "itemsPerPage")]
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
    pub resource_type: String,
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
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

/// A User (core schema and the enterprise extension).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub user_name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub active: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub emails: Vec<MultiValue>,
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
