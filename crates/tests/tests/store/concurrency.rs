//! Many writers at once.

use super::*;
use cc_store::jobs;
use chrono::{DateTime, Utc};

async fn concurrent_writers_all_succeed_and_the_chain_stays_gapless(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let directory = cc_service::Directory::new(store.clone());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let directory = directory.clone();
            tokio::spawn(async move {
                directory
                    .create_user(&Actor::system("test"), student(&format!("c{i:02}")))
                    .await
            })
        })
        .collect();
    for (i, t) in futures::future::join_all(tasks)
        .await
        .into_iter()
        .enumerate()
    {
        t.expect("task")
            .unwrap_or_else(|e| panic!("writer {i} failed: {e}"));
    }

    assert_eq!(
        store
            .list_users(&user_query())
            .await
            .expect("list")
            .items
            .len(),
        20
    );
    let events = store.audit_after(0, 100).await.expect("events");
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=20).collect::<Vec<_>>());
    assert_eq!(store.audit_head().await.expect("head").0, 20);
    let report = cc_service::verify_chain(store.as_ref())
        .await
        .expect("verify");
    assert_eq!((report.checked, report.first_break), (20, None));
}

async fn concurrent_updates_from_the_same_version_let_exactly_one_win(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let directory = cc_service::Directory::new(store.clone());
    let actor = Actor::system("test");
    let ada = directory
        .create_user(&actor, student("ada"))
        .await
        .expect("create");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let directory = directory.clone();
            let actor = actor.clone();
            tokio::spawn(async move {
                let patch = cc_domain::UserPatch {
                    given_name: Some(format!("Ada{i}")),
                    ..Default::default()
                };
                directory
                    .update_user(&actor, ada.id, patch, Some(ada.version))
                    .await
            })
        })
        .collect();
    let mut won = 0;
    for t in futures::future::join_all(tasks).await {
        match t.expect("task") {
            Ok(u) => {
                won += 1;
                assert_eq!(u.version, 2);
            }
            Err(
                cc_service::ServiceError::PreconditionFailed { .. }
                | cc_service::ServiceError::ConcurrentUpdate,
            ) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1, "exactly one update from version 1 may win");
    assert_eq!(
        store
            .get_user(ada.id)
            .await
            .expect("get")
            .expect("ada")
            .version,
        2
    );
    assert_eq!(
        store.audit_head().await.expect("head").0,
        2,
        "one create and one update"
    );
}

/// A store that lets one more event commit right after answering `audit_head`: what a verifier
/// sees when a write lands between reading the chain head and reading the events.
struct WritesAfterHead(Arc<dyn Store>);

#[async_trait::async_trait]
impl Store for WritesAfterHead {
    fn backend(&self) -> cc_store::Backend {
        self.0.backend()
    }
    fn auth(&self) -> &dyn cc_store::AuthStore {
        self.0.auth()
    }
    fn notifications(&self) -> &dyn cc_store::NotificationStore {
        self.0.notifications()
    }
    fn change_generation(&self) -> Option<u64> {
        self.0.change_generation()
    }
    fn note_local_change(&self) {
        self.0.note_local_change();
    }
    async fn begin(&self) -> cc_store::Result<Box<dyn cc_store::Tx>> {
        self.0.begin().await
    }
    async fn ping(&self) -> cc_store::Result<()> {
        self.0.ping().await
    }
    async fn migration_status(&self) -> cc_store::Result<cc_store::MigrationStatus> {
        self.0.migration_status().await
    }
    async fn migrate_up(&self) -> cc_store::Result<Vec<i64>> {
        self.0.migrate_up().await
    }
    async fn migrate_down(&self, steps: u32) -> cc_store::Result<Vec<i64>> {
        self.0.migrate_down(steps).await
    }
    fn pool_stats(&self) -> Vec<cc_store::PoolStats> {
        self.0.pool_stats()
    }
    async fn close(&self) {
        self.0.close().await;
    }
    async fn get_user(&self, id: Uuid) -> cc_store::Result<Option<User>> {
        self.0.get_user(id).await
    }
    async fn get_user_by_username(&self, username: &str) -> cc_store::Result<Option<User>> {
        self.0.get_user_by_username(username).await
    }
    async fn list_users(&self, q: &UserQuery) -> cc_store::Result<Page<User>> {
        self.0.list_users(q).await
    }
    async fn count_sync_states(&self) -> cc_store::Result<Vec<(cc_domain::SyncState, i64)>> {
        self.0.count_sync_states().await
    }
    async fn user_sync(
        &self,
        ids: &[Uuid],
    ) -> cc_store::Result<std::collections::HashMap<Uuid, cc_domain::UserSync>> {
        self.0.user_sync(ids).await
    }
    async fn get_group(&self, id: Uuid) -> cc_store::Result<Option<Group>> {
        self.0.get_group(id).await
    }
    async fn get_group_by_name(&self, name: &str) -> cc_store::Result<Option<Group>> {
        self.0.get_group_by_name(name).await
    }
    async fn list_groups(&self, q: &GroupQuery) -> cc_store::Result<Page<Group>> {
        self.0.list_groups(q).await
    }
    async fn group_members(&self, group_id: Uuid, q: &UserQuery) -> cc_store::Result<Page<User>> {
        self.0.group_members(group_id, q).await
    }
    async fn get_device(&self, id: Uuid) -> cc_store::Result<Option<Device>> {
        self.0.get_device(id).await
    }
    async fn list_devices(&self, q: &DeviceQuery) -> cc_store::Result<Page<Device>> {
        self.0.list_devices(q).await
    }
    async fn get_policy(&self, id: Uuid) -> cc_store::Result<Option<Policy>> {
        self.0.get_policy(id).await
    }
    async fn list_policies(&self, q: &PolicyQuery) -> cc_store::Result<Page<Policy>> {
        self.0.list_policies(q).await
    }
    async fn directory_counts(&self) -> cc_store::Result<cc_store::DirectoryCounts> {
        self.0.directory_counts().await
    }
    async fn list_audit(&self, q: &AuditQuery) -> cc_store::Result<Vec<AuditEvent>> {
        self.0.list_audit(q).await
    }
    async fn audit_after(&self, after_seq: i64, limit: u32) -> cc_store::Result<Vec<AuditEvent>> {
        self.0.audit_after(after_seq, limit).await
    }
    async fn list_target_links(
        &self,
        user_id: uuid::Uuid,
    ) -> cc_store::Result<Vec<cc_domain::TargetLinkRecord>> {
        self.0.list_target_links(user_id).await
    }
    async fn user_sources(
        &self,
        ids: &[uuid::Uuid],
    ) -> cc_store::Result<std::collections::HashMap<uuid::Uuid, cc_domain::UserSource>> {
        self.0.user_sources(ids).await
    }
    async fn user_id_by_scim_name(&self, name: &str) -> cc_store::Result<Option<uuid::Uuid>> {
        self.0.user_id_by_scim_name(name).await
    }
    async fn upsert_target_link(&self, l: &cc_domain::TargetLinkRecord) -> cc_store::Result<()> {
        self.0.upsert_target_link(l).await
    }
    async fn earlier_lifecycle_job(
        &self,
        user_id: uuid::Uuid,
        job_id: i64,
    ) -> cc_store::Result<Option<(i64, DateTime<Utc>)>> {
        self.0.earlier_lifecycle_job(user_id, job_id).await
    }
    async fn newer_password_job(
        &self,
        user_id: uuid::Uuid,
        job_id: i64,
    ) -> cc_store::Result<Option<i64>> {
        self.0.newer_password_job(user_id, job_id).await
    }
    async fn audit_head(&self) -> cc_store::Result<(i64, String)> {
        let head = self.0.audit_head().await?;
        append(&self.0, vec![event("user.update", "concurrent")]).await;
        Ok(head)
    }
}

/// The job operations, delegated unchanged.
#[async_trait::async_trait]
impl cc_store::JobStore for WritesAfterHead {
    async fn claim_jobs(
        &self,
        r: &jobs::ClaimRequest<'_>,
    ) -> cc_store::Result<Vec<jobs::ClaimedJob>> {
        self.0.claim_jobs(r).await
    }
    async fn complete_jobs(
        &self,
        b: jobs::Finish<'_, jobs::Completion>,
    ) -> cc_store::Result<Vec<i64>> {
        self.0.complete_jobs(b).await
    }
    async fn fail_jobs(&self, b: jobs::Finish<'_, jobs::Failure>) -> cc_store::Result<Vec<i64>> {
        self.0.fail_jobs(b).await
    }
    async fn cancel_running(&self, b: jobs::Finish<'_, jobs::Lease>) -> cc_store::Result<Vec<i64>> {
        self.0.cancel_running(b).await
    }
    async fn release_jobs(&self, b: jobs::Finish<'_, jobs::Lease>) -> cc_store::Result<Vec<i64>> {
        self.0.release_jobs(b).await
    }
    async fn queue_gauges(&self, now: DateTime<Utc>) -> cc_store::Result<Vec<jobs::QueueGauge>> {
        self.0.queue_gauges(now).await
    }
    async fn finished_per_minute(
        &self,
        since: DateTime<Utc>,
    ) -> cc_store::Result<Vec<jobs::FinishedCount>> {
        self.0.finished_per_minute(since).await
    }
    async fn snooze_job(
        &self,
        lease: jobs::Lease,
        worker_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        note: &str,
    ) -> cc_store::Result<bool> {
        self.0.snooze_job(lease, worker_id, now, until, note).await
    }
    async fn heartbeat(&self, hb: &jobs::Heartbeat<'_>) -> cc_store::Result<jobs::HeartbeatReply> {
        self.0.heartbeat(hb).await
    }
    async fn cancel_requests(&self, l: &[jobs::Lease]) -> cc_store::Result<Vec<jobs::Lease>> {
        self.0.cancel_requests(l).await
    }
    async fn report_progress(
        &self,
        l: jobs::Lease,
        p: &serde_json::Value,
    ) -> cc_store::Result<bool> {
        self.0.report_progress(l, p).await
    }
    async fn rescue_expired(&self, now: DateTime<Utc>, limit: u32) -> cc_store::Result<u64> {
        self.0.rescue_expired(now, limit).await
    }
    async fn prune_jobs(&self, before: DateTime<Utc>, limit: u32) -> cc_store::Result<u64> {
        self.0.prune_jobs(before, limit).await
    }
    async fn purge_queue(&self, queue: &str) -> cc_store::Result<u64> {
        self.0.purge_queue(queue).await
    }
    async fn register_worker(&self, w: &cc_domain::WorkerInfo) -> cc_store::Result<()> {
        self.0.register_worker(w).await
    }
    async fn deregister_worker(&self, id: &str) -> cc_store::Result<()> {
        self.0.deregister_worker(id).await
    }
    async fn list_workers(
        &self,
        since: DateTime<Utc>,
    ) -> cc_store::Result<Vec<cc_domain::WorkerInfo>> {
        self.0.list_workers(since).await
    }
    async fn get_job(&self, id: i64) -> cc_store::Result<Option<cc_domain::Job>> {
        self.0.get_job(id).await
    }
    async fn list_jobs(&self, q: &cc_domain::JobQuery) -> cc_store::Result<Page<cc_domain::Job>> {
        self.0.list_jobs(q).await
    }
    async fn job_history(&self, id: i64) -> cc_store::Result<Vec<cc_domain::JobEvent>> {
        self.0.job_history(id).await
    }
    async fn batch_counts(&self, b: Uuid) -> cc_store::Result<Vec<(cc_domain::JobState, i64)>> {
        self.0.batch_counts(b).await
    }
    async fn job_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> cc_store::Result<Vec<cc_domain::StreamEvent>> {
        self.0.job_events_after(after, limit).await
    }
    async fn last_job_event(&self) -> cc_store::Result<i64> {
        self.0.last_job_event().await
    }
    async fn event_gap_mark(&self) -> cc_store::Result<Option<chrono::DateTime<chrono::Utc>>> {
        self.0.event_gap_mark().await
    }
    async fn event_gap_settled(
        &self,
        mark: chrono::DateTime<chrono::Utc>,
    ) -> cc_store::Result<bool> {
        self.0.event_gap_settled(mark).await
    }
    async fn queue_stats(&self, queue: &str) -> cc_store::Result<jobs::QueueStats> {
        self.0.queue_stats(queue).await
    }
    async fn job_signals(&self) -> cc_store::Result<Box<dyn jobs::JobSignals>> {
        self.0.job_signals().await
    }
}

async fn verifying_while_events_are_appended_reports_an_intact_chain(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    append(
        &store,
        (1..=3)
            .map(|i| event("user.update", &format!("u{i}")))
            .collect(),
    )
    .await;
    let racing = WritesAfterHead(store.clone());
    let report = cc_service::verify_chain(&racing).await.expect("verify");
    assert_eq!(
        report.first_break, None,
        "an event appended during verification is not a break"
    );
    assert_eq!((report.checked, report.head_seq), (3, 3));
    assert_eq!(
        store.audit_head().await.expect("head").0,
        4,
        "the racing write did commit"
    );
}

backend_tests!(
    concurrent_writers_all_succeed_and_the_chain_stays_gapless,
    concurrent_updates_from_the_same_version_let_exactly_one_win,
    verifying_while_events_are_appended_reports_an_intact_chain,
);
