//! The claim loop of one queue: claim as many due jobs as there are free slots (up to the
//! batch size) in one round trip, start them, and sleep until woken or the poll interval.
//! Only kinds this worker has handlers for are claimed: during a rolling deploy, jobs of a
//! new kind wait for a worker that can run them instead of failing here.
//!
//! While a queue is busy with a backlog, claims are gathered: when a slot frees up and at
//! least [`gather_size`] others are still taken, the claimer waits up to `claim_gather` for more slots to
//! free ([`gather_size`] of them) and claims them in one round trip. Each claim is a commit
//! (a WAL flush on PostgreSQL) and a statement that steps through the waiting jobs; jobs that
//! spend their time waiting on a directory server finish a few at a time, so without this a
//! busy queue of 256 provisioning jobs claimed about three jobs per round trip. An idle
//! worker, a queue whose last claim found it empty, and a queue of fewer than 16 slots claim
//! at once as before. See docs/jobs.md ("Claiming").

use std::sync::Arc;

use cc_store::jobs::ClaimRequest;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{execute, Shared};

pub(crate) async fn run(
    shared: Arc<Shared>,
    queue: String,
    slots: Arc<Semaphore>,
    concurrency: usize,
    stop: CancellationToken,
) {
    let Some(wake) = shared.wake.get(&queue).cloned() else {
        return;
    };
    let batch = shared.config.claim_batch as usize;
    let gather = gather_size(concurrency, batch);
    // Whether the last claim got every job it asked for: there may be more waiting.
    let mut backlog = false;
    loop {
        // Wait for one free slot, then take every other free one up to the batch size.
        let mut permits = tokio::select! {
            () = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        take_free(&slots, &mut permits, batch);
        // Busy, with a backlog: gather more free slots before claiming (module docs).
        let running = concurrency.saturating_sub(permits.num_permits());
        if backlog && permits.num_permits() < gather && running >= gather {
            let until = tokio::time::Instant::now() + shared.config.claim_gather;
            while permits.num_permits() < gather {
                tokio::select! {
                    () = stop.cancelled() => return,
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => permits.merge(p),
                        Err(_) => return,
                    },
                    () = tokio::time::sleep_until(until) => break,
                }
                take_free(&slots, &mut permits, batch);
            }
        }
        let wanted = permits.num_permits();
        let now = shared.now();
        let req = ClaimRequest {
            worker_id: &shared.id,
            queue: &queue,
            kinds: Some(&shared.kinds),
            limit: u32::try_from(wanted).unwrap_or(u32::MAX),
            now,
            lease_ttl: shared.config.lease_ttl,
        };
        let started = std::time::Instant::now();
        let claimed = match shared.store.claim_jobs(&req).await {
            Ok(jobs) => jobs,
            Err(e) => {
                tracing::warn!(%queue, error = %e, "claiming jobs failed");
                Vec::new()
            }
        };
        let got = claimed.len();
        tracing::trace!(%queue, wanted, got, elapsed_us = started.elapsed().as_micros(), "claimed jobs");
        metrics::counter!("cc_jobs_claimed_total", "queue" => queue.clone()).increment(got as u64);
        for job in claimed {
            if job.attempt == 1 {
                let delay = (now - job.created_at).to_std().unwrap_or_default();
                metrics::histogram!("cc_job_start_delay_seconds", "queue" => queue.clone())
                    .record(delay.as_secs_f64());
            }
            let Some(permit) = permits.split(1) else {
                break;
            };
            execute::start(&shared, job, permit, started);
        }
        drop(permits);
        backlog = got == wanted;
        if got == wanted {
            // A full batch: there may be more waiting.
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(shared.config.poll_interval) => {}
        }
    }
}

/// Takes free slots into `permits` without waiting, up to `batch` in all.
fn take_free(
    slots: &Arc<Semaphore>,
    permits: &mut tokio::sync::OwnedSemaphorePermit,
    batch: usize,
) {
    while permits.num_permits() < batch {
        match slots.clone().try_acquire_owned() {
            Ok(p) => permits.merge(p),
            Err(_) => break,
        }
    }
}

/// How many free slots a busy queue gathers before it claims: an eighth of its slots, at
/// least one (so a queue of fewer than 16 never waits) and at most a claim batch.
pub(crate) fn gather_size(concurrency: usize, batch: usize) -> usize {
    (concurrency / 8).clamp(1, batch.max(1))
}

#[cfg(test)]
mod tests {
    use super::gather_size;

    #[test]
    fn small_queues_never_gather() {
        assert_eq!(gather_size(1, 200), 1);
        assert_eq!(gather_size(15, 200), 1);
        assert_eq!(gather_size(20, 200), 2);
        assert_eq!(gather_size(256, 200), 32);
        assert_eq!(gather_size(10_000, 200), 200);
        assert_eq!(gather_size(256, 0), 1);
    }
}
