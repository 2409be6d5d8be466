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
    /// Write what is pending and stop.
    Stop,
}

const MAX_BATCH: usize = 2_000;

pub(crate) async fn run(shared: Arc<Shared>, mut rx: mpsc::UnboundedReceiver<Outcome>) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    let mut cancelled = Vec::new();
    let mut stopping = false;
    while !stopping {
        let Some(first) = rx.recv().await else { break };
        let mut next = Some(first);
        let mut n = 0;
        // Take whatever else is already waiting: batches grow with load, latency stays low.
        while let Some(o) = next.take() {
            match o {
                Outcome::Completed(c) => done.push(c),
                Outcome::Failed(f) => failed.push(f),
                Outcome::Cancelled(l) => cancelled.push(l),
                Outcome::Stop => stopping = true,
            }
            n += 1;
            if n < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        write(&shared, &mut done, &mut failed, &mut cancelled, stopping).await;
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
