//! The claim loop of one queue: claim as many due jobs as there are free slots (up to the
//! batch size) in one round trip, start them, and sleep until woken or the poll interval.
//! Only kinds this worker has handlers for are claimed: during a rolling deploy, jobs of a
//! new kind wait for a worker that can run them instead of failing here.

use std::sync::Arc;

use cc_store::jobs::ClaimRequest;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::{execute, Shared};

pub(crate) async fn run(
    shared: Arc<Shared>,
    queue: String,
    slots: Arc<Semaphore>,
    stop: CancellationToken,
) {
    let Some(wake) = shared.wake.get(&queue).cloned() else {
        return;
    };
    let batch = shared.config.claim_batch as usize;
    loop {
        // Wait for one free slot, then take every other free one up to the batch size.
        let mut permits = tokio::select! {
            () = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        while permits.num_permits() < batch {
            match slots.clone().try_acquire_owned() {
                Ok(p) => permits.merge(p),
                Err(_) => break,
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
