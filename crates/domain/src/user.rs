//! People in the directory (students and staff) and their lifecycle state machine.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::page::{Cursor, SortDir};
use crate::patch::double_option;
use crate::validation::{is_valid_email, is_valid_name, is_valid_username, ValidationErrors};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    Student,
    Teacher,
    Staff,
    Administrator,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Student,
        Role::Teacher,
        Role::Staff,
        Role::Administrator,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Student => "student",
            Role::Teacher => "teacher",
            Role::Staff => "staff",
            Role::Administrator => "administrator",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// Where a person's accounts stand. Transitions follow [`UserStatus::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    /// Known to the directory, accounts not yet provisioned.
    #[default]
    Pending,
    Active,
    Suspended,
    /// Terminal: accounts removed.
    Deprovisioned,
}

impl UserStatus {
    pub const ALL: [UserStatus; 4] = [
        UserStatus::Pending,
        UserStatus::Active,
        UserStatus::Suspended,
        UserStatus::Deprovisioned,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Pending => "pending",
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
            UserStatus::Deprovisioned => "deprovisioned",
        }
    }

    /// The lifecycle state machine: `pending → active ⇄ suspended`, and any state →
    /// `deprovisioned`. Staying in the same state is always allowed (idempotent re-runs).
    #[must_use]
    pub fn can_become(self, next: UserStatus) -> bool {
        use UserStatus::{Active, Deprovisioned, Pending, Suspended};
        self == next
            || matches!(
                (self, next),
                (Pending, Active) | (Active, Suspended) | (Suspended, Active) | (_, Deprovisioned)
            )
    }
}

impl std::str::FromStr for UserStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        UserStatus::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown status `{s}`"))
    }
}

/// Grades run from pre-K (-1) and kindergarten (0) to 12.
pub const MIN_GRADE: i16 = -1;
pub const MAX_GRADE: i16 = 12;

/// A person in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f60", "external_id": "SIS-100234", "username": "ada.lovelace",
    "given_name": "Ada", "family_name": "Lovelace", "email": "ada.lovelace@students.example.org",
    "role": "student", "grade": 10, "school": "lincoln-hs", "status": "active", "groups": ["lincoln-hs", "algebra-2-p3"],
    "version": 1, "created_at": "2026-09-01T08:00:00Z", "updated_at": "2026-09-01T08:00:00Z"}))]
pub struct User {
    pub id: Uuid,
    /// The identifier in the student information system.
    pub external_id: Option<String>,
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub role: Role,
    /// -1 = pre-K, 0 = kindergarten, 1–12; null for staff.
    pub grade: Option<i16>,
    /// The school's short name (usually the name of its `school` group).
    pub school: Option<String>,
    pub status: UserStatus,
    /// Names of the groups the person belongs to, sorted.
    pub groups: Vec<String>,
    /// Increases by one on every change; send it back as `If-Match` or `version` to update safely.
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether the targets have caught up with this record (see [`crate::SyncState`]): in
    /// the API's answers about people; derived, so never part of the stored record or audit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<crate::UserSync>,
}

/// The body of `POST /api/v1/users`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "external_id": "SIS-100234", "username": "ada.lovelace", "given_name": "Ada", "family_name": "Lovelace",
    "email": "ada.lovelace@students.example.org", "role": "student", "grade": 10, "school": "lincoln-hs",
    "groups": ["lincoln-hs"]}))]
pub struct NewUser {
    #[schema(schema_with = crate::schema::opt_text_128)]
    pub external_id: Option<String>,
    #[schema(schema_with = crate::schema::username)]
    pub username: String,
    #[schema(schema_with = crate::schema::text_100)]
    pub given_name: String,
    #[schema(schema_with = crate::schema::text_100)]
    pub family_name: String,
    #[schema(schema_with = crate::schema::opt_email)]
    pub email: Option<String>,
    pub role: Role,
    /// -1 = pre-K, 0 = kindergarten, 1–12; students only (null for staff).
    #[schema(minimum = -1, maximum = 12)]
    pub grade: Option<i16>,
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub school: Option<String>,
    /// Defaults to `pending`.
    pub status: Option<UserStatus>,
    #[serde(default)]
    #[schema(schema_with = crate::schema::group_names_new)]
    pub groups: Vec<String>,
}

/// The body of `PATCH /api/v1/users/{id}`: absent fields stay, `null` clears a nullable field.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"grade": 11, "school": "lincoln-hs", "version": 3}))]
pub struct UserPatch {
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_128)]
    pub external_id: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::username_or_null)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::text_100_or_null)]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::text_100_or_null)]
    pub family_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_email)]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<i16>, minimum = -1, maximum = 12)]
    pub grade: Option<Option<i16>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_100)]
    pub school: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<UserStatus>,
    /// Replaces the person's group memberships.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::group_names_patch)]
    pub groups: Option<Vec<String>>,
    /// The version the change was based on; a stale one answers 412.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

/// A proposed status change that the state machine forbids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {} user cannot become {}", from.as_str(), to.as_str())]
pub struct InvalidTransition {
    pub from: UserStatus,
    pub to: UserStatus,
}

impl NewUser {
    /// Validates the input and builds the user it describes.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn into_user(self, id: Uuid, now: DateTime<Utc>) -> Result<User, ValidationErrors> {
        let mut user = User {
            id,
            external_id: self.external_id,
            username: self.username,
            given_name: self.given_name,
            family_name: self.family_name,
            email: self.email,
            role: self.role,
            grade: self.grade,
            school: self.school,
            status: self.status.unwrap_or_default(),
            groups: self.groups,
            version: 1,
            created_at: now,
            updated_at: now,
            sync: None,
        };
        normalize(&mut user)?;
        Ok(user)
    }
}

impl User {
    /// Applies a patch, validating the result as a whole (e.g. role and grade together).
    ///
    /// # Errors
    /// `Err(Ok(errors))` for invalid fields, `Err(Err(transition))` for a forbidden status change.
    pub fn patched(&self, p: UserPatch, now: DateTime<Utc>) -> Result<User, PatchError> {
        let mut u = self.clone();
        if let Some(v) = p.external_id {
            u.external_id = v;
        }
        if let Some(v) = p.username {
            u.username = v;
        }
        if let Some(v) = p.given_name {
            u.given_name = v;
        }
        if let Some(v) = p.family_name {
            u.family_name = v;
        }
        if let Some(v) = p.email {
            u.email = v;
        }
        if let Some(v) = p.role {
            u.role = v;
        }
        if let Some(v) = p.grade {
            u.grade = v;
        }
        if let Some(v) = p.school {
            u.school = v;
        }
        if let Some(v) = p.groups {
            u.groups = v;
        }
        if let Some(v) = p.status {
            if !self.status.can_become(v) {
                return Err(PatchError::Transition(InvalidTransition {
                    from: self.status,
                    to: v,
                }));
            }
            u.status = v;
        }
        normalize(&mut u).map_err(PatchError::Invalid)?;
        if u != *self {
            u.version = self.version + 1;
            u.updated_at = now;
        }
        Ok(u)
    }

    /// Display name, "Given Family".
    #[must_use]
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

/// Why a patch could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Transition(InvalidTransition),
}

fn normalize(u: &mut User) -> Result<(), ValidationErrors> {
    let mut e = ValidationErrors::default();
    u.external_id = e.opt_text("external_id", u.external_id.as_deref(), 128);
    u.username = u.username.trim().to_ascii_lowercase();
    if !is_valid_username(&u.username) {
        e.add(
            "username",
            "must be 1–64 characters: lower-case letters, digits, '.', '_' or '-', starting with a letter or digit",
        );
    }
    u.given_name = e.text("given_name", &u.given_name, 100);
    u.family_name = e.text("family_name", &u.family_name, 100);
    u.email = u
        .email
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_lowercase);
    if let Some(email) = &u.email {
        if !is_valid_email(email) {
            e.add("email", "must be a valid e-mail address");
        }
    }
    match (u.role, u.grade) {
        (Role::Student, None) => e.add(
            "grade",
            "is required for students (-1 = pre-K, 0 = kindergarten, 1–12)",
        ),
        (Role::Student, Some(g)) if !(MIN_GRADE..=MAX_GRADE).contains(&g) => {
            e.add("grade", "must be between -1 (pre-K) and 12");
        }
        (Role::Student, Some(_)) => {}
        (_, Some(_)) => e.add("grade", "applies only to students; send null for staff"),
        (_, None) => {}
    }
    u.school = e.opt_text("school", u.school.as_deref(), 100);
    if u.groups.len() > 200 {
        e.add("groups", "at most 200 groups per person");
    }
    for g in &mut u.groups {
        *g = g.trim().to_owned();
        if !is_valid_name(g) {
            e.add("groups", format!("`{g}` is not a valid group name"));
        }
    }
    u.groups.sort();
    u.groups.dedup();
    e.into_result(())
}

/// Filters, sort and page position for listing users.
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    pub status: Option<UserStatus>,
    pub role: Option<Role>,
    pub grade: Option<i16>,
    pub school: Option<String>,
    /// A group name.
    pub group: Option<String>,
    /// Free text matched against usernames, names, e-mail and external id.
    pub q: Option<String>,
    /// Only people in this sync state (see [`crate::SyncState`]).
    pub sync: Option<crate::SyncState>,
    pub sort: UserSort,
    pub dir: SortDir,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// Fields users can be sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UserSort {
    #[default]
    Username,
    FamilyName,
    CreatedAt,
}

impl UserSort {
    pub const NAMES: [&'static str; 3] = ["username", "family_name", "created_at"];

    #[must_use]
    pub fn from_name(s: &str) -> Self {
        match s {
            "family_name" => Self::FamilyName,
            "created_at" => Self::CreatedAt,
            _ => Self::Username,
        }
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::FamilyName => "family_name",
            Self::CreatedAt => "created_at",
        }
    }

    /// The sort value of a user, as stored in a cursor.
    #[must_use]
    pub fn value_of(self, u: &User) -> String {
        match self {
            Self::Username => u.username.clone(),
            Self::FamilyName => u.family_name.clone(),
            Self::CreatedAt => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn student() -> NewUser {
        NewUser {
            username: " Ada.Lovelace ".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            email: Some("ADA@school.example.org".into()),
            role: Role::Student,
            grade: Some(10),
            groups: vec!["b".into(), "a".into(), "a".into()],
            ..NewUser::default()
        }
    }

    #[test]
    fn normalizes_on_create() {
        let u = student().into_user(Uuid::nil(), crate::now()).unwrap();
        assert_eq!(u.username, "ada.lovelace");
        assert_eq!(u.email.as_deref(), Some("ada@school.example.org"));
        assert_eq!(u.groups, ["a", "b"]);
        assert_eq!(u.status, UserStatus::Pending);
        assert_eq!(u.version, 1);
    }

    #[test]
    fn reports_every_bad_field() {
        let bad = NewUser {
            username: "".into(),
            given_name: " ".into(),
            grade: Some(13),
            ..student()
        };
        let e = bad.into_user(Uuid::nil(), crate::now()).unwrap_err();
        let fields: Vec<_> = e.0.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["username", "given_name", "grade"]);
    }

    #[test]
    fn grade_only_for_students() {
        let t = NewUser {
            role: Role::Teacher,
            ..student()
        };
        assert_eq!(
            t.into_user(Uuid::nil(), crate::now()).unwrap_err().0[0].field,
            "grade"
        );
        let s = NewUser {
            grade: None,
            ..student()
        };
        assert!(s.into_user(Uuid::nil(), crate::now()).is_err());
    }

    #[test]
    fn state_machine() {
        use UserStatus::*;
        assert!(Pending.can_become(Active));
        assert!(Active.can_become(Suspended));
        assert!(Suspended.can_become(Active));
        assert!(Suspended.can_become(Deprovisioned));
        assert!(!Pending.can_become(Suspended));
        assert!(!Deprovisioned.can_become(Active));
        assert!(!Active.can_become(Pending));
    }

    #[test]
    fn patch_bumps_version_only_on_change() {
        let u = student().into_user(Uuid::nil(), crate::now()).unwrap();
        let same = u
            .patched(
                UserPatch {
                    grade: Some(Some(10)),
                    ..UserPatch::default()
                },
                crate::now(),
            )
            .unwrap();
        assert_eq!(same.version, 1);
        let moved = u
            .patched(
                UserPatch {
                    grade: Some(Some(11)),
                    ..UserPatch::default()
                },
                crate::now(),
            )
            .unwrap();
        assert_eq!((moved.version, moved.grade), (2, Some(11)));
        let err = u.patched(
            UserPatch {
                status: Some(UserStatus::Suspended),
                ..UserPatch::default()
            },
            crate::now(),
        );
        assert!(matches!(err, Err(PatchError::Transition(_))));
        let cleared = u.patched(
            UserPatch {
                role: Some(Role::Staff),
                grade: Some(None),
                ..UserPatch::default()
            },
            crate::now(),
        );
        assert_eq!(cleared.unwrap().grade, None);
    }

    #[test]
    fn patch_distinguishes_null_from_absent() {
        let p: UserPatch = serde_json::from_str(r#"{"email": null}"#).unwrap();
        assert_eq!(p.email, Some(None));
        let p: UserPatch = serde_json::from_str("{}").unwrap();
        assert_eq!(p.email, None);
        assert!(serde_json::from_str::<UserPatch>(r#"{"passwrd": "x"}"#).is_err());
    }
}
