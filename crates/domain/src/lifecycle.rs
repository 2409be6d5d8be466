//! Lifecycle operations on a person: which ones the user state machine allows, what they do
//! to the user's status, the job that carries them to the targets, and the per-target links.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{NewJob, User, UserStatus};

/// A lifecycle operation. JSON and job kinds use snake_case (`reset_password`,
/// `lifecycle.reset_password`); URLs use kebab-case (`/actions/reset-password`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleOperation {
    Provision,
    Update,
    Suspend,
    ResetPassword,
    Deprovision,
}

/// Why an operation cannot run on a user in its current state (answered with 409).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a {} user: {reason}", operation.verb(), status.as_str())]
pub struct InvalidOperation {
    pub operation: LifecycleOperation,
    pub status: UserStatus,
    pub reason: &'static str,
}

impl LifecycleOperation {
    pub const ALL: [LifecycleOperation; 5] = [
        LifecycleOperation::Provision,
        LifecycleOperation::Update,
        LifecycleOperation::Suspend,
        LifecycleOperation::ResetPassword,
        LifecycleOperation::Deprovision,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleOperation::Provision => "provision",
            LifecycleOperation::Update => "update",
            LifecycleOperation::Suspend => "suspend",
            LifecycleOperation::ResetPassword => "reset_password",
            LifecycleOperation::Deprovision => "deprovision",
        }
    }

    /// The kebab-case name used in URLs.
    #[must_use]
    pub fn slug(self) -> &'static str {
        match self {
            LifecycleOperation::ResetPassword => "reset-password",
            other => other.as_str(),
        }
    }

    /// Whether this operation may carry a password to set.
    #[must_use]
    pub fn takes_password(self) -> bool {
        matches!(
            self,
            LifecycleOperation::Provision | LifecycleOperation::ResetPassword
        )
    }

    fn verb(self) -> &'static str {
        match self {
            LifecycleOperation::ResetPassword => "reset the password of",
            other => other.as_str(),
        }
    }

    /// The job kind that carries this operation: `lifecycle.provision`, ….
    #[must_use]
    pub fn job_kind(self) -> &'static str {
        match self {
            LifecycleOperation::Provision => "lifecycle.provision",
            LifecycleOperation::Update => "lifecycle.update",
            LifecycleOperation::Suspend => "lifecycle.suspend",
            LifecycleOperation::ResetPassword => "lifecycle.reset_password",
            LifecycleOperation::Deprovision => "lifecycle.deprovision",
        }
    }

    /// The status a user in `from` has after this operation is requested, or why the state
    /// machine (`pending → active ⇄ suspended`, any → `deprovisioned`) forbids it. Re-running
    /// an operation that is already done is allowed: it converges.
    ///
    /// # Errors
    /// The operation makes no sense for a user in `from`.
    pub fn transition(self, from: UserStatus) -> Result<UserStatus, InvalidOperation> {
        use LifecycleOperation as Op;
        use UserStatus::{Active, Deprovisioned, Pending, Suspended};
        let refuse = |reason| {
            Err(InvalidOperation {
                operation: self,
                status: from,
                reason,
            })
        };
        match (self, from) {
            (Op::Deprovision, _) => Ok(Deprovisioned),
            (_, Deprovisioned) => {
                refuse("deprovisioning is final; create the person again instead")
            }
            (Op::Provision, Pending | Active | Suspended) => Ok(Active),
            (Op::Update | Op::ResetPassword, Active | Suspended) => Ok(from),
            (Op::Update | Op::ResetPassword, _) => {
                refuse("the accounts do not exist yet; provision first")
            }
            (Op::Suspend, Active | Suspended) => Ok(Suspended),
            (Op::Suspend, _) => refuse("the accounts do not exist yet; provision first"),
        }
    }

    /// Whether a job of this operation still reflects what the directory wants for a user now
    /// in `current`. A job overtaken by a later change (a provision queued before a
    /// deprovision, a suspend before a reactivation) is skipped, never applied out of order.
    #[must_use]
    pub fn still_wanted(self, current: UserStatus) -> bool {
        use UserStatus::{Active, Deprovisioned, Suspended};
        match self {
            // A suspended person still has accounts (disabled ones): a provision overtaken by a
            // suspend must still create them, and the suspend queued behind it disables them.
            // Skipping it would leave a person shown `suspended` with no account anywhere.
            LifecycleOperation::Provision => matches!(current, Active | Suspended),
            LifecycleOperation::Update | LifecycleOperation::ResetPassword => {
                matches!(current, Active | Suspended)
            }
            LifecycleOperation::Suspend => current == Suspended,
            LifecycleOperation::Deprovision => current == Deprovisioned,
        }
    }

    /// The operation a directory edit from `before` to `after` asks of the targets, if any: a
    /// status change maps to provision (activation, reactivation), suspend or deprovision;
    /// another change to an account attribute of a provisioned user maps to update.
    #[must_use]
    pub fn for_change(before: &User, after: &User) -> Option<LifecycleOperation> {
        use UserStatus::{Active, Deprovisioned, Pending, Suspended};
        match (before.status, after.status) {
            (Pending | Suspended, Active) => Some(LifecycleOperation::Provision),
            (Active, Suspended) => Some(LifecycleOperation::Suspend),
            (from, Deprovisioned) if from != Deprovisioned => Some(LifecycleOperation::Deprovision),
            (Active | Suspended, Active | Suspended) if account_fields_differ(before, after) => {
                Some(LifecycleOperation::Update)
            }
            _ => None,
        }
    }
}

/// Whether anything a target keeps about the person changed.
fn account_fields_differ(a: &User, b: &User) -> bool {
    a.external_id != b.external_id
        || a.username != b.username
        || a.given_name != b.given_name
        || a.family_name != b.family_name
        || a.email != b.email
        || a.role != b.role
        || a.grade != b.grade
        || a.school != b.school
        || a.groups != b.groups
}

impl std::fmt::Display for LifecycleOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LifecycleOperation {
    type Err = String;

    /// Accepts the JSON name (`reset_password`) and the URL slug (`reset-password`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LifecycleOperation::ALL
            .into_iter()
            .find(|op| op.as_str() == s || op.slug() == s)
            .ok_or_else(|| {
                format!("unknown operation `{s}`; expected provision, update, suspend, reset-password or deprovision")
            })
    }
}

/// One lifecycle job an applied import enqueues, in the transaction that makes its change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleIntent {
    pub user_id: Uuid,
    pub operation: LifecycleOperation,
}

/// Attempts a lifecycle job gets: with the engine's default backoff (5 s doubling, capped at
/// 20 min) that rides out about an hour of a target being down.
pub const LIFECYCLE_MAX_ATTEMPTS: i32 = 10;

/// The arguments of a `lifecycle.*` job, as stored with the job.
///
/// The password, when there is one, is sealed (authenticated encryption under a key derived
/// from the access-token signing keys): stored job data never carries it in clear text. With
/// `auth.signing_keys` configured the database does not hold that key; without, the key is
/// generated and stored in the database, and sealing then only keeps the password out of job
/// listings, logs and exports of the jobs table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleJobArgs {
    pub user_id: Uuid,
    pub operation: LifecycleOperation,
    /// The user before the change that caused the job (lets a target find an account by its
    /// old name; for a user deleted since, the last known record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<User>,
    /// The sealed password to set (`reset_password`, or the initial one on `provision`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_password: Option<String>,
}

impl LifecycleJobArgs {
    #[must_use]
    pub fn new(user_id: Uuid, operation: LifecycleOperation) -> Self {
        Self {
            user_id,
            operation,
            previous: None,
            sealed_password: None,
        }
    }

    /// The job to enqueue (default queue, the lifecycle kind for the operation).
    #[must_use]
    pub fn into_job(self) -> NewJob {
        let kind = self.operation.job_kind();
        let args = serde_json::to_value(&self).unwrap_or(Value::Null);
        NewJob {
            max_attempts: LIFECYCLE_MAX_ATTEMPTS,
            ..NewJob::new(kind, args)
        }
    }
}

/// How the last operation on a target went for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// The last operation succeeded; the account matches the directory.
    Ok,
    /// The last operation failed (see `last_error`); it is retried with the job.
    Failed,
}

impl LinkStatus {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LinkStatus::Ok => "ok",
            LinkStatus::Failed => "failed",
        }
    }
}

impl std::str::FromStr for LinkStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ok" => Ok(LinkStatus::Ok),
            "failed" => Ok(LinkStatus::Failed),
            other => Err(format!("unknown link status `{other}`")),
        }
    }
}

/// Whether the targets match what the directory says about a person, derived from their
/// target links and lifecycle jobs. The person's `status` stays the operator's intent; this
/// says whether the targets have caught up with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// No lifecycle job is unfinished and the last operation on every linked target succeeded.
    InSync,
    /// A lifecycle job for the person is queued, running or waiting to retry, and no target
    /// has failed.
    Pending,
    /// The last operation on at least one target failed (the links name the target and the
    /// error); a job may still be retrying it.
    Failed,
}

impl SyncState {
    pub const ALL: [SyncState; 3] = [SyncState::InSync, SyncState::Pending, SyncState::Failed];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::InSync => "in_sync",
            SyncState::Pending => "pending",
            SyncState::Failed => "failed",
        }
    }
}

/// A person's sync state with the per-target detail it is derived from; part of the person as
/// `GET /api/v1/users` and `GET /api/v1/users/{id}` return them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"state": "failed", "targets": [{"target": "district-openldap",
    "state": "failed", "error": "invalid credentials (code 49)", "updated_at": "2026-09-01T08:00:05Z"}]}))]
pub struct UserSync {
    pub state: SyncState,
    /// One entry per target the person has been acted on at, by target name.
    pub targets: Vec<TargetSync>,
}

/// How the last operation on one target went for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TargetSync {
    /// The target's configured name.
    pub target: String,
    /// `in_sync` when the last operation there succeeded, `failed` when it failed.
    pub state: SyncState,
    /// Why it failed (never contains secrets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl TargetSync {
    #[must_use]
    pub fn of(link: &TargetLinkRecord) -> Self {
        Self::from_parts(
            link.target.clone(),
            link.status,
            link.last_error.clone(),
            link.updated_at,
        )
    }

    /// The state of a link with this target, status, last error and time.
    #[must_use]
    pub fn from_parts(
        target: String,
        status: LinkStatus,
        last_error: Option<String>,
        updated_at: DateTime<Utc>,
    ) -> Self {
        let failed = status == LinkStatus::Failed;
        Self {
            target,
            state: if failed {
                SyncState::Failed
            } else {
                SyncState::InSync
            },
            error: if failed { last_error } else { None },
            updated_at,
        }
    }
}

/// Where a person's account on one target stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "user_id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f60", "target": "district-openldap",
    "account_id": "uid=ada.lovelace,ou=Grade 10,ou=lincoln-hs,ou=Students,dc=example,dc=org",
    "status": "ok", "last_operation": "update", "last_job_id": 42, "last_error": null,
    "synced_at": "2026-09-01T08:00:05Z", "updated_at": "2026-09-01T08:00:05Z"}))]
pub struct TargetLinkRecord {
    pub user_id: Uuid,
    /// The target's configured name.
    pub target: String,
    /// The account's identifier there (a DN, an id a script returned); null when there is no
    /// account (never created, or removed by deprovisioning).
    pub account_id: Option<String>,
    pub status: LinkStatus,
    pub last_operation: LifecycleOperation,
    /// The job that last acted on this target for the person.
    pub last_job_id: Option<i64>,
    /// Why the last operation failed (never contains secrets).
    pub last_error: Option<String>,
    /// When an operation last succeeded here.
    pub synced_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use LifecycleOperation as Op;
    use UserStatus::{Active, Deprovisioned, Pending, Suspended};

    #[test]
    fn state_machine() {
        assert_eq!(Op::Provision.transition(Pending), Ok(Active));
        assert_eq!(Op::Provision.transition(Suspended), Ok(Active));
        assert_eq!(Op::Provision.transition(Active), Ok(Active));
        assert!(Op::Provision.transition(Deprovisioned).is_err());
        assert_eq!(Op::Suspend.transition(Active), Ok(Suspended));
        assert_eq!(Op::Suspend.transition(Suspended), Ok(Suspended));
        let e = Op::Suspend.transition(Pending).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot suspend a pending user: the accounts do not exist yet; provision first"
        );
        assert!(Op::Update.transition(Pending).is_err());
        assert_eq!(Op::ResetPassword.transition(Suspended), Ok(Suspended));
        assert!(Op::ResetPassword
            .transition(Deprovisioned)
            .unwrap_err()
            .to_string()
            .starts_with("cannot reset the password of a deprovisioned user"));
        for s in UserStatus::ALL {
            assert_eq!(Op::Deprovision.transition(s), Ok(Deprovisioned));
            // Whatever a request leaves behind, the job it enqueues is still wanted.
            for op in Op::ALL {
                if let Ok(next) = op.transition(s) {
                    assert!(op.still_wanted(next), "{op} from {s:?}");
                    assert!(s.can_become(next));
                }
            }
        }
    }

    #[test]
    fn superseded_jobs() {
        assert!(!Op::Provision.still_wanted(Deprovisioned));
        assert!(!Op::Provision.still_wanted(Pending));
        assert!(Op::Provision.still_wanted(Suspended));
        assert!(!Op::Suspend.still_wanted(Active));
        assert!(!Op::Update.still_wanted(Pending));
    }

    #[test]
    fn names() {
        for op in Op::ALL {
            assert_eq!(op.as_str().parse::<Op>(), Ok(op));
            assert_eq!(op.slug().parse::<Op>(), Ok(op));
            assert_eq!(op.job_kind(), format!("lifecycle.{}", op.as_str()));
        }
        assert!("reboot".parse::<Op>().is_err());
    }
}
