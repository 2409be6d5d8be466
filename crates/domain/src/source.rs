//! Where a person's record came from, and which source owns which of its fields.
//!
//! A district feeds the directory from more than one place: the nightly roster import from
//! the student information system, an identity provider pushing over SCIM, and operators
//! through the API. Each record keeps the source that created it; configuration names, for
//! each field, the one source allowed to change it. A change to a field from any other source
//! is not applied: it is reported as a conflict (an audit event and a log line) instead, so
//! two feeds never overwrite each other back and forth.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::UserPatch;

/// A source of directory records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// A roster import.
    Roster,
    /// A SCIM client (an identity provider).
    Scim,
    /// An operator or automation through the API or the console.
    Api,
}

impl RecordSource {
    pub const ALL: [RecordSource; 3] = [Self::Roster, Self::Scim, Self::Api];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Roster => "roster",
            Self::Scim => "scim",
            Self::Api => "api",
        }
    }
}

impl fmt::Display for RecordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RecordSource {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown source `{s}` (expected roster, scim or api)"))
    }
}

/// What the directory keeps about a person's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSource {
    pub user_id: Uuid,
    pub source: RecordSource,
    /// The `userName` a SCIM client sent, as sent (the directory's username is derived from it).
    pub scim_user_name: Option<String>,
    /// Attributes a SCIM client sent that the directory has no column for, keyed as on the
    /// wire (`userType`, `emails`, the enterprise extension under its schema URI), as a JSON
    /// object.
    pub scim_attributes: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

/// The fields of a person that ownership can be declared for.
pub const OWNABLE_FIELDS: [&str; 10] = [
    "external_id",
    "username",
    "given_name",
    "family_name",
    "email",
    "role",
    "grade",
    "school",
    "status",
    "groups",
];

/// Which source owns which field (fields not named have no owner: any source may change them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldOwners(pub BTreeMap<String, RecordSource>);

/// A change a source tried to make to a field another source owns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    pub field: String,
    pub owner: RecordSource,
    pub attempted_by: RecordSource,
}

impl FieldOwners {
    /// Checks the field names.
    ///
    /// # Errors
    /// A field that is not one of [`OWNABLE_FIELDS`].
    pub fn validate(&self) -> Result<(), String> {
        for field in self.0.keys() {
            if !OWNABLE_FIELDS.contains(&field.as_str()) {
                return Err(format!(
                    "`{field}` cannot be owned (one of: {})",
                    OWNABLE_FIELDS.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The owner of a field, if one is configured.
    #[must_use]
    pub fn owner(&self, field: &str) -> Option<RecordSource> {
        self.0.get(field).copied()
    }

    /// Removes from `patch` every field that `source` may not change, returning the conflicts.
    /// Only fields the patch would actually change (compared with `current`) conflict.
    pub fn restrict(
        &self,
        source: RecordSource,
        current: &crate::User,
        patch: &mut UserPatch,
    ) -> Vec<FieldConflict> {
        let mut out = Vec::new();
        let mut check = |field: &str, changes: bool| -> bool {
            match self.owner(field) {
                Some(owner) if owner != source && changes => {
                    out.push(FieldConflict {
                        field: field.to_owned(),
                        owner,
                        attempted_by: source,
                    });
                    false
                }
                _ => true,
            }
        };
        macro_rules! guard {
            ($field:ident, $current:expr) => {
                if let Some(v) = &patch.$field {
                    if !check(stringify!($field), *v != $current) {
                        patch.$field = None;
                    }
                }
            };
        }
        guard!(external_id, current.external_id);
        guard!(username, current.username);
        guard!(given_name, current.given_name);
        guard!(family_name, current.family_name);
        guard!(email, current.email);
        guard!(role, current.role);
        guard!(grade, current.grade);
        guard!(school, current.school);
        guard!(status, current.status);
        guard!(groups, current.groups);
        out
    }

    /// [`FieldOwners::restrict`] for a whole next state (a roster import's): every field of
    /// `next` that `source` may not change is set back to its `current` value; returns the
    /// conflicts.
    pub fn restrict_user(
        &self,
        source: RecordSource,
        current: &crate::User,
        next: &mut crate::User,
    ) -> Vec<FieldConflict> {
        let mut out = Vec::new();
        macro_rules! guard {
            ($field:ident) => {
                if next.$field != current.$field {
                    match self.owner(stringify!($field)) {
                        Some(owner) if owner != source => {
                            out.push(FieldConflict {
                                field: stringify!($field).to_owned(),
                                owner,
                                attempted_by: source,
                            });
                            next.$field = current.$field.clone();
                        }
                        _ => {}
                    }
                }
            };
        }
        guard!(external_id);
        guard!(username);
        guard!(given_name);
        guard!(family_name);
        guard!(email);
        guard!(role);
        guard!(grade);
        guard!(school);
        guard!(status);
        guard!(groups);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewUser, Role};

    #[test]
    fn only_the_owner_changes_an_owned_field() {
        let user = NewUser {
            username: "ada".into(),
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            role: Role::Student,
            grade: Some(9),
            ..NewUser::default()
        }
        .into_user(Uuid::nil(), crate::now())
        .unwrap();
        let owners: FieldOwners =
            serde_json::from_value(serde_json::json!({"grade": "roster", "email": "scim"}))
                .unwrap();
        owners.validate().unwrap();
        let mut patch = UserPatch {
            grade: Some(Some(10)),
            email: Some(Some("ada@example.org".into())),
            given_name: Some("Augusta".into()),
            ..UserPatch::default()
        };
        let conflicts = owners.restrict(RecordSource::Scim, &user, &mut patch);
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].field, "grade");
        assert_eq!(patch.grade, None);
        assert!(patch.email.is_some() && patch.given_name.is_some());
        // An unchanged value is no conflict.
        let mut same = UserPatch {
            grade: Some(Some(9)),
            ..UserPatch::default()
        };
        assert!(owners
            .restrict(RecordSource::Scim, &user, &mut same)
            .is_empty());
        let bad: FieldOwners =
            serde_json::from_value(serde_json::json!({"password": "api"})).unwrap();
        assert!(bad.validate().is_err());
    }
}
