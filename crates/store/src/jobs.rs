//! Job persistence: the operations the worker runtime and the API need, implemented by both
//! backends (`sqlite/jobs.rs`, `postgres/jobs.rs`).
//!
//! Every transition is guarded: a worker presents the job's fencing token ([`Lease`]) and a
//! write whose token no longer matches a `running` job changes nothing. Bulk operations take
//! slices and run as a handful of statements, never one transaction per job. Each transition
//! appends to `job_events` in the same transaction.

use async_trait::async_trait;
use cc_domain::{
    Job, JobEvent, JobQuery, JobState, NewAuditEvent, NewJob, Page, StreamEvent, TargetLinkRecord,
    WorkerInfo,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::Result;

/// A worker's claim on one running job: the job and the fencing token it was claimed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub job_id: i64,
    pub token: i64,
}

/// What a worker asks for when claiming.
#[derive(Debug, Clone)]
pub struct ClaimRequest<'a> {
    pub worker_id: &'a str,
    pub queue: &'a str,
    /// Only jobs of these kinds (the ones the worker has handlers for); `None` for any kind.
    pub kinds: Option<&'a [String]>,
    pub limit: u32,
    /// Jobs due at or before this are claimed; recorded as the attempt's start.
    pub now: DateTime<Utc>,
    /// How long the lease lasts unless renewed, counted on the database's clock (so hosts
    /// whose clocks disagree agree on when a lease expires).
    pub lease_ttl: std::time::Duration,
}

/// A job a worker now holds.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub lease: Lease,
    pub queue: String,
    pub kind: String,
    pub args: Value,
    pub attempt: i32,
    pub max_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub batch_id: Option<Uuid>,
}

/// A successful attempt.
#[derive(Debug, Clone)]
pub struct Completion {
    pub lease: Lease,
    pub result: Option<Value>,
    /// Written in the completion's transaction, only if the completion is recorded.
    pub writes: CompletionWrites,
}

impl Completion {
    /// A completion with its result and nothing else to write.
    #[must_use]
    pub fn new(lease: Lease, result: Option<Value>) -> Self {
        Self {
            lease,
            result,
            writes: CompletionWrites::default(),
        }
    }
}

/// What a handler asks to commit together with its job's completion: in the same
/// transaction as the job's move to `completed`, and only for a completion that is recorded
/// (its lease still held). A job whose completion is rejected, or that fails, is cancelled or
/// loses its lease, writes none of it; a crash before the completion leaves none of it either.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompletionWrites {
    /// Stored as the job's progress (otherwise the last progress report stays).
    pub progress: Option<Value>,
    /// Upserted as the person's links to targets (skipped for a person deleted meanwhile).
    pub links: Vec<TargetLinkRecord>,
    /// Appended to the audit chain, in order, after the batch's earlier completions' events.
    pub audit: Vec<NewAuditEvent>,
}

impl CompletionWrites {
    /// True when there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.progress.is_none() && self.links.is_empty() && self.audit.is_empty()
    }

    /// Adds `other`: its progress replaces this one's when given; links and events are
    /// appended.
    pub fn merge(&mut self, other: CompletionWrites) {
        if other.progress.is_some() {
            self.progress = other.progress;
        }
        self.links.extend(other.links);
        self.audit.extend(other.audit);
    }
}

/// The links and audit events of the completions in `items` that were recorded (`done`, the
/// ids the completion statement changed), in the batch's order; of two links of one person to
/// one target (not expected: a person's jobs run one at a time), the later one.
pub(crate) fn recorded_writes(
    items: &[Completion],
    done: &[i64],
) -> (Vec<TargetLinkRecord>, Vec<NewAuditEvent>) {
    let done: std::collections::HashSet<i64> = done.iter().copied().collect();
    let mut links: Vec<TargetLinkRecord> = Vec::new();
    let mut seen: std::collections::HashMap<(Uuid, &str), usize> = std::collections::HashMap::new();
    let mut audit = Vec::new();
    for c in items.iter().filter(|c| done.contains(&c.lease.job_id)) {
        for l in &c.writes.links {
            match seen.entry((l.user_id, l.target.as_str())) {
                std::collections::hash_map::Entry::Occupied(e) => links[*e.get()] = l.clone(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(links.len());
                    links.push(l.clone());
                }
            }
        }
        audit.extend(c.writes.audit.iter().cloned());
    }
    (links, audit)
}

/// A failed attempt.
#[derive(Debug, Clone)]
pub struct Failure {
    pub lease: Lease,
    pub error: String,
    /// When to try again; `None` discards the job (permanent failure). A job whose attempts
    /// are spent is discarded either way.
    pub retry_at: Option<DateTime<Utc>>,
}

/// A bulk transition by one worker.
#[derive(Debug, Clone, Copy)]
pub struct Finish<'a, T> {
    pub worker_id: &'a str,
    pub now: DateTime<Utc>,
    pub items: &'a [T],
}

/// One heartbeat of a worker: its registration and all its leases, renewed in one round trip.
#[derive(Debug, Clone)]
pub struct Heartbeat<'a> {
    pub worker_id: &'a str,
    /// Recorded as the worker's last heartbeat.
    pub now: DateTime<Utc>,
    /// Each lease is renewed to the database's clock plus this.
    pub lease_ttl: std::time::Duration,
    pub leases: &'a [Lease],
}

/// What a heartbeat learned about the worker's leases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// Leases the worker no longer holds (rescued, or finished by someone else).
    pub lost: Vec<Lease>,
    /// Leases whose job an operator asked to cancel.
    pub cancel_requested: Vec<Lease>,
}

impl HeartbeatReply {
    /// The reply to a heartbeat that sent `sent` and renewed the rows `held` (job id, lease
    /// token, cancel requested): what was sent and not renewed is lost.
    pub(crate) fn from_renewed(sent: &[Lease], held: &[(i64, i64, bool)]) -> Self {
        let kept: std::collections::HashSet<(i64, i64)> =
            held.iter().map(|(id, t, _)| (*id, *t)).collect();
        Self {
            lost: sent
                .iter()
                .filter(|l| !kept.contains(&(l.job_id, l.token)))
                .copied()
                .collect(),
            cancel_requested: held
                .iter()
                .filter(|(_, _, c)| *c)
                .map(|(job_id, token, _)| Lease {
                    job_id: *job_id,
                    token: *token,
                })
                .collect(),
        }
    }
}

/// The outcome of enqueueing one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub id: i64,
    /// True when an unfinished job with the same unique key already existed; `id` is that job.
    pub duplicate: bool,
}

/// What [`JobTx::cancel_job`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum CancelOutcome {
    /// The job was waiting and is now cancelled.
    Cancelled(Job),
    /// The job is running; its worker has been asked to stop.
    Requested(Job),
    /// The job had already finished; nothing changed.
    AlreadyFinal(Job),
}

/// Aggregate figures for one queue (benchmarks, checks).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueStats {
    pub counts: Vec<(JobState, i64)>,
    /// The earliest first-attempt time and the latest finish time of the queue's jobs.
    pub first_attempted_at: Option<DateTime<Utc>>,
    pub last_finalized_at: Option<DateTime<Utc>>,
    /// `completed` events recorded for the queue's jobs (equals the completed jobs unless a
    /// job was recorded completed twice).
    pub completed_events: i64,
}

/// One queue as the metrics see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueGauge {
    pub queue: String,
    /// Jobs per state (states without jobs left out).
    pub counts: Vec<(JobState, i64)>,
    /// When the oldest job that is due (available, or retryable/scheduled with its time
    /// passed) became due.
    pub oldest_due: Option<DateTime<Utc>>,
    /// Due jobs per kind (kinds without due jobs left out), to find kinds no worker runs.
    pub due_kinds: Vec<(String, i64)>,
}

impl QueueStats {
    /// Jobs in `state`.
    #[must_use]
    pub fn count(&self, state: JobState) -> i64 {
        self.counts
            .iter()
            .filter(|(s, _)| *s == state)
            .map(|(_, n)| n)
            .sum()
    }

    #[must_use]
    pub fn total(&self) -> i64 {
        self.counts.iter().map(|(_, n)| n).sum()
    }
}

/// Jobs that reached a final state in one minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedCount {
    /// The start of the minute (UTC).
    pub minute: DateTime<Utc>,
    pub state: JobState,
    pub count: i64,
}

/// A wake-up source: resolves when jobs may have become available.
#[async_trait]
pub trait JobSignals: Send {
    /// The queue that has new jobs, or `None` for "any queue" (e.g. after a reconnect).
    /// Returns an error only when the source is gone for good.
    async fn next(&mut self) -> Result<Option<String>>;
}

/// Job operations that run on the pool (each its own short transaction where it writes).
/// What a reader of the event log (`job_events`) knows about a gap in its numbers: a mark
/// taken on the database's clock when a read stopped at a gap, with the highest number that
/// read returned. Once the store says every transaction open at the mark has ended
/// ([`JobStore::event_gap_settled`]), gaps below that number are final. The live event stream
/// and the notifications feed each keep one; where the store cannot tell, the mark is never
/// taken and they wait their fixed time.
#[derive(Debug, Default)]
pub struct GapWatch {
    mark: Option<(DateTime<Utc>, i64)>,
}

impl GapWatch {
    /// Before a read after `position`: the number up to which gaps are known to be final
    /// (0 when none is).
    pub async fn settled_to(&mut self, store: &(impl JobStore + ?Sized), position: i64) -> i64 {
        match self.mark {
            Some((_, bound)) if bound <= position => {
                self.mark = None;
                0
            }
            Some((at, bound)) => match store.event_gap_settled(at).await {
                Ok(true) => {
                    self.mark = None;
                    bound
                }
                Ok(false) => 0,
                Err(e) => {
                    tracing::warn!(error = %e, "checking a gap in the event log failed");
                    0
                }
            },
            None => 0,
        }
    }

    /// After a read that stopped at a gap, having read up to `read_up_to`: takes a mark unless
    /// one is pending. True when it took one (asking again at once is worth it: a rolled-back
    /// number's transaction has usually ended already).
    pub async fn stopped_at_gap(
        &mut self,
        store: &(impl JobStore + ?Sized),
        read_up_to: i64,
    ) -> bool {
        if self.mark.is_some() {
            return false;
        }
        match store.event_gap_mark().await {
            Ok(at) => {
                self.mark = at.map(|at| (at, read_up_to));
                self.mark.is_some()
            }
            Err(e) => {
                tracing::warn!(error = %e, "marking a gap in the event log failed");
                false
            }
        }
    }
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Claims up to `limit` due jobs of one queue for a worker, highest priority first.
    async fn claim_jobs(&self, req: &ClaimRequest<'_>) -> Result<Vec<ClaimedJob>>;
    /// Completes the jobs whose lease still matches, with each one's [`CompletionWrites`] in
    /// the same transaction; returns the ids completed.
    async fn complete_jobs(&self, batch: Finish<'_, Completion>) -> Result<Vec<i64>>;
    /// Records failed attempts (to `retryable` or `discarded`); returns the ids changed.
    async fn fail_jobs(&self, batch: Finish<'_, Failure>) -> Result<Vec<i64>>;
    /// Marks running jobs cancelled after their handler stopped on request.
    async fn cancel_running(&self, batch: Finish<'_, Lease>) -> Result<Vec<i64>>;
    /// Returns running jobs to `available` without spending an attempt (shutdown).
    async fn release_jobs(&self, batch: Finish<'_, Lease>) -> Result<Vec<i64>>;
    /// Puts a running job back to `scheduled` at `until` without spending an attempt or
    /// recording an error: the handler said "not yet" (e.g. an earlier job for the same
    /// person is still unfinished). False when the lease is no longer held.
    async fn snooze_job(
        &self,
        lease: Lease,
        worker_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        note: &str,
    ) -> Result<bool>;
    /// Renews every lease of a worker and its registration, in one round trip.
    async fn heartbeat(&self, hb: &Heartbeat<'_>) -> Result<HeartbeatReply>;
    /// Which of these leases have a pending cancel request (cheap; polled often).
    async fn cancel_requests(&self, leases: &[Lease]) -> Result<Vec<Lease>>;
    /// Stores a handler's progress report; false when the lease is gone.
    async fn report_progress(&self, lease: Lease, progress: &Value) -> Result<bool>;
    /// Returns jobs whose lease expired to `retryable` (or `discarded` when their attempts are
    /// spent, `cancelled` when a cancel was requested). Returns how many. Expiry is judged by
    /// the database's clock, never the caller's: a host whose clock runs ahead cannot rescue
    /// a live lease. `now` is only recorded (history, errors, `run_at`).
    async fn rescue_expired(&self, now: DateTime<Utc>, limit: u32) -> Result<u64>;
    /// Deletes finished jobs (and their events) finalized before `before`; returns how many jobs.
    async fn prune_jobs(&self, before: DateTime<Utc>, limit: u32) -> Result<u64>;
    /// Deletes every job of a queue (benchmarks start from an empty queue); on PostgreSQL the
    /// job tables are vacuumed after.
    async fn purge_queue(&self, queue: &str) -> Result<u64>;

    async fn register_worker(&self, w: &WorkerInfo) -> Result<()>;
    async fn deregister_worker(&self, worker_id: &str) -> Result<()>;
    /// Workers with a heartbeat at or after `since`.
    async fn list_workers(&self, since: DateTime<Utc>) -> Result<Vec<WorkerInfo>>;

    async fn get_job(&self, id: i64) -> Result<Option<Job>>;
    /// Jobs matching the query, newest first.
    async fn list_jobs(&self, q: &JobQuery) -> Result<Page<Job>>;
    /// A job's recorded state changes, oldest first.
    async fn job_history(&self, id: i64) -> Result<Vec<JobEvent>>;
    /// Job counts by state for a batch.
    async fn batch_counts(&self, batch_id: Uuid) -> Result<Vec<(JobState, i64)>>;
    /// Events with `seq > after`, oldest first: job state changes and notices.
    async fn job_events_after(&self, after: i64, limit: u32) -> Result<Vec<StreamEvent>>;
    /// The newest event's sequence number (0 when none).
    async fn last_job_event(&self) -> Result<i64>;
    /// For a gap in event numbers seen by a read that has just returned: a mark on the
    /// database's clock to hand to [`JobStore::event_gap_settled`] later. `None` where the
    /// backend cannot tell when such a gap is final (the reader then waits a fixed time).
    async fn event_gap_mark(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(None)
    }
    /// Whether every transaction that was open when `mark` was taken has ended. Then a number
    /// below the highest one that read saw, and missing from a read made after this answer,
    /// will never appear: it was taken (numbers are handed out in order) by a transaction
    /// that began before the mark and rolled back. False when it cannot be told.
    async fn event_gap_settled(&self, mark: DateTime<Utc>) -> Result<bool> {
        let _ = mark;
        Ok(false)
    }
    /// Counts and timings of one queue.
    async fn queue_stats(&self, queue: &str) -> Result<QueueStats>;
    /// Whether a queue has unfinished jobs (waiting or running). Cheap (the partial claim and
    /// lease indexes), unlike [`JobStore::queue_stats`]: for polling while a queue drains.
    async fn queue_unfinished(&self, queue: &str) -> Result<bool> {
        let s = self.queue_stats(queue).await?;
        Ok([
            JobState::Scheduled,
            JobState::Available,
            JobState::Running,
            JobState::Retryable,
        ]
        .into_iter()
        .any(|st| s.count(st) > 0))
    }
    /// Every queue's jobs per state and its oldest due job, for the metrics.
    async fn queue_gauges(&self, now: DateTime<Utc>) -> Result<Vec<QueueGauge>>;
    /// Jobs that finished (completed, discarded, cancelled) at or after `since`, counted per
    /// minute (the start of the minute, UTC) and final state; minutes without any left out.
    async fn finished_per_minute(&self, since: DateTime<Utc>) -> Result<Vec<FinishedCount>>;

    /// A wake-up source for workers: PostgreSQL `LISTEN`, or in-process signals on SQLite.
    async fn job_signals(&self) -> Result<Box<dyn JobSignals>>;
}

/// Job operations inside a write transaction, so a change and the jobs it causes commit together.
#[async_trait]
pub trait JobTx: Send {
    /// Enqueues one job. With a unique key that an unfinished job already holds, returns that job.
    async fn enqueue(&mut self, job: &NewJob) -> Result<Enqueued>;
    /// Enqueues many jobs in a few statements; returns their ids in input order. Jobs with a
    /// unique key are enqueued one by one (duplicates resolve to the existing job's id).
    async fn enqueue_many(&mut self, jobs: &[NewJob]) -> Result<Vec<i64>>;
    /// Reads a job, locking it for the rest of the transaction.
    async fn get_job_for_update(&mut self, id: i64) -> Result<Option<Job>>;
    /// Cancels a waiting job at once, or asks the worker of a running one to stop.
    async fn cancel_job(&mut self, id: i64, now: DateTime<Utc>) -> Result<Option<CancelOutcome>>;
    /// Makes a finished job available again with a fresh set of attempts (operator re-drive).
    /// Returns `None` when there is no such job; the caller checks the state first.
    async fn redrive_job(&mut self, id: i64, now: DateTime<Utc>) -> Result<Option<Job>>;
    /// Records that cron entry `name` fired for `tick`; false when another instance already did.
    async fn claim_cron_tick(
        &mut self,
        name: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool>;
    /// Links a fired tick to the job it enqueued.
    async fn set_cron_tick_job(
        &mut self,
        name: &str,
        tick: DateTime<Utc>,
        job_id: i64,
    ) -> Result<()>;
}

/// The state a new job starts in.
/// Counts the jobs a rescue discarded (their last attempt's lease expired) in
/// `cc_jobs_discarded_total{kind}`, as workers count the ones they discard: `(state, kind)`
/// of each rescued job.
pub(crate) fn count_rescue_discards<'a>(rescued: impl Iterator<Item = (&'a str, &'a str)>) {
    for (state, kind) in rescued {
        if state == "discarded" {
            metrics::counter!("cc_jobs_discarded_total", "kind" => kind.to_owned()).increment(1);
        }
    }
}

pub(crate) fn initial_state(job: &NewJob, now: DateTime<Utc>) -> JobState {
    match job.run_at {
        Some(at) if at > now => JobState::Scheduled,
        _ => JobState::Available,
    }
}
