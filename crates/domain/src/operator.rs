//! Operators: the people (and automation) who use Command Center, as distinct from the people
//! in the directory. Each has one role; roles are ordered, each including the ones below it.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::validation::{is_valid_username, ValidationErrors};

/// What an operator may do. `admin` ⊇ `operator` ⊇ `auditor`; `scim` (API tokens of SCIM
/// clients only) stands apart: it may call the SCIM endpoint and nothing else, and nothing
/// else may call the SCIM endpoint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OperatorRole {
    /// A SCIM client: the `/scim/v2` endpoint only. Only API tokens carry it.
    Scim,
    /// Read-only access to everything, including the audit log.
    Auditor,
    /// The directory, imports, lifecycle operations and jobs.
    Operator,
    /// Everything, including operators, API tokens and configuration.
    Admin,
}

impl OperatorRole {
    pub const ALL: [OperatorRole; 3] = [
        OperatorRole::Auditor,
        OperatorRole::Operator,
        OperatorRole::Admin,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::Auditor => "auditor",
            OperatorRole::Operator => "operator",
            OperatorRole::Admin => "admin",
            OperatorRole::Scim => "scim",
        }
    }

    /// Every role an API token may carry.
    pub const TOKEN_ROLES: [OperatorRole; 4] = [
        OperatorRole::Auditor,
        OperatorRole::Operator,
        OperatorRole::Admin,
        OperatorRole::Scim,
    ];

    /// Whether this role includes everything `required` may do. `scim` allows only `scim`
    /// and only `scim` allows it.
    #[must_use]
    pub fn allows(self, required: OperatorRole) -> bool {
        match (self, required) {
            (OperatorRole::Scim, r) | (r, OperatorRole::Scim) => r == self && r == required,
            _ => self >= required,
        }
    }

    /// Whether an operator of this role may create an API token with role `granted`: admins
    /// grant `scim`; otherwise no role above one's own.
    #[must_use]
    pub fn can_grant(self, granted: OperatorRole) -> bool {
        match granted {
            OperatorRole::Scim => self == OperatorRole::Admin,
            _ => self.allows(granted),
        }
    }
}

impl fmt::Display for OperatorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OperatorRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auditor" => Ok(OperatorRole::Auditor),
            "operator" => Ok(OperatorRole::Operator),
            "admin" => Ok(OperatorRole::Admin),
            "scim" => Ok(OperatorRole::Scim),
            other => Err(format!(
                "unknown operator role `{other}` (expected admin, operator or auditor)"
            )),
        }
    }
}

/// An operator account. The password hash never leaves the store in this type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Operator {
    pub id: Uuid,
    pub username: String,
    pub role: OperatorRole,
    /// A disabled operator cannot log in, and its sessions and API tokens stop working.
    pub disabled: bool,
    pub last_login_at: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/v1/operators`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    /// Lowercase letters, digits, `.`, `_`, `-`; up to 64 characters.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub username: String,
    /// At least 12 characters, not a common password, not containing the username.
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
    pub role: OperatorRole,
}

impl fmt::Debug for NewOperator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewOperator")
            .field("username", &self.username)
            .field("password", &"***")
            .field("role", &self.role)
            .finish()
    }
}

/// Checks an operator name.
///
/// # Errors
/// The name is not a valid username.
pub fn validate_operator_name(name: &str) -> Result<(), ValidationErrors> {
    if is_valid_username(name) {
        Ok(())
    } else {
        Err(ValidationErrors::single(
            "username",
            "must be 1-64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

/// `PATCH /api/v1/operators/{id}`: change the role or enable/disable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorPatch {
    pub role: Option<OperatorRole>,
    pub disabled: Option<bool>,
}

/// An API token for automation. The secret is shown once at creation and stored only hashed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub role: OperatorRole,
    /// The operator who created it; the token acts with at most that operator's current role,
    /// and stops working when that operator is disabled.
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl ApiToken {
    /// Usable now: neither revoked nor expired.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiToken {
    /// Unique among active tokens; recorded in the audit log as `token:<name>`.
    #[schema(pattern = "^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub name: String,
    /// Not above the creator's role.
    pub role: OperatorRole,
    /// Lifetime in days, 1-730 (default 90).
    #[schema(minimum = 1, maximum = 730)]
    pub expires_in_days: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::OperatorRole;

    #[test]
    fn roles_are_ordered() {
        assert!(OperatorRole::Admin.allows(OperatorRole::Operator));
        assert!(OperatorRole::Operator.allows(OperatorRole::Auditor));
        assert!(!OperatorRole::Auditor.allows(OperatorRole::Operator));
        assert!(!OperatorRole::Scim.allows(OperatorRole::Auditor));
        assert!(!OperatorRole::Admin.allows(OperatorRole::Scim));
        assert!(OperatorRole::Scim.allows(OperatorRole::Scim));
        assert!(OperatorRole::Admin.can_grant(OperatorRole::Scim));
        assert!(!OperatorRole::Operator.can_grant(OperatorRole::Scim));
        for r in OperatorRole::ALL {
            assert_eq!(r.as_str().parse::<OperatorRole>(), Ok(r));
        }
    }
}
