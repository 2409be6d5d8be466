//! The directory's people and groups in their SCIM form, and back.
//!
//! `userName` ↔ username (the userName as sent is kept; the username is derived from it),
//! `name` ↔ given and family name, the work (or primary) e-mail ↔ email, `externalId` ↔
//! external id, `userType` ↔ role, `active` ↔ status (`active: false` is `suspended`, a soft
//! delete), the enterprise extension kept as sent; `displayName` ↔ a group's display name,
//! `members` ↔ memberships.

use cc_domain::{Group, Role, User, UserSource, UserStatus};
use cc_scim::wire::{self, canonical_keys, MultiValue, ATTRIBUTE_NAMES};
use cc_scim::{
    ScimError, DIRECTORY_USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA,
};
use chrono::SecondsFormat;
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The longest `userName`, `displayName`, `externalId` or e-mail accepted.
const MAX_TEXT: usize = 256;
/// The most `emails` one person may have.
const MAX_EMAILS: usize = 16;

fn timestamp(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A weak entity tag for a version.
#[must_use]
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// A person in SCIM form.
///
/// What a SCIM client wrote that the directory has no column for is returned as written
/// (`userType`, the `emails` with their `type` and `primary`, the enterprise extension), as
/// long as it still agrees with the directory: a role or e-mail changed since by another source
/// shows the directory's value.
#[must_use]
pub fn user_to_scim(user: &User, source: Option<&UserSource>, base: &str) -> Value {
    let mut schemas = vec![USER_SCHEMA.to_owned()];
    let kept = source.map(|s| &s.scim_attributes);
    let enterprise = kept
        .and_then(|a| a.get(ENTERPRISE_USER_SCHEMA))
        .filter(|a| a.as_object().is_some_and(|o| !o.is_empty()))
        .cloned();
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
        },
        "displayName": user.display_name(),
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
    if let Some(t) = user_type(user, kept) {
        v["userType"] = json!(t);
    }
    if let Some(email) = &user.email {
        let sent = kept
            .and_then(|a| a.get("emails"))
            .filter(|e| {
                e.as_array().is_some_and(|list| {
                    list.iter().any(|m| {
                        m["value"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(email))
                    })
                })
            })
            .cloned();
        v["emails"] =
            sent.unwrap_or_else(|| json!([{"value": email, "type": "work", "primary": true}]));
    }
    if let Some(ext) = enterprise {
        v[ENTERPRISE_USER_SCHEMA] = ext;
    }
    let mut directory = Map::new();
    if let Some(g) = user.grade {
        directory.insert("grade".into(), json!(g));
    }
    if let Some(s) = &user.school {
        directory.insert("school".into(), json!(s));
    }
    if !directory.is_empty() {
        if let Some(schemas) = v["schemas"].as_array_mut() {
            schemas.push(json!(DIRECTORY_USER_SCHEMA));
        }
        v[DIRECTORY_USER_SCHEMA] = Value::Object(directory);
    }
    v
}

/// `userType`: as a SCIM client last wrote it (absent when it sent none), unless it names a
/// role the person no longer has; the role for people no SCIM client has written.
fn user_type(user: &User, kept: Option<&Value>) -> Option<String> {
    match kept.and_then(|a| a.get("userType")) {
        None => Some(role_name(user.role).to_owned()),
        Some(Value::String(t)) => match parse_role(t) {
            Some(r) if r != user.role => Some(role_name(user.role).to_owned()),
            _ => Some(t.clone()),
        },
        Some(_) => None,
    }
}

fn parse_role(t: &str) -> Option<Role> {
    t.trim().to_ascii_lowercase().parse::<Role>().ok()
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
    /// `userType` as sent.
    pub user_type: Option<String>,
    /// `emails` as sent (those with a value).
    pub emails: Vec<MultiValue>,
    pub active: Option<bool>,
    /// The enterprise extension, as a JSON object.
    pub enterprise: Value,
    /// `school` of the directory's extension: `None` when the body has no such extension
    /// (the school stays as it is), `Some(None)` to clear it.
    pub school: Option<Option<String>>,
}

impl UserInput {
    /// What the directory keeps of this body beyond its own columns (see [`user_to_scim`]):
    /// `userType` (null when not sent), `emails`, and the enterprise extension.
    #[must_use]
    pub fn kept_attributes(&self) -> Value {
        let mut kept = Map::new();
        kept.insert("userType".into(), json!(self.user_type));
        if !self.emails.is_empty() {
            kept.insert("emails".into(), json!(self.emails));
        }
        if self.enterprise.as_object().is_some_and(|o| !o.is_empty()) {
            kept.insert(ENTERPRISE_USER_SCHEMA.into(), self.enterprise.clone());
        }
        Value::Object(kept)
    }
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
    let school = body
        .as_object_mut()
        .and_then(|o| {
            let key = o
                .keys()
                .find(|k| k.eq_ignore_ascii_case(DIRECTORY_USER_SCHEMA))
                .cloned()?;
            o.remove(&key)
        })
        .map(|ext| read_school(&ext))
        .transpose()?;
    let u: wire::User = serde_json::from_value(body)
        .map_err(|e| ScimError::invalid_syntax(format!("The body is not a SCIM User: {e}")))?;
    let user_name = u.user_name.unwrap_or_default().trim().to_owned();
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
    let emails: Vec<MultiValue> = u
        .emails
        .into_iter()
        .filter_map(|e| {
            let value = non_empty(e.value)?;
            Some(MultiValue {
                value: Some(value),
                display: non_empty(e.display),
                kind: non_empty(e.kind),
                primary: e.primary,
                reference: None,
            })
        })
        .collect();
    if emails.len() > MAX_EMAILS {
        return Err(ScimError::invalid_value(format!(
            "At most {MAX_EMAILS} emails are kept."
        )));
    }
    for e in &emails {
        for part in [&e.value, &e.display, &e.kind].into_iter().flatten() {
            check_len("emails", part)?;
        }
    }
    let external_id = non_empty(u.external_id);
    if let Some(e) = &external_id {
        check_len("externalId", e)?;
    }
    let user_type = non_empty(u.user_type);
    if let Some(t) = &user_type {
        check_len("userType", t)?;
    }
    let role = user_type.as_deref().and_then(parse_role);
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
        user_type,
        emails,
        active: u.active,
        enterprise,
        school,
    })
}

/// `school` of the directory's extension (`grade` is read-only: the roster import sets it).
fn read_school(ext: &Value) -> Result<Option<String>, ScimError> {
    let school = ext
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("school")))
        .map(|(_, v)| v);
    match school {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = non_empty(Some(s.clone()));
            if let Some(s) = &s {
                check_len("school", s)?;
            }
            Ok(s)
        }
        Some(_) => Err(ScimError::invalid_value("school is a string.")),
    }
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

/// `manager` as kept: its `value` (the manager's id) and `$ref` when sent; `displayName` is
/// the service provider's to fill.
fn manager(m: Map<String, Value>) -> Value {
    match m.get("value").and_then(Value::as_str) {
        Some(id) if !id.trim().is_empty() => {
            let mut out = json!({ "value": id });
            if let Some(r) = m
                .get("$ref")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            {
                out["$ref"] = json!(r);
            }
            out
        }
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
