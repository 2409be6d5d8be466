//! The finisher: collects outcomes from running jobs and writes them in batches (one
//! statement per kind of outcome), each guarded by the job's fencing token. Until an outcome
//! is written the job's lease stays renewed ([`Shared::written`] ends that), so a store that
//! is slow or failing delays the outcome but never lets the job be rescued and run again.
//! Writes are retried until they succeed; only at shutdown do they give up, after a bound.

use std::sync::Arc;
use std::time::Duration;

use cc_store::jobs::{Completion, Failure, Finish, Lease};
use tokio::sync::mpsc;

use super::Shared;

/// How an attempt ended, as the finisher records it.
pub(crate) enum Outcome {
    Completed(Completion),
    Failed(Failure),
    Cancelled(Lease),
    /// Back to `scheduled` at the time given, without spending the attempt.
    Snoozed(Lease, chrono::DateTime<chrono::Utc>, String),
    /// Back to `available` without spending the attempt (stopped at shutdown, or a kind this
    /// worker has no handler for).
    Released(Lease),
    /// Write what is pending and stop.
    Stop,
}

const MAX_BATCH: usize = 2_000;
/// Batches being written at once: while one waits for its commit (a WAL flush), the next is
/// already on its way, and the database can flush both with one sync.
const WRITES_IN_FLIGHT: usize = 2;

pub(crate) async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Outcome>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(WRITES_IN_FLIGHT));
    let mut writes = tokio::task::JoinSet::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.recv().await else { break };
        // Wait for a write slot before collecting: meanwhile outcomes pile up in the channel,
        // so batches grow with load and latency stays low when idle.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let mut batch = Batch::default();
        let mut next = Some(first);
        let mut n = 0;
        while let Some(o) = next.take() {
            match o {
                Outcome::Completed(c) => batch.done.push(c),
                Outcome::Failed(f) => batch.failed.push(f),
                Outcome::Cancelled(l) => batch.cancelled.push(l),
                Outcome::Released(l) => batch.released.push(l),
                Outcome::Snoozed(lease, until, why) => {
                    let shared = shared.clone();
                    writes.spawn(async move { snooze(&shared, lease, until, &why).await });
                }
                Outcome::Stop => stopping = true,
            }
            n += 1;
            if n < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let shared = shared.clone();
        writes.spawn(async move {
            write(&shared, &mut batch).await;
            drop(slot);
        });
        while writes.try_join_next().is_some() {}
    }
    while writes.join_next().await.is_some() {}
}

/// Outcomes written together, one statement per kind.
#[derive(Default)]
struct Batch {
    done: Vec<Completion>,
    failed: Vec<Failure>,
    cancelled: Vec<Lease>,
    released: Vec<Lease>,
}

impl Batch {
    fn len(&self) -> usize {
        self.done.len() + self.failed.len() + self.cancelled.len() + self.released.len()
    }
}

/// The delay between retries of a write: growing to 5 s; once the finisher is stopping, a
/// write gives up when the delay passes 2 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Self(Duration::from_millis(100))
    }

    /// Waits before the next try; false when the write should give up (shutdown).
    async fn wait(&mut self, shared: &Shared, what: &str, error: &cc_store::StoreError) -> bool {
        tracing::warn!(%error, "recording {what} failed; retrying");
        if shared.finishing.is_cancelled() && self.0 > Duration::from_secs(2) {
            tracing::warn!(
                "giving up on recording {what} at shutdown; the leases will expire and the jobs will be rescued"
            );
            return false;
        }
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(5));
        true
    }
}

/// Records a snooze (rare, so one statement each), retrying like every outcome: a snooze
/// never spends an attempt, however long the store takes to accept it.
async fn snooze(shared: &Shared, lease: Lease, until: chrono::DateTime<chrono::Utc>, why: &str) {
    let note = format!("snoozed: {why}");
    let mut backoff = Backoff::new();
    loop {
        let r = shared
            .store
            .snooze_job(lease, &shared.id, shared.now(), until, &note)
            .await;
        match r {
            Ok(_) => break,
            Err(e) if !backoff.wait(shared, "a snooze", &e).await => break,
            Err(_) => {}
        }
    }
    shared.written([lease]);
}

/// Writes a batch, retrying while the store is unavailable (the leases stay renewed
/// meanwhile; if they are lost anyway, the fencing guard rejects the late write).
async fn write(shared: &Shared, batch: &mut Batch) {
    let mut backoff = Backoff::new();
    loop {
        let started = std::time::Instant::now();
        let n = batch.len();
        match write_once(shared, batch).await {
            Ok(()) => {
                tracing::trace!(
                    n,
                    elapsed_us = started.elapsed().as_micros(),
                    "recorded outcomes"
                );
                return;
            }
            Err(e) if !backoff.wait(shared, "job outcomes", &e).await => break,
            Err(_) => {}
        }
    }
    // Given up at shutdown: nothing more to renew either.
    shared.written(
        batch
            .done
            .iter()
            .map(|c| c.lease)
            .chain(batch.failed.iter().map(|f| f.lease))
            .chain(batch.cancelled.iter().copied())
            .chain(batch.released.iter().copied()),
    );
}

/// Writes what is left of a batch; each part is cleared (and its leases let go) once written.
async fn write_once(shared: &Shared, b: &mut Batch) -> cc_store::Result<()> {
    let now = shared.now();
    let worker_id = &*shared.id;
    if !b.done.is_empty() {
        let items = &b.done;
        let ids = shared
            .store
            .complete_jobs(Finish {
                worker_id,
                now,
                items,
            })
            .await?;
        report_rejected("completion", items.len(), ids.len());
        shared.written(b.done.drain(..).map(|c| c.lease));
    }
    if !b.failed.is_empty() {
        let items = &b.failed;
        let ids = shared
            .store
            .fail_jobs(Finish {
                worker_id,
                now,
                items,
            })
            .await?;
        report_rejected("failure", items.len(), ids.len());
        shared.written(b.failed.drain(..).map(|f| f.lease));
    }
    if !b.cancelled.is_empty() {
        let items = &b.cancelled;
        let ids = shared
            .store
            .cancel_running(Finish {
                worker_id,
                now,
                items,
            })
            .await?;
        report_rejected("cancellation", items.len(), ids.len());
        shared.written(b.cancelled.drain(..));
    }
    if !b.released.is_empty() {
        let items = &b.released;
        let ids = shared
            .store
            .release_jobs(Finish {
                worker_id,
                now,
                items,
            })
            .await?;
        tracing::info!(
            released = ids.len(),
            "released jobs without spending their attempt"
        );
        shared.written(b.released.drain(..));
    }
    Ok(())
}

fn report_rejected(what: &str, sent: usize, written: usize) {
    if written < sent {
        tracing::warn!(
            rejected = sent - written,
            "{what} not recorded for jobs whose lease this worker no longer holds"
        );
    }
}
