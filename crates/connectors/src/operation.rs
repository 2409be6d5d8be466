//! What a lifecycle job asks a target to do: the operation and everything the target needs to
//! know about the person.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use cc_domain::User;

/// A lifecycle operation. JSON uses snake_case (`reset_password`); URLs use kebab-case
/// (`/users/{id}/actions/reset-password`), see [`Operation::slug`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Create the account (or converge an existing one) and enable it.
    Provision,
    /// Bring the account in line with the user record: attributes, location, groups, and
    /// enabled/disabled according to the user's status.
    Update,
    /// Disable the account, keeping it.
    Suspend,
    /// Set a new password on an existing account.
    ResetPassword,
    /// Remove the account (or park it, depending on the target's configuration).
    Deprovision,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::Provision,
        Operation::Update,
        Operation::Suspend,
        Operation::ResetPassword,
        Operation::Deprovision,
    ];

    /// The snake_case name used in JSON and configuration.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Provision => "provision",
            Operation::Update => "update",
            Operation::Suspend => "suspend",
            Operation::ResetPassword => "reset_password",
            Operation::Deprovision => "deprovision",
        }
    }

    /// The kebab-case name used in URLs.
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            Operation::ResetPassword => "reset-password",
            other => other.as_str(),
        }
    }

    /// Whether this operation may carry a password to set.
    #[must_use]
    pub fn takes_password(self) -> bool {
        matches!(self, Operation::Provision | Operation::ResetPassword)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Operation {
    type Err = String;

    /// Accepts both the JSON name (`reset_password`) and the URL slug (`reset-password`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Operation::ALL
            .into_iter()
            .find(|op| op.as_str() == s || op.slug() == s)
            .ok_or_else(|| format!("unknown operation `{s}`"))
    }
}

/// What Command Center knows of a person's account on one target, from the last time an
/// operation succeeded there: the engine stores it per (user, target) and passes it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetLink {
    /// The account's identifier on the target: a DN for LDAP, whatever a script or webhook
    /// receiver returned otherwise.
    pub account_id: String,
    /// When the link was last confirmed by a successful operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_at: Option<DateTime<Utc>>,
}

/// One request to a target. Built by the lifecycle engine from a job.
///
/// The password is never serialized (it is skipped by serde) and never printed (`Debug` shows
/// `[REDACTED]`): the engine must deliver it to the worker by its own means.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperationRequest {
    /// Stable across retries of the same job: targets use it as the idempotency key (the
    /// webhook's event id).
    pub id: Uuid,
    pub operation: Operation,
    /// The user as it is now (for `deprovision`, as it was last known).
    pub user: User,
    /// The user before this change, for updates and moves: lets a target find an account by
    /// its old username and see what changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<User>,
    /// What we know of the account on this target, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<TargetLink>,
    /// The new password (`reset_password`) or the initial one (`provision`), if any.
    #[serde(skip)]
    pub password: Option<SecretString>,
    /// When the change was requested (the webhook's `occurred_at`).
    pub requested_at: DateTime<Utc>,
}

impl OperationRequest {
    /// A request with a fresh id, no previous state, link or password.
    #[must_use]
    pub fn new(operation: Operation, user: User) -> Self {
        Self {
            id: Uuid::now_v7(),
            operation,
            user,
            previous: None,
            link: None,
            password: None,
            requested_at: Utc::now(),
        }
    }

    #[must_use]
    pub fn with_previous(mut self, previous: User) -> Self {
        self.previous = Some(previous);
        self
    }

    #[must_use]
    pub fn with_link(mut self, link: TargetLink) -> Self {
        self.link = Some(link);
        self
    }

    #[must_use]
    pub fn with_password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(SecretString::from(password.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_slugs() {
        assert_eq!(
            "reset-password".parse::<Operation>(),
            Ok(Operation::ResetPassword)
        );
        assert_eq!(
            "reset_password".parse::<Operation>(),
            Ok(Operation::ResetPassword)
        );
        assert!("reboot".parse::<Operation>().is_err());
        assert_eq!(
            serde_json::to_value(Operation::ResetPassword).unwrap(),
            "reset_password"
        );
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
    }
}
