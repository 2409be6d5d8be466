//! The worker runtime: one [`Worker`] per process serves its queues with these tasks:
//!
//! - a claimer per queue (batched claims, woken by the store's signals or the poll interval),
//! - one task per running job (handler, timeout, panic capture),
//! - a finisher that writes outcomes in batches, guarded by fencing tokens,
//! - a lease keeper that renews every lease in one statement and polls cancel requests,
//! - maintenance: the rescuer of expired leases, the pruner, and the cron scheduler.

mod claim;
mod execute;
mod finish;
mod lease;
mod maintenance;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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
    /// Shutdown ran out of time; the job was released.
    Shutdown,
}

/// A job this process is running.
pub(crate) struct Running {
    pub lease: Lease,
    pub cancel: CancellationToken,
    pub reason: Arc<OnceLock<StopReason>>,
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
    pub wake: HashMap<String, Arc<Notify>>,
    pub outcomes: mpsc::UnboundedSender<finish::Outcome>,
}

impl Shared {
    pub(crate) fn running_leases(&self) -> Vec<Lease> {
        self.lock_running().values().map(|r| r.lease).collect()
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
}

impl Worker {
    /// A worker with a fresh id (`<hostname>-<pid>-<random>`).
    #[must_use]
    pub fn new(store: Arc<dyn Store>, registry: Registry, config: QueueConfig) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        let id = format!("{}-{}-{}", hostname(), std::process::id(), &suffix[..8]);
        let queues: Vec<String> = config.queues.iter().map(|q| q.name.clone()).collect();
        register_series(&registry.kinds(), &queues);
        Self {
            store,
            registry,
            config,
            id,
        }
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
            outcomes: tx,
        });
        let now = cc_domain::now();
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
        drain(&shared, &semaphores).await;
        stop_leases.cancel();
        let _ = keeper.await;
        for b in background {
            let _ = b.await;
        }
        // The finisher writes what is left, then stops.
        let _ = shared.outcomes.send(finish::Outcome::Stop);
        let _ = finisher.await;
        if let Err(e) = shared.store.deregister_worker(&self.id).await {
            tracing::warn!(error = %e, "could not deregister the worker");
        }
        tracing::info!(worker_id = %self.id, "worker stopped");
        Ok(())
    }
}

/// The `outcome` label values of `cc_job_executions_total`.
const EXECUTION_OUTCOMES: [&str; 5] = [
    "completed",
    "failed",
    "failed_permanently",
    "cancelled",
    "snoozed",
];

/// Creates the job series at 0 for every kind this worker handles and every queue it claims
/// from (when the worker is built, before it or a metrics listener runs), so dashboards and `increase()` alerts have a series from the first scrape (as
/// Prometheus's instrumentation guide asks) rather than from the first job of each kind.
fn register_series(kinds: &[String], queues: &[String]) {
    for kind in kinds {
        for outcome in EXECUTION_OUTCOMES {
            metrics::counter!("cc_job_executions_total", "kind" => kind.clone(), "outcome" => outcome)
                .increment(0);
        }
        metrics::counter!("cc_job_retries_total", "kind" => kind.clone()).increment(0);
        metrics::counter!("cc_jobs_discarded_total", "kind" => kind.clone()).increment(0);
        // Registering the histogram exposes it with zero observations.
        let _ = metrics::histogram!("cc_job_duration_seconds", "kind" => kind.clone());
    }
    for queue in queues {
        metrics::counter!("cc_jobs_claimed_total", "queue" => queue.clone()).increment(0);
    }
    metrics::counter!("cc_jobs_rescued_total").increment(0);
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

/// Waits for running jobs to finish within the shutdown bound, then releases the rest.
async fn drain(shared: &Arc<Shared>, semaphores: &[(Arc<Semaphore>, u32)]) {
    let all_idle = async {
        for (sem, n) in semaphores {
            if let Ok(p) = sem.acquire_many(*n).await {
                p.forget();
            }
        }
    };
    if tokio::time::timeout(shared.config.shutdown_timeout, all_idle)
        .await
        .is_ok()
    {
        return;
    }
    let leases: Vec<Lease> = {
        let running = shared.lock_running();
        for r in running.values() {
            r.stop(StopReason::Shutdown);
        }
        running.values().map(|r| r.lease).collect()
    };
    if leases.is_empty() {
        return;
    }
    let batch = cc_store::jobs::Finish {
        worker_id: &shared.id,
        now: cc_domain::now(),
        items: &leases,
    };
    match shared.store.release_jobs(batch).await {
        Ok(ids) => tracing::info!(released = ids.len(), "released unfinished jobs"),
        Err(e) => {
            tracing::warn!(error = %e, "could not release jobs; their leases will expire and they will be rescued")
        }
    }
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
