//! Command Center domain: the directory's types and the rules that govern them.
//!
//! Nothing here does IO or awaits. Validation turns loosely typed input (`New*`, `*Patch`) into
//! values the store can write without further checks ("parse, don't validate").

pub mod audit;
pub mod client;
pub mod device;
pub mod group;
pub mod import;
pub mod job;
pub mod lifecycle;
pub mod notice;
pub mod notification;
pub mod operator;
pub mod page;
pub mod patch;
pub mod policy;
pub mod schema;
pub mod source;
pub mod user;
pub mod validation;

pub use audit::{AuditEvent, AuditQuery, NewAuditEvent};
pub use device::{Compliance, Device, DevicePatch, DeviceQuery, NewDevice, Platform};
pub use group::{Group, GroupKind, GroupPatch, GroupQuery, NewGroup};
pub use import::{ImportRun, ImportStatus};
pub use job::{
    BatchProgress, Job, JobAttemptError, JobDetail, JobEvent, JobQuery, JobState, NewJob,
    WorkerInfo,
};
pub use lifecycle::{
    LifecycleIntent, LifecycleJobArgs, LifecycleOperation, LinkStatus, SyncState, TargetLinkRecord,
    TargetSync, UserSync,
};
pub use notice::{NewNotice, Notice, NoticeTopic, StreamEvent};
pub use notification::{
    DeliveryState, EventKind, NewDelivery, NotificationDelivery, NotificationEvent, Subscription,
    Subscriptions,
};
pub use operator::{ApiToken, NewApiToken, NewOperator, Operator, OperatorPatch, OperatorRole};
pub use page::{Cursor, Page, SortDir};
pub use policy::{
    NewPolicy, Policy, PolicyCategory, PolicyPatch, PolicyQuery, PolicyRule, Severity,
};
pub use source::{FieldConflict, FieldOwners, RecordSource, UserSource};
pub use user::{NewUser, Role, User, UserPatch, UserQuery, UserStatus};
pub use validation::{FieldError, ValidationErrors};

/// Current time truncated to microseconds: the precision both backends store, so a value read
/// back equals the value written (the audit hash chain depends on that).
#[must_use]
pub fn now() -> chrono::DateTime<chrono::Utc> {
    truncate_micros(chrono::Utc::now())
}

/// Truncates a timestamp to whole microseconds.
#[must_use]
pub fn truncate_micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

/// A new time-ordered identifier (UUIDv7), so ids sort by creation time.
#[must_use]
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}

/// Who did something, and under which request: stamped on every audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `operator:<name>`, `token:<name>`, or `system:<component>`.
    pub name: String,
    pub request_id: Option<String>,
}

impl Actor {
    #[must_use]
    pub fn system(component: &str) -> Self {
        Self {
            name: format!("system:{component}"),
            request_id: None,
        }
    }
}
