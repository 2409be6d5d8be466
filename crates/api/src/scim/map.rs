//! The directory's people and groups in their SCIM form, and back.
//!
//! `userName` ↔ username (the userName as sent is kept; the username is derived from it),
//! `name` ↔ given and family name, the work (or primary) e-mail ↔ email, `externalId` ↔
//! external id, `userType` ↔ role, `active` ↔ status (`active: false` is `suspended`, a soft
//! delete), the enterprise extension kept as sent; `displayName` ↔ a group's display name,
//! `members` ↔ memberships.

use cc_domain::{Group, Role, User, UserSource, UserStatus};
use cc_scim::wire::{self, canonical_keys, MultiValue, ATTRIBUTE_NAMES};
use cc_scim::{ScimError, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA};
use chrono::SecondsFormat;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The longest `userName`, `displayName`, `externalId` or e-mail accepted.
const MAX_TEXT: usize = 256;

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A weak entity tag for a version.
#[must_use]
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A person in SCIM form.
#[must_use]
pub fn user_to_scim(user: &User, source: Option<&UserSource>, base: &str) -> Value {
    let mut schemas = vec![USER_SCHEMA.to_owned()];
    let enterprise = source
        .map(|s| s.scim_attributes.clone())
        .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()));
    if enterprise.is_some() {
        schemas.push(ENTERPRISE_USER_SCHEMA.to_owned());
    }
    let user_name = source
        .and_then(|s| s.scim_user_name.clone())
        .unwrap_or_else(|| user.username.clone());
    let mut v = json!({
        "schemas": schemas,
        "id": user.id.to_string(),
        "userName": user_name,
        "name": {
            "givenName": user.given_name,
            "familyName": user.family_name,
            "formatted": user.display_name(),
        },
        "displayName": user.display_name(),
        "userType": role_name(user.role),
        "active": user.status == UserStatus::Active,
        "meta": {
            "resourceType": "User",
            "created": timestamp(user.created_at),
            "lastModified": timestamp(user.updated_at),
            "location": format!("{base}/Users/{}", user.id),
            "version": etag(user.version),
        }
    });
    if let Some(ext) = &user.external_id {
        v["externalId"] = json!(ext);
    }
    if let Some(email) = &user.email {
        v["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
    }
    if let Some(ext) = enterprise {
        v[ENTERPRISE_USER_SCHEMA] = ext;
    }
    v
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Student => "Student",
        Role::Teacher => "Teacher",
        Role::Staff => "Staff",
        Role::Administrator => "Administrator",
    }
}

/// What a SCIM User body says, in the directory's terms.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub user_name: String,
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub external_id: Option<String>,
    pub role: Option<Role>,
    pub active: Option<bool>,
    /// The enterprise extension, as a JSON object.
    pub enterprise: Value,
}

/// Reads a User body (lenient about key case and string booleans).
///
/// # Errors
/// `invalidSyntax` for a body that is not a User, `invalidValue` for a missing `userName` or
/// a value past its limit.
pub fn user_from_scim(body: Value) -> Result<UserInput, ScimError> {
    let mut body = canonical_keys(body, ATTRIBUTE_NAMES);
    let enterprise_raw = body
        .as_object_mut()
        .and_then(|o| o.remove(ENTERPRISE_USER_SCHEMA));
    let u: wire::User = serde_json::from_value(body)
        .map_err(|e| ScimError::invalid_syntax(format!("The body is not a SCIM User: {e}")))?;
    let user_name = u.user_name.trim().to_owned();
    if user_name.is_empty() {
        return Err(ScimError::invalid_value("userName is required."));
    }
    check_len("userName", &user_name)?;
    let name = u.name.unwrap_or_default();
    let display = u.display_name.unwrap_or_default();
    let mut display_words = display.split_whitespace();
    let first = display_words.next().map(str::to_owned);
    let rest: Vec<&str> = display_words.collect();
    let given_name = non_empty(name.given_name)
        .or(first)
        .unwrap_or_else(|| user_name.clone());
    let family_name = non_empty(name.family_name)
        .or_else(|| (!rest.is_empty()).then(|| rest.join(" ")))
        .unwrap_or_else(|| user_name.clone());
    let email = pick_email(&u.emails);
    if let Some(e) = &email {
        check_len("emails", e)?;
    }
    let external_id = non_empty(u.external_id);
    if let Some(e) = &external_id {
        check_len("externalId", e)?;
    }
    let role = u
        .user_type
        .as_deref()
        .and_then(|t| t.trim().to_ascii_lowercase().parse::<Role>().ok());
    let enterprise = match enterprise_raw {
        Some(Value::Object(raw)) => Value::Object(known_enterprise(raw)),
        _ => json!({}),
    };
    if enterprise.to_string().len() > 4096 {
        return Err(ScimError::invalid_value(
            "The enterprise extension is larger than 4 KiB.",
        ));
    }
    Ok(UserInput {
        username: derive_username(&user_name),
        user_name,
        given_name,
        family_name,
        email,
        external_id,
        role,
        active: u.active,
        enterprise,
    })
}

/// The enterprise attributes kept, as strings; `manager` as `{"value": …}` whether it came as
/// an object, a bare id (Entra's PATCH) or a one-element list.
fn known_enterprise(raw: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in raw {
        match (k.as_str(), v) {
            ("employeeNumber" | "department", Value::String(s)) if !s.trim().is_empty() => {
                out.insert(k, Value::String(s));
            }
            ("manager", Value::String(id)) if !id.trim().is_empty() => {
                out.insert(k, json!({ "value": id }));
            }
            ("manager", Value::Array(mut items)) if !items.is_empty() => {
                if let Some(Value::Object(m)) = items.drain(..1).next() {
                    out.insert(k, manager(m));
                }
            }
            ("manager", Value::Object(m)) => {
                out.insert(k, manager(m));
            }
            _ => {}
        }
    }
    out.retain(|_, v| !v.is_null());
    out
}

fn manager(m: Map<String, Value>) -> Value {
    match m.get("value").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => json!({ "value": id }),
        _ => Value::Null,
    }
}

fn check_len(field: &str, v: &str) -> Result<(), ScimError> {
    if v.chars().count() > MAX_TEXT {
        return Err(ScimError::invalid_value(format!(
            "{field} is longer than {MAX_TEXT} characters."
        )));
    }
    Ok(())
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The work address, else the primary one, else the first.
fn pick_email(emails: &[MultiValue]) -> Option<String> {
    emails
        .iter()
        .find(|e| {
            e.kind
                .as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case("work"))
        })
        .or_else(|| emails.iter().find(|e| e.primary == Some(true)))
        .or_else(|| emails.first())
        .and_then(|e| non_empty(e.value.clone()))
}

/// The directory username for a SCIM `userName`: lower-cased, `@` becomes `.`, any other
/// character a username cannot hold becomes `_` (so `Ada.Lovelace@district.example` is
/// `ada.lovelace.district.example`); at most 64 characters.
#[must_use]
pub fn derive_username(user_name: &str) -> String {
    let mut out: String = user_name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            '@' => '.',
            _ => '_',
        })
        .take(64)
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        out.insert(0, 'u');
        out.truncate(64);
    }
    out
}

/// A group in SCIM form; `members` are given when asked for.
#[must_use]
pub fn group_to_scim(group: &Group, members: Option<&[User]>, base: &str) -> Value {
    let mut v = json!({
        "schemas": [GROUP_SCHEMA],
        "id": group.id.to_string(),
        "displayName": group.display_name,
        "meta": {
            "resourceType": "Group",
            "created": timestamp(group.created_at),
            "lastModified": timestamp(group.updated_at),
            "location": format!("{base}/Groups/{}", group.id),
            "version": etag(group.version),
        }
    });
    if let Some(ext) = &group.external_id {
        v["externalId"] = json!(ext);
    }
    if let Some(members) = members {
        v["members"] = members
            .iter()
            .map(|u| {
                json!({
                    "value": u.id.to_string(),
                    "display": u.display_name(),
                    "type": "User",
                    "$ref": format!("{base}/Users/{}", u.id),
                })
            })
            .collect();
    }
    v
}

/// What a SCIM Group body says.
#[derive(Debug, Clone)]
pub struct GroupInput {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: Vec<Uuid>,
}

/// Reads a Group body.
///
/// # Errors
/// `invalidSyntax` for a body that is not a Group, `invalidValue` for a missing
/// `displayName`, a member that is not a person's id, or a value past its limit.
pub fn group_from_scim(body: Value) -> Result<GroupInput, ScimError> {
    let body = canonical_keys(body, ATTRIBUTE_NAMES);
    let g: wire::Group = serde_json::from_value(body)
        .map_err(|e| ScimError::invalid_syntax(format!("The body is not a SCIM Group: {e}")))?;
    let display_name = g.display_name.trim().to_owned();
    if display_name.is_empty() {
        return Err(ScimError::invalid_value("displayName is required."));
    }
    check_len("displayName", &display_name)?;
    let external_id = non_empty(g.external_id);
    let mut members = Vec::with_capacity(g.members.len());
    for m in &g.members {
        if m.kind
            .as_deref()
            .is_some_and(|k| k.eq_ignore_ascii_case("group"))
        {
            return Err(ScimError::invalid_value(
                "Groups cannot be members of groups here.",
            ));
        }
        let id = m
            .value
            .as_deref()
            .and_then(|v| Uuid::parse_str(v.trim()).ok())
            .ok_or_else(|| ScimError::invalid_value("Each member's value is a User id."))?;
        members.push(id);
    }
    Ok(GroupInput {
        display_name,
        external_id,
        members,
    })
}

/// The directory name for a group's `displayName`: lower-cased, runs of other characters
/// become `-`; at most 100 characters.
#[must_use]
pub fn derive_group_name(display_name: &str) -> String {
    let mut out = String::new();
    for c in display_name.trim().to_lowercase().chars() {
        match c {
            'a'..='z' | '0'..='9' | '.' | '_' => out.push(c),
            _ if !out.ends_with('-') => out.push('-'),
            _ => {}
        }
    }
    let out: String = out.trim_matches('-').chars().take(100).collect();
    if out.is_empty() {
        "group".to_owned()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names() {
        assert_eq!(
            derive_username("Ada.Lovelace@District.example"),
            "ada.lovelace.district.example"
        );
        assert_eq!(derive_username("_x y"), "u_x_y");
        assert_eq!(
            derive_group_name("Algebra II, period 3"),
            "algebra-ii-period-3"
        );
        assert_eq!(derive_group_name("!!!"), "group");
    }

    #[test]
    fn reads_lenient_users() {
        let u = user_from_scim(json!({
            "schemas": [USER_SCHEMA], "UserName": "ada@x.example", "Active": "False",
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "home@x.example", "type": "home"}, {"value": "ada@x.example", "type": "work"}],
            ENTERPRISE_USER_SCHEMA: {"department": "Math", "bogus": 1}
        }))
        .unwrap();
        assert_eq!(u.active, Some(false));
        assert_eq!(u.email.as_deref(), Some("ada@x.example"));
        assert_eq!(u.enterprise, json!({"department": "Math"}));
        assert!(user_from_scim(json!({"schemas": [USER_SCHEMA]})).is_err());
    }
}
