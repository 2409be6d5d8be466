//! The notification deliveries log (migration 0014): each event for each channel, with what
//! became of it. Dedupe and digests are decided by reading it.

use async_trait::async_trait;
use cc_domain::{DeliveryState, NewDelivery, NewJob, NotificationDelivery, NotificationEvent};
use chrono::{DateTime, Utc};

use crate::Result;

/// A page of the deliveries log, newest first.
#[derive(Debug, Clone, Default)]
pub struct DeliveryQuery {
    pub channel: Option<String>,
    /// Only deliveries in this state (`sent`, `failed`, …).
    pub state: Option<DeliveryState>,
    /// Only deliveries of this event kind (`job.discarded`, …).
    pub event: Option<String>,
    /// Only deliveries with an id below this (the previous page's last id).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    pub id: i64,
    pub state: DeliveryState,
    pub error: Option<String>,
    pub now: DateTime<Utc>,
}

/// How an event is recorded for one channel (see [`NotificationStore::dispatch`]).
#[derive(Debug, Clone)]
pub struct DispatchRule {
    /// The same event about the same subject since this is deduplicated.
    pub dedupe_since: DateTime<Utc>,
    /// When the channel got `digest_threshold` events of this kind since this, the event is
    /// held and `digest_job` enqueued (it has a unique key: one digest per window).
    pub digest_since: DateTime<Utc>,
    pub digest_threshold: i64,
    pub deliver_job: NewJob,
    pub digest_job: NewJob,
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Records a delivery and, when `job` is given, enqueues it in the same transaction with
    /// the new delivery's id added to its args as `delivery_id` (a crash between the two can
    /// leave neither a row without its job nor a job without its row). Returns the id.
    async fn record_delivery(&self, d: &NewDelivery, job: Option<NewJob>) -> Result<i64>;

    /// Records `d` for its channel as deduplicated, held (enqueueing the digest job) or
    /// pending (enqueueing its deliver job with `delivery_id`), deciding and writing in one
    /// transaction serialized per channel, so concurrent dispatches cannot both send.
    async fn dispatch(&self, d: &NewDelivery, rule: DispatchRule) -> Result<DeliveryState>;

    /// The delivery recorded for job `job_id`, if any.
    async fn delivery_for_job(&self, job_id: i64) -> Result<Option<i64>>;

    /// Marks the held `event`s of `channel` as folded into digest `digest_id` and returns them
    /// with those folded into it before (so a retried digest sends the same events).
    async fn take_held(
        &self,
        channel: &str,
        event: &str,
        digest_id: i64,
    ) -> Result<Vec<NotificationEvent>>;

    /// Counts an attempt and records its outcome.
    async fn update_delivery(&self, u: &DeliveryUpdate) -> Result<()>;

    async fn get_delivery(
        &self,
        id: i64,
    ) -> Result<Option<(NotificationDelivery, NotificationEvent)>>;

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<NotificationDelivery>>;

    /// The position of feed `name` in the event log (`job_events.seq`), created at `start`
    /// when the feed has none yet (migration 0016).
    async fn feed_position(&self, name: &str, start: i64) -> Result<i64>;

    /// Moves feed `name` from `from` to `to` and enqueues `jobs`, in one transaction; `false`
    /// (and nothing written) when another process moved it first.
    async fn advance_feed(&self, name: &str, from: i64, to: i64, jobs: &[NewJob]) -> Result<bool>;

    /// Records a check of a backup directory (migration 0021). When the check finds the
    /// backups stale (`problem` set) and the directory was not stale already, it begins a
    /// stale period: `stale_since` is set and `job` (the notification) enqueued, in the same
    /// transaction, and the answer is `true`. Concurrent checks begin one period between
    /// them. A fresh check ends the period.
    async fn record_backup_check(
        &self,
        check: &crate::backups::BackupCheck,
        job: Option<NewJob>,
    ) -> Result<bool>;

    /// The most recent check of any backup directory.
    async fn latest_backup_check(&self) -> Result<Option<crate::backups::BackupCheck>>;
}
