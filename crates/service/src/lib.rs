//! Application services: every write to the directory goes through here, so that the change,
//! its validation and its audit event always commit together in one store transaction.

mod audit;
mod audit_verify;
pub mod auth;
pub mod cache;
mod devices;
mod error;
mod groups;
pub mod imports;
pub mod lifecycle;
pub mod overview;
mod policies;
pub mod scim_groups;
pub mod seed;
pub mod sources;
mod users;

use std::sync::Arc;

use cc_store::Store;

pub use audit::{verify_chain, verify_chain_notifying, VerifyReport};
pub use audit_verify::AuditVerifier;
pub use auth::{Auth, AuthError, AuthSettings, Principal};
pub use error::ServiceError;

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// The directory's write paths.
#[derive(Clone)]
pub struct Directory {
    store: Arc<dyn Store>,
    lifecycle: lifecycle::LifecyclePolicy,
    owners: cc_domain::FieldOwners,
    /// What the notification channels subscribe to: device changes enqueue the events
    /// some channel wants.
    notifications: cc_domain::Subscriptions,
}

impl Directory {
    /// A directory whose edits enqueue no lifecycle jobs (see [`Directory::with_lifecycle`]).
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            lifecycle: lifecycle::LifecyclePolicy::default(),
            owners: cc_domain::FieldOwners::default(),
            notifications: cc_domain::Subscriptions::default(),
        }
    }

    /// Which source owns which field of a person (see [`cc_domain::FieldOwners`]).
    #[must_use]
    pub fn with_field_owners(mut self, owners: cc_domain::FieldOwners) -> Self {
        self.owners = owners;
        self
    }

    /// Whether edits enqueue lifecycle jobs, and whether new people are provisioned.
    #[must_use]
    pub fn with_lifecycle(mut self, policy: lifecycle::LifecyclePolicy) -> Self {
        self.lifecycle = policy;
        self
    }

    /// Devices becoming noncompliant enqueue a `device.noncompliant` notification when a
    /// channel subscribes to it (none by default: without channels there is no one to tell).
    #[must_use]
    pub fn with_notifications(mut self, subscriptions: cc_domain::Subscriptions) -> Self {
        self.notifications = subscriptions;
        self
    }

    #[must_use]
    pub fn lifecycle_policy(&self) -> &lifecycle::LifecyclePolicy {
        &self.lifecycle
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
}

/// Checks an `If-Match` / `version` precondition against the current version.
fn check_version(expected: Option<i64>, current: i64) -> Result<()> {
    match expected {
        Some(v) if v != current => Err(ServiceError::PreconditionFailed { current }),
        _ => Ok(()),
    }
}
