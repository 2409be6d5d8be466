//! Notification events: what happened, how serious it is, and what it happened to.
//!
//! An event is emitted by the subsystem that caused it as a `notify.dispatch` job enqueued in
//! the same transaction as the cause (see [`NOTIFY_DISPATCH_KIND`]), so a rolled-back change
//! notifies nobody and a committed one is never lost. The notification crate turns each event
//! into one delivery per subscribed channel.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The job kind that fans an event out to the channels subscribed to it.
pub const NOTIFY_DISPATCH_KIND: &str = "notify.dispatch";
/// The job kind that delivers one message to one channel.
pub const NOTIFY_DELIVER_KIND: &str = "notify.deliver";

/// How serious an event is; channels subscribe from a minimum severity up.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// The kinds of event a channel can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    /// A job used up its attempts or failed permanently (dead-letter).
    #[serde(rename = "job.discarded")]
    JobDiscarded,
    /// A target failed several checks or operations in a row.
    #[serde(rename = "target.failing")]
    TargetFailing,
    /// A failing target works again.
    #[serde(rename = "target.recovered")]
    TargetRecovered,
    #[serde(rename = "import.applied")]
    ImportApplied,
    /// An import plan was refused by one of its guards (e.g. too many deletions).
    #[serde(rename = "import.refused")]
    ImportRefused,
    #[serde(rename = "import.failed")]
    ImportFailed,
    /// A device's compliance changed to noncompliant.
    #[serde(rename = "device.noncompliant")]
    DeviceNoncompliant,
    /// Verifying the audit chain found a broken link.
    #[serde(rename = "audit.verification_failed")]
    AuditVerificationFailed,
    /// An operator account was locked after repeated failed logins.
    #[serde(rename = "operator.locked_out")]
    OperatorLockedOut,
    /// A TLS certificate expires within one of the warning thresholds.
    #[serde(rename = "certificate.expiring")]
    CertificateExpiring,
    /// The newest backup is older than allowed.
    #[serde(rename = "backup.stale")]
    BackupStale,
    /// A message an operator sent to check a channel.
    #[serde(rename = "test")]
    Test,
}

impl EventKind {
    /// Every kind, in documentation order.
    pub const ALL: [EventKind; 12] = [
        EventKind::JobDiscarded,
        EventKind::TargetFailing,
        EventKind::TargetRecovered,
        EventKind::ImportApplied,
        EventKind::ImportRefused,
        EventKind::ImportFailed,
        EventKind::DeviceNoncompliant,
        EventKind::AuditVerificationFailed,
        EventKind::OperatorLockedOut,
        EventKind::CertificateExpiring,
        EventKind::BackupStale,
        EventKind::Test,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::JobDiscarded => "job.discarded",
            EventKind::TargetFailing => "target.failing",
            EventKind::TargetRecovered => "target.recovered",
            EventKind::ImportApplied => "import.applied",
            EventKind::ImportRefused => "import.refused",
            EventKind::ImportFailed => "import.failed",
            EventKind::DeviceNoncompliant => "device.noncompliant",
            EventKind::AuditVerificationFailed => "audit.verification_failed",
            EventKind::OperatorLockedOut => "operator.locked_out",
            EventKind::CertificateExpiring => "certificate.expiring",
            EventKind::BackupStale => "backup.stale",
            EventKind::Test => "test",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How serious the event is unless its emitter says otherwise.
    #[must_use]
    pub fn default_severity(self) -> Severity {
        match self {
            EventKind::TargetRecovered | EventKind::ImportApplied | EventKind::Test => {
                Severity::Info
            }
            EventKind::JobDiscarded
            | EventKind::ImportRefused
            | EventKind::DeviceNoncompliant
            | EventKind::CertificateExpiring
            | EventKind::BackupStale
            | EventKind::OperatorLockedOut => Severity::Warning,
            EventKind::TargetFailing
            | EventKind::ImportFailed
            | EventKind::AuditVerificationFailed => Severity::Critical,
        }
    }

    /// The plural noun a digest counts, e.g. "12 jobs discarded".
    #[must_use]
    pub fn digest_phrase(self) -> &'static str {
        match self {
            EventKind::JobDiscarded => "jobs discarded",
            EventKind::TargetFailing => "targets failing",
            EventKind::TargetRecovered => "targets recovered",
            EventKind::ImportApplied => "imports applied",
            EventKind::ImportRefused => "imports refused",
            EventKind::ImportFailed => "imports failed",
            EventKind::DeviceNoncompliant => "devices became noncompliant",
            EventKind::AuditVerificationFailed => "audit verifications failed",
            EventKind::OperatorLockedOut => "operators locked out",
            EventKind::CertificateExpiring => "certificates nearing expiry",
            EventKind::BackupStale => "stale backups",
            EventKind::Test => "test messages",
        }
    }
}

/// One thing that happened, as its emitter describes it. Plain text only: channels escape it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationEvent {
    pub kind: EventKind,
    pub severity: Severity,
    /// What it happened to, stable across repeats (dedupe key), e.g. `job 42`, `target ldap`.
    pub subject: String,
    /// What happened, one sentence, e.g. `Job 42 (lifecycle.provision) was discarded`.
    pub summary: String,
    /// The error, if any (already free of secrets).
    #[serde(default)]
    pub error: Option<String>,
    /// The console page about the subject, relative to `public_url` (e.g. `/jobs/42`).
    #[serde(default)]
    pub link_path: Option<String>,
    pub occurred_at: DateTime<Utc>,
}

impl NotificationEvent {
    /// An event of `kind` at its default severity, now.
    #[must_use]
    pub fn new(kind: EventKind, subject: impl Into<String>, summary: impl Into<String>) -> Self {
        Self {
            kind,
            severity: kind.default_severity(),
            subject: subject.into(),
            summary: summary.into(),
            error: None,
            link_path: None,
            occurred_at: Utc::now(),
        }
    }

    #[must_use]
    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    #[must_use]
    pub fn with_link(mut self, path: impl Into<String>) -> Self {
        self.link_path = Some(path.into());
        self
    }

    /// The `notify.dispatch` job that delivers this event, to enqueue in the cause's
    /// transaction.
    #[must_use]
    pub fn dispatch_job(&self) -> crate::NewJob {
        crate::NewJob::new(
            NOTIFY_DISPATCH_KIND,
            serde_json::to_value(self).unwrap_or_default(),
        )
    }
}

/// What one channel subscribes to: the event kinds (all when `None`) from a minimum severity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub events: Option<Vec<EventKind>>,
    pub min_severity: Severity,
}

impl Subscription {
    #[must_use]
    pub fn wants(&self, e: &NotificationEvent) -> bool {
        e.severity >= self.min_severity && self.events.as_ref().is_none_or(|k| k.contains(&e.kind))
    }
}

/// What the configured channels subscribe to, for the emitters: an event is enqueued only
/// when some channel wants it, so where no channel is configured (or none takes the kind)
/// nothing is queued at all. Empty by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions(Vec<Subscription>);

impl Subscriptions {
    #[must_use]
    pub fn new(subscriptions: Vec<Subscription>) -> Self {
        Self(subscriptions)
    }

    /// No channel is configured.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Some channel wants `e`.
    #[must_use]
    pub fn wants(&self, e: &NotificationEvent) -> bool {
        self.0.iter().any(|s| s.wants(e))
    }

    /// The `notify.dispatch` job for `e` when some channel wants it.
    #[must_use]
    pub fn dispatch_job(&self, e: &NotificationEvent) -> Option<crate::NewJob> {
        self.wants(e).then(|| e.dispatch_job())
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Queued or being retried.
    Pending,
    Sent,
    /// Failed for good (a 4xx other than 429, or attempts spent).
    Failed,
    /// The same event about the same subject was delivered within the dedupe window.
    Deduplicated,
    /// Held for the digest of its kind (many fired at once).
    Held,
    /// Included in a digest message.
    Digested,
}

impl DeliveryState {
    /// Every state, in the order a delivery may pass through them.
    pub const ALL: [DeliveryState; 6] = [
        DeliveryState::Pending,
        DeliveryState::Sent,
        DeliveryState::Failed,
        DeliveryState::Deduplicated,
        DeliveryState::Held,
        DeliveryState::Digested,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Deduplicated => "deduplicated",
            DeliveryState::Held => "held",
            DeliveryState::Digested => "digested",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event (or digest) for one channel, as the deliveries log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationDelivery {
    pub id: i64,
    pub channel: String,
    /// The event kind, e.g. `job.discarded`.
    pub event: String,
    pub severity: String,
    pub subject: String,
    pub state: DeliveryState,
    /// The message's title (what happened, to what).
    pub title: String,
    /// Delivery attempts made so far.
    pub attempts: i32,
    /// The last delivery error (never carries a secret).
    pub error: Option<String>,
    /// The job delivering it, if any.
    pub job_id: Option<i64>,
    /// The digest delivery this one was folded into.
    pub digest_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// A delivery to record.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub channel: String,
    pub event: NotificationEvent,
    pub state: DeliveryState,
    pub title: String,
    /// The job that delivers it, when that job already exists (a digest).
    pub job_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_want_an_event_when_a_channel_takes_its_kind_and_severity() {
        let e = NotificationEvent::new(EventKind::OperatorLockedOut, "login x", "locked");
        assert!(!Subscriptions::default().wants(&e));
        assert!(Subscriptions::default().dispatch_job(&e).is_none());
        let only = |events: Option<Vec<EventKind>>, min_severity| {
            Subscriptions::new(vec![Subscription {
                events,
                min_severity,
            }])
        };
        assert!(only(None, Severity::Info).wants(&e));
        assert!(only(None, Severity::Warning).wants(&e));
        assert!(!only(None, Severity::Critical).wants(&e));
        assert!(!only(Some(vec![EventKind::JobDiscarded]), Severity::Info).wants(&e));
        let job = only(Some(vec![EventKind::OperatorLockedOut]), Severity::Info)
            .dispatch_job(&e)
            .unwrap();
        assert_eq!(job.kind, NOTIFY_DISPATCH_KIND);
    }
}
