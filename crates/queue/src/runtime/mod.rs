//! The worker runtime: one [`Worker`] per process serves its queues with these tasks:
//!
//! - a claimer per queue (batched claims, woken by the store's signals or the poll interval),
//! - one task per running job (handler, timeout, panic capture),
//! - a finisher that writes outcomes in batches, guarded by fencing tokens,
//! - a lease keeper that renews every lease in one statement and polls cancel requests,
//! - maintenance: the rescuer of expired leases, the pruner, and the cron scheduler.
//!
//! A lease is renewed from the claim until the attempt's outcome is written (not merely until
//! the handler returns), and a handler whose lease could not be renewed is stopped before the
//! lease can expire ([`watchdog`]), so no two workers ever run one job at the same time.

mod claim;
mod execute;
mod finish;
mod lease;
mod maintenance;
mod shutdown;
mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cc_domain::WorkerInfo;
use cc_store::jobs::Lease;
use cc_store::Store;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{QueueConfig, Registry};

/// Why a running job's cancellation token fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopReason {
    /// An operator cancelled the job: a handler that stops records it `cancelled`.
    Cancelled,
    /// The lease was lost (rescued or taken over): the outcome is not written.
    LeaseLost,
    /// The lease could not be renewed for most of its length (heartbeats failing): the
    /// handler stops before the lease can expire; a success is still recorded, a failure is
    /// recorded as a retryable one.
    LeaseExpiring,
    /// Shutdown ran out of time; a handler that stops is released (no attempt spent).
    Shutdown,
}

/// The clock a worker stamps records with (history, errors, `run_at`). Lease expiry never
/// uses it: leases are counted on the database's clock.
pub type Clock = Arc<dyn Fn() -> chrono::DateTime<chrono::Utc> + Send + Sync>;

/// A job this process is running.
pub(crate) struct Running {
    pub lease: Lease,
    pub cancel: CancellationToken,
    /// Drops the handler outright: when its lease is about to expire or shutdown gave up
    /// waiting for it, after `cancel` was not enough.
    pub abort: CancellationToken,
    pub reason: Arc<OnceLock<StopReason>>,
    /// When the request that last set the lease's expiry was sent ([`Shared::mark`]): the
    /// lease lasts at least `lease_ttl` from then.
    pub renewed: Arc<AtomicU64>,
}

impl Running {
    pub(crate) fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.cancel.cancel();
    }
}

/// State shared by a worker's tasks.
pub(crate) struct Shared {
    pub id: Arc<str>,
    pub store: Arc<dyn Store>,
    pub registry: Registry,
    pub config: QueueConfig,
    pub running: Mutex<HashMap<i64, Running>>,
    /// Jobs whose handler returned and whose outcome is not written yet: their leases are
    /// still renewed, so a slow or failing write cannot let the job be rescued.
    pub unwritten: Mutex<HashMap<i64, Lease>>,
    pub wake: HashMap<String, Arc<Notify>>,
    pub outcomes: mpsc::UnboundedSender<finish::Outcome>,
    /// Fires when the finisher was told to stop: writes give up after a bounded time.
    pub finishing: CancellationToken,
    pub clock: Clock,
    /// The origin of [`Shared::mark`].
    pub epoch: Instant,
    /// The kinds this worker has handlers for (the only ones it claims).
    pub kinds: Vec<String>,
}

impl Shared {
    /// Every lease this worker must keep alive: running jobs and unwritten outcomes.
    pub(crate) fn running_leases(&self) -> Vec<Lease> {
        let mut leases: Vec<Lease> = self.lock_running().values().map(|r| r.lease).collect();
        leases.extend(self.lock_unwritten().values().copied());
        leases.sort_unstable_by_key(|l| (l.job_id, l.token));
        leases.dedup();
        leases
    }

    pub(crate) fn lock_unwritten(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Lease>> {
        self.unwritten
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The time records are stamped with.
    pub(crate) fn now(&self) -> chrono::DateTime<chrono::Utc> {
        (self.clock)()
    }

    /// An instant as milliseconds since the worker started (what [`Running::renewed`] holds).
    pub(crate) fn mark(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant a [`Shared::mark`] stands for.
    pub(crate) fn instant(&self, mark: u64) -> Instant {
        self.epoch + Duration::from_millis(mark)
    }

    /// Records that the leases in `kept` were renewed by a request sent at `sent`.
    pub(crate) fn renewed(&self, kept: &[Lease], sent: Instant) {
        let mark = self.mark(sent);
        let running = self.lock_running();
        for lease in kept {
            if let Some(r) = running.get(&lease.job_id).filter(|r| r.lease == *lease) {
                r.renewed.fetch_max(mark, Ordering::Relaxed);
            }
        }
    }

    /// The handler of `lease` returned with an outcome to write: its lease stays renewed
    /// until the finisher has written it.
    pub(crate) fn hand_over(&self, lease: Lease) {
        self.lock_unwritten().insert(lease.job_id, lease);
        self.lock_running().remove(&lease.job_id);
    }

    /// The outcome of `lease` was written (or refused by the fencing guard): stop renewing it.
    pub(crate) fn written(&self, leases: impl IntoIterator<Item = Lease>) {
        let mut unwritten = self.lock_unwritten();
        for lease in leases {
            if unwritten.get(&lease.job_id) == Some(&lease) {
                unwritten.remove(&lease.job_id);
            }
        }
    }

    pub(crate) fn lock_running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fires the cancellation of the running job holding `lease`; false when the job is no
    /// longer running here (it finished meanwhile).
    pub(crate) fn stop(&self, lease: Lease, reason: StopReason) -> bool {
        match self.lock_running().get(&lease.job_id) {
            Some(r) if r.lease == lease => {
                r.stop(reason);
                true
            }
            _ => false,
        }
    }

    fn wake_all(&self) {
        for n in self.wake.values() {
            n.notify_one();
        }
    }
}

/// A worker: serves the configured queues until its shutdown token fires.
pub struct Worker {
    store: Arc<dyn Store>,
    registry: Registry,
    config: QueueConfig,
    id: String,
    clock: Clock,
}

impl Worker {
    /// A worker with a fresh id (`<hostname>-<pid>-<random>`).
    #[must_use]
    pub fn new(store: Arc<dyn Store>, registry: Registry, config: QueueConfig) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("{}-{}-{}", hostname(), std::process::id(), &suffix[..8]);
        Self {
            store,
            registry,
            config,
            id,
            clock: Arc::new(cc_domain::now),
        }
    }

    /// Stamps records with another clock (tests of hosts whose clocks disagree). Leases are
    /// counted on the database's clock whatever this says.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Uses a given id instead of a generated one.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = id.into();
        self
    }

    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` fires, then stops claiming, lets running jobs finish within
    /// `shutdown_timeout`, releases the rest (without spending an attempt) and returns.
    ///
    /// # Errors
    /// The configuration is invalid, or the worker could not register.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), String> {
        self.config.validate()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let kinds = self.registry.kinds();
        let shared = Arc::new(Shared {
            id: Arc::from(self.id.as_str()),
            store: self.store.clone(),
            registry: self.registry,
            wake: self
                .config
                .queues
                .iter()
                .map(|q| (q.name.clone(), Arc::new(Notify::new())))
                .collect(),
            config: self.config,
            running: Mutex::new(HashMap::new()),
            unwritten: Mutex::new(HashMap::new()),
            outcomes: tx,
            finishing: CancellationToken::new(),
            clock: self.clock,
            epoch: Instant::now(),
            kinds,
        });
        let now = shared.now();
        let info = WorkerInfo {
            id: self.id.clone(),
            hostname: hostname(),
            pid: i64::from(std::process::id()),
            queues: shared
                .config
                .queues
                .iter()
                .map(|q| q.name.clone())
                .collect(),
            kinds: Some(shared.kinds.clone()),
            started_at: now,
            heartbeat_at: now,
        };
        retry_until(&shutdown, || shared.store.register_worker(&info)).await;
        tracing::info!(worker_id = %self.id, queues = ?info.queues, "worker started");
        describe_metrics();

        // Tasks that run until `stop_claiming` (claimers, wake-ups, maintenance) and those
        // that outlive it to see running jobs through (finisher, lease keeper).
        let stop_claiming = shutdown.child_token();
        let stop_leases = CancellationToken::new();
        let mut claimers = Vec::new();
        let mut semaphores = Vec::new();
        for q in &shared.config.queues {
            let sem = Arc::new(Semaphore::new(q.concurrency as usize));
            semaphores.push((sem.clone(), q.concurrency));
            claimers.push(tokio::spawn(claim::run(
                shared.clone(),
                q.name.clone(),
                sem,
                stop_claiming.clone(),
            )));
        }
        let mut background = vec![
            tokio::spawn(maintenance::listen(shared.clone(), stop_claiming.clone())),
            tokio::spawn(maintenance::rescue(shared.clone(), stop_claiming.clone())),
            tokio::spawn(maintenance::prune(shared.clone(), stop_claiming.clone())),
        ];
        for entry in shared.config.cron.clone() {
            background.push(tokio::spawn(crate::cron::run_entry(
                shared.store.clone(),
                entry,
                stop_claiming.clone(),
            )));
        }
        let keeper = tokio::spawn(lease::keep(shared.clone(), stop_leases.clone()));
        let finisher = tokio::spawn(finish::run(shared.clone(), rx));

        shutdown.cancelled().await;
        tracing::info!(worker_id = %self.id, running = shared.lock_running().len(), "worker stopping: no new claims");
        for c in claimers {
            let _ = c.await;
        }
        shutdown::drain(&shared, &semaphores).await;
        for b in background {
            let _ = b.await;
        }
        // The finisher writes what is left, then stops; the leases of unwritten outcomes are
        // renewed until then.
        let _ = shared.outcomes.send(finish::Outcome::Stop);
        let _ = finisher.await;
        stop_leases.cancel();
        let _ = keeper.await;
        if let Err(e) = shared.store.deregister_worker(&self.id).await {
            tracing::warn!(error = %e, "could not deregister the worker");
        }
        tracing::info!(worker_id = %self.id, "worker stopped");
        Ok(())
    }
}

fn describe_metrics() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        "cc_jobs_claimed_total",
        "Jobs claimed by this process's workers, by queue."
    );
    describe_counter!("cc_job_executions_total", "Finished job attempts by kind and outcome (completed, failed, failed_permanently, cancelled, snoozed).");
    describe_counter!(
        "cc_job_retries_total",
        "Failed attempts that were scheduled to run again, by kind."
    );
    describe_counter!(
        "cc_jobs_discarded_total",
        "Jobs discarded by this process (a permanent failure, the last attempt failed, or the last lease expired), by kind."
    );
    describe_counter!(
        "cc_jobs_rescued_total",
        "Jobs returned to the queue after their worker's lease expired."
    );
    describe_histogram!(
        "cc_job_duration_seconds",
        Unit::Seconds,
        "Handler run time per attempt, by kind."
    );
    describe_histogram!(
        "cc_job_start_delay_seconds",
        Unit::Seconds,
        "From enqueue to the first attempt's start, by queue."
    );
}

/// Retries a store call every second until it succeeds or `stop` fires.
async fn retry_until<F, Fut, T>(stop: &CancellationToken, mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = cc_store::Result<T>>,
{
    loop {
        match f().await {
            Ok(v) => return Some(v),
            Err(e) => tracing::warn!(error = %e, "queue store call failed; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}
