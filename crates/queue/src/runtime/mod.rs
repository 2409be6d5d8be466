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
mod shared;
mod shutdown;
mod watchdog;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cc_domain::WorkerInfo;
use cc_store::Store;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::{QueueConfig, Registry};

pub use shared::Clock;
pub(crate) use shared::{Running, Shared, StopReason};

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
        let queues: Vec<String> = config.queues.iter().map(|q| q.name.clone()).collect();
        register_series(&registry.kinds(), &queues);
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
                q.concurrency as usize,
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
        // (Writes stuck on an unavailable store give up after a bound from here on, which
        // also frees the finisher to receive the stop.)
        shared.finishing.cancel();
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
        "cc_jobs_unhandled_kind_total",
        "Claimed jobs released because this worker has no handler for their kind, by kind (claims are filtered by kind, so this stays 0)."
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
