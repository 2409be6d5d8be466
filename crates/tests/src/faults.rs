//! A store that fails or delays chosen calls, for fault-injection tests of the queue.
//!
//! [`FaultStore`] wraps any `Arc<dyn Store>` and passes every call through, except the job
//! calls a test has chosen ([`Call`]): those fail with [`StoreError::Unavailable`] (as a lost
//! connection does) or are delayed, until the test heals them or a deadline passes. It also
//! counts the calls it saw, so a test can wait for "the rescuer ran three more times" instead
//! of sleeping. Control it through the [`Faults`] handle, which stays with the test while the
//! store goes to a worker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cc_domain::{
    AuditEvent, AuditQuery, Device, DeviceQuery, Group, GroupQuery, Page, Policy, PolicyQuery,
    User, UserQuery,
};
use cc_store::jobs::{
    ClaimRequest, ClaimedJob, Completion, Failure, Finish, Heartbeat, HeartbeatReply, JobSignals,
    Lease, QueueGauge, QueueStats,
};
use cc_store::{JobStore, Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// The job calls faults can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Claim,
    Complete,
    Fail,
    CancelRunning,
    Release,
    Snooze,
    Heartbeat,
    CancelRequests,
    ReportProgress,
    Rescue,
}

/// What happens to a chosen call.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Fails until healed, or until the instant passes.
    Fail(Option<Instant>),
    /// Fails this many more times.
    FailTimes(u32),
    /// Waits this long, then runs.
    Delay(Duration),
}

#[derive(Default)]
struct State {
    faults: HashMap<Call, Fault>,
    calls: HashMap<Call, u64>,
    failed: HashMap<Call, u64>,
}

/// The test's handle on a [`FaultStore`]'s faults and counters.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<State>>);

impl Faults {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every `call` fails until [`Faults::heal`].
    pub fn fail(&self, call: Call) {
        self.state().faults.insert(call, Fault::Fail(None));
    }

    /// Every `call` fails for the next `period`.
    pub fn fail_for(&self, call: Call, period: Duration) {
        self.state()
            .faults
            .insert(call, Fault::Fail(Some(Instant::now() + period)));
    }

    /// The next `n` calls fail.
    pub fn fail_times(&self, call: Call, n: u32) {
        self.state().faults.insert(call, Fault::FailTimes(n));
    }

    /// Every `call` waits `by` before it runs, until healed.
    pub fn delay(&self, call: Call, by: Duration) {
        self.state().faults.insert(call, Fault::Delay(by));
    }

    /// `call` works normally again.
    pub fn heal(&self, call: Call) {
        self.state().faults.remove(&call);
    }

    /// How many times `call` was made (failed or not).
    #[must_use]
    pub fn calls(&self, call: Call) -> u64 {
        self.state().calls.get(&call).copied().unwrap_or(0)
    }

    /// How many times `call` was made to fail.
    #[must_use]
    pub fn failures(&self, call: Call) -> u64 {
        self.state().failed.get(&call).copied().unwrap_or(0)
    }

    /// Counts the call and applies its fault: an error, or a wait before it goes through.
    async fn enter(&self, call: Call) -> Result<(), StoreError> {
        let delay = {
            let mut state = self.state();
            *state.calls.entry(call).or_default() += 1;
            let (fail, delay, next) = match state.faults.get(&call).copied() {
                None => (false, None, None),
                Some(Fault::Fail(None)) => (true, None, None),
                Some(Fault::Fail(Some(until))) if Instant::now() < until => (true, None, None),
                Some(Fault::Fail(Some(_)) | Fault::FailTimes(0)) => (false, None, Some(None)),
                Some(Fault::FailTimes(n)) => (true, None, Some(Some(Fault::FailTimes(n - 1)))),
                Some(Fault::Delay(by)) => (false, Some(by), None),
            };
            match next {
                Some(Some(f)) => {
                    state.faults.insert(call, f);
                }
                Some(None) => {
                    state.faults.remove(&call);
                }
                None => {}
            }
            if fail {
                *state.failed.entry(call).or_default() += 1;
                return Err(StoreError::Unavailable(format!(
                    "injected fault: {call:?} failed"
                )));
            }
            delay
        };
        if let Some(by) = delay {
            tokio::time::sleep(by).await;
        }
        Ok(())
    }
}

/// A store whose chosen job calls fail or stall; everything else goes to the wrapped store.
pub struct FaultStore {
    inner: Arc<dyn Store>,
    faults: Faults,
}

impl FaultStore {
    /// Wraps `inner`; returns the store to hand out and the handle that controls it.
    #[must_use]
    pub fn wrap(inner: Arc<dyn Store>) -> (Arc<dyn Store>, Faults) {
        let faults = Faults::default();
        let store = Arc::new(Self {
            inner,
            faults: faults.clone(),
        });
        (store, faults)
    }
}

#[async_trait]
impl JobStore for FaultStore {
    async fn claim_jobs(&self, req: &ClaimRequest<'_>) -> cc_store::Result<Vec<ClaimedJob>> {
        self.faults.enter(Call::Claim).await?;
        self.inner.claim_jobs(req).await
    }
    async fn complete_jobs(&self, b: Finish<'_, Completion>) -> cc_store::Result<Vec<i64>> {
        self.faults.enter(Call::Complete).await?;
        self.inner.complete_jobs(b).await
    }
    async fn fail_jobs(&self, b: Finish<'_, Failure>) -> cc_store::Result<Vec<i64>> {
        self.faults.enter(Call::Fail).await?;
        self.inner.fail_jobs(b).await
    }
    async fn cancel_running(&self, b: Finish<'_, Lease>) -> cc_store::Result<Vec<i64>> {
        self.faults.enter(Call::CancelRunning).await?;
        self.inner.cancel_running(b).await
    }
    async fn release_jobs(&self, b: Finish<'_, Lease>) -> cc_store::Result<Vec<i64>> {
        self.faults.enter(Call::Release).await?;
        self.inner.release_jobs(b).await
    }
    async fn snooze_job(
        &self,
        lease: Lease,
        worker_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        note: &str,
    ) -> cc_store::Result<bool> {
        self.faults.enter(Call::Snooze).await?;
        self.inner
            .snooze_job(lease, worker_id, now, until, note)
            .await
    }
    async fn heartbeat(&self, hb: &Heartbeat<'_>) -> cc_store::Result<HeartbeatReply> {
        self.faults.enter(Call::Heartbeat).await?;
        self.inner.heartbeat(hb).await
    }
    async fn cancel_requests(&self, leases: &[Lease]) -> cc_store::Result<Vec<Lease>> {
        self.faults.enter(Call::CancelRequests).await?;
        self.inner.cancel_requests(leases).await
    }
    async fn report_progress(&self, lease: Lease, progress: &Value) -> cc_store::Result<bool> {
        self.faults.enter(Call::ReportProgress).await?;
        self.inner.report_progress(lease, progress).await
    }
    async fn rescue_expired(&self, now: DateTime<Utc>, limit: u32) -> cc_store::Result<u64> {
        self.faults.enter(Call::Rescue).await?;
        self.inner.rescue_expired(now, limit).await
    }
    async fn prune_jobs(&self, before: DateTime<Utc>, limit: u32) -> cc_store::Result<u64> {
        self.inner.prune_jobs(before, limit).await
    }
    async fn purge_queue(&self, queue: &str) -> cc_store::Result<u64> {
        self.inner.purge_queue(queue).await
    }
    async fn register_worker(&self, w: &cc_domain::WorkerInfo) -> cc_store::Result<()> {
        self.inner.register_worker(w).await
    }
    async fn deregister_worker(&self, id: &str) -> cc_store::Result<()> {
        self.inner.deregister_worker(id).await
    }
    async fn list_workers(
        &self,
        since: DateTime<Utc>,
    ) -> cc_store::Result<Vec<cc_domain::WorkerInfo>> {
        self.inner.list_workers(since).await
    }
    async fn get_job(&self, id: i64) -> cc_store::Result<Option<cc_domain::Job>> {
        self.inner.get_job(id).await
    }
    async fn list_jobs(&self, q: &cc_domain::JobQuery) -> cc_store::Result<Page<cc_domain::Job>> {
        self.inner.list_jobs(q).await
    }
    async fn job_history(&self, id: i64) -> cc_store::Result<Vec<cc_domain::JobEvent>> {
        self.inner.job_history(id).await
    }
    async fn batch_counts(&self, b: Uuid) -> cc_store::Result<Vec<(cc_domain::JobState, i64)>> {
        self.inner.batch_counts(b).await
    }
    async fn job_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> cc_store::Result<Vec<cc_domain::StreamEvent>> {
        self.inner.job_events_after(after, limit).await
    }
    async fn last_job_event(&self) -> cc_store::Result<i64> {
        self.inner.last_job_event().await
    }
    async fn event_gap_mark(&self) -> cc_store::Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.inner.event_gap_mark().await
    }
    async fn event_gap_settled(
        &self,
        mark: chrono::DateTime<chrono::Utc>,
    ) -> cc_store::Result<bool> {
        self.inner.event_gap_settled(mark).await
    }
    async fn queue_stats(&self, queue: &str) -> cc_store::Result<QueueStats> {
        self.inner.queue_stats(queue).await
    }
    async fn queue_gauges(&self, now: DateTime<Utc>) -> cc_store::Result<Vec<QueueGauge>> {
        self.inner.queue_gauges(now).await
    }
    async fn finished_per_minute(
        &self,
        since: DateTime<Utc>,
    ) -> cc_store::Result<Vec<cc_store::jobs::FinishedCount>> {
        self.inner.finished_per_minute(since).await
    }
    async fn job_signals(&self) -> cc_store::Result<Box<dyn JobSignals>> {
        self.inner.job_signals().await
    }
}

#[async_trait]
impl Store for FaultStore {
    fn backend(&self) -> cc_store::Backend {
        self.inner.backend()
    }
    fn auth(&self) -> &dyn cc_store::AuthStore {
        self.inner.auth()
    }
    fn imports(&self) -> Option<&dyn cc_store::ImportStore> {
        self.inner.imports()
    }
    fn notifications(&self) -> &dyn cc_store::NotificationStore {
        self.inner.notifications()
    }
    fn change_generation(&self) -> Option<u64> {
        self.inner.change_generation()
    }
    fn note_local_change(&self) {
        self.inner.note_local_change();
    }
    async fn begin(&self) -> cc_store::Result<Box<dyn cc_store::Tx>> {
        self.inner.begin().await
    }
    async fn ping(&self) -> cc_store::Result<()> {
        self.inner.ping().await
    }
    async fn migration_status(&self) -> cc_store::Result<cc_store::MigrationStatus> {
        self.inner.migration_status().await
    }
    async fn migrate_up(&self) -> cc_store::Result<Vec<i64>> {
        self.inner.migrate_up().await
    }
    async fn migrate_down(&self, steps: u32) -> cc_store::Result<Vec<i64>> {
        self.inner.migrate_down(steps).await
    }
    fn pool_stats(&self) -> Vec<cc_store::PoolStats> {
        self.inner.pool_stats()
    }
    async fn close(&self) {
        self.inner.close().await;
    }
    async fn get_user(&self, id: Uuid) -> cc_store::Result<Option<User>> {
        self.inner.get_user(id).await
    }
    async fn get_user_by_username(&self, username: &str) -> cc_store::Result<Option<User>> {
        self.inner.get_user_by_username(username).await
    }
    async fn list_users(&self, q: &UserQuery) -> cc_store::Result<Page<User>> {
        self.inner.list_users(q).await
    }
    async fn count_sync_states(&self) -> cc_store::Result<Vec<(cc_domain::SyncState, i64)>> {
        self.inner.count_sync_states().await
    }
    async fn user_sync(
        &self,
        ids: &[Uuid],
    ) -> cc_store::Result<std::collections::HashMap<Uuid, cc_domain::UserSync>> {
        self.inner.user_sync(ids).await
    }
    async fn get_group(&self, id: Uuid) -> cc_store::Result<Option<Group>> {
        self.inner.get_group(id).await
    }
    async fn get_group_by_name(&self, name: &str) -> cc_store::Result<Option<Group>> {
        self.inner.get_group_by_name(name).await
    }
    async fn list_groups(&self, q: &GroupQuery) -> cc_store::Result<Page<Group>> {
        self.inner.list_groups(q).await
    }
    async fn group_members(&self, group_id: Uuid, q: &UserQuery) -> cc_store::Result<Page<User>> {
        self.inner.group_members(group_id, q).await
    }
    async fn get_device(&self, id: Uuid) -> cc_store::Result<Option<Device>> {
        self.inner.get_device(id).await
    }
    async fn list_devices(&self, q: &DeviceQuery) -> cc_store::Result<Page<Device>> {
        self.inner.list_devices(q).await
    }
    async fn get_policy(&self, id: Uuid) -> cc_store::Result<Option<Policy>> {
        self.inner.get_policy(id).await
    }
    async fn list_policies(&self, q: &PolicyQuery) -> cc_store::Result<Page<Policy>> {
        self.inner.list_policies(q).await
    }
    async fn directory_counts(&self) -> cc_store::Result<cc_store::DirectoryCounts> {
        self.inner.directory_counts().await
    }
    async fn list_audit(&self, q: &AuditQuery) -> cc_store::Result<Vec<AuditEvent>> {
        self.inner.list_audit(q).await
    }
    async fn audit_after(&self, after_seq: i64, limit: u32) -> cc_store::Result<Vec<AuditEvent>> {
        self.inner.audit_after(after_seq, limit).await
    }
    async fn audit_head(&self) -> cc_store::Result<(i64, String)> {
        self.inner.audit_head().await
    }
    async fn list_target_links(
        &self,
        user_id: Uuid,
    ) -> cc_store::Result<Vec<cc_domain::TargetLinkRecord>> {
        self.inner.list_target_links(user_id).await
    }
    async fn user_sources(
        &self,
        ids: &[uuid::Uuid],
    ) -> cc_store::Result<std::collections::HashMap<uuid::Uuid, cc_domain::UserSource>> {
        self.inner.user_sources(ids).await
    }
    async fn user_id_by_scim_name(&self, name: &str) -> cc_store::Result<Option<uuid::Uuid>> {
        self.inner.user_id_by_scim_name(name).await
    }
    async fn upsert_target_link(&self, l: &cc_domain::TargetLinkRecord) -> cc_store::Result<()> {
        self.inner.upsert_target_link(l).await
    }
    async fn newer_password_job(
        &self,
        user_id: Uuid,
        job_id: i64,
    ) -> cc_store::Result<Option<i64>> {
        self.inner.newer_password_job(user_id, job_id).await
    }
    async fn earlier_lifecycle_job(
        &self,
        user_id: Uuid,
        job_id: i64,
    ) -> cc_store::Result<Option<(i64, DateTime<Utc>)>> {
        self.inner.earlier_lifecycle_job(user_id, job_id).await
    }
}
