//! What a lifecycle job asks a target to do: the operation and everything the target needs to
//! know about the person.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use cc_domain::User;

/// A lifecycle operation: the directory's own type (`cc_domain::LifecycleOperation`). JSON uses
/// snake_case (`reset_password`); URLs use kebab-case (`/users/{id}/actions/reset-password`),
/// see [`Operation::slug`].
pub use cc_domain::LifecycleOperation as Operation;

/// What Command Center knows of a person's account on one target, from the last time an
/// operation succeeded there: the engine stores it per (user, target) and passes it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetLink {
    /// The account's identifier on the target: a DN for LDAP, the provider's `id` for SCIM,
    /// whatever a script or webhook receiver returned otherwise.
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
