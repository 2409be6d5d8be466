//! The finisher: collects outcomes from running jobs and writes them in batches (one
//! statement per kind of outcome), each guarded by the job's fencing token.

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
        let (mut done, mut failed, mut cancelled) = (Vec::new(), Vec::new(), Vec::new());
        let mut next = Some(first);
        let mut n = 0;
        while let Some(o) = next.take() {
            match o {
                Outcome::Completed(c) => done.push(c),
                Outcome::Failed(f) => failed.push(f),
                Outcome::Cancelled(l) => cancelled.push(l),
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
            write(&shared, &mut done, &mut failed, &mut cancelled, stopping).await;
            drop(slot);
        });
        while writes.try_join_next().is_some() {}
    }
    while writes.join_next().await.is_some() {}
}

/// Records a snooze (rare, so one statement each). If it cannot be written the lease expires
/// and the rescuer runs the job again, spending an attempt: late, never lost.
async fn snooze(shared: &Shared, lease: Lease, until: chrono::DateTime<chrono::Utc>, why: &str) {
    for delay in [100, 400, 1600] {
        let note = format!("snoozed: {why}");
        match shared
            .store
            .snooze_job(lease, &shared.id, cc_domain::now(), until, &note)
            .await
        {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, job_id = lease.job_id, "recording a snooze failed; retrying");
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
    }
}

/// Writes the batches, retrying while the store is unavailable (the outcomes are kept; if the
/// leases expire meanwhile the jobs are rescued and the late write is rejected by the guard).
async fn write(
    shared: &Shared,
    done: &mut Vec<Completion>,
    failed: &mut Vec<Failure>,
    cancelled: &mut Vec<Lease>,
    stopping: bool,
) {
    let mut delay = Duration::from_millis(100);
    loop {
        match write_once(shared, done, failed, cancelled).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(error = %e, pending = done.len() + failed.len() + cancelled.len(), "recording job outcomes failed; retrying");
                if stopping && delay > Duration::from_secs(2) {
                    tracing::warn!(
                        "giving up on recording outcomes at shutdown; the jobs will be rescued"
                    );
                    return;
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn write_once(
    shared: &Shared,
    done: &mut Vec<Completion>,
    failed: &mut Vec<Failure>,
    cancelled: &mut Vec<Lease>,
) -> cc_store::Result<()> {
    let now = cc_domain::now();
    let worker_id = &*shared.id;
    let started = std::time::Instant::now();
    let n = done.len() + failed.len() + cancelled.len();
    if !done.is_empty() {
        let ids = shared
            .store
            .complete_jobs(Finish {
                worker_id,
                now,
                items: done,
            })
            .await?;
        report_rejected("completion", done.len(), ids.len());
        done.clear();
    }
    if !failed.is_empty() {
        let ids = shared
            .store
            .fail_jobs(Finish {
                worker_id,
                now,
                items: failed,
            })
            .await?;
        report_rejected("failure", failed.len(), ids.len());
        failed.clear();
    }
    if !cancelled.is_empty() {
        let ids = shared
            .store
            .cancel_running(Finish {
                worker_id,
                now,
                items: cancelled,
            })
            .await?;
        report_rejected("cancellation", cancelled.len(), ids.len());
        cancelled.clear();
    }
    tracing::trace!(
        n,
        elapsed_us = started.elapsed().as_micros(),
        "recorded outcomes"
    );
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
