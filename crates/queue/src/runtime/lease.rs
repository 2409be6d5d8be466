//! The lease keeper: renews every lease of this worker in one statement each heartbeat
//! interval (which also refreshes the worker's registration), and polls for cancel requests
//! more often so a cancelled handler hears about it within a second. Leases are renewed on
//! the database's clock; each renewal is noted on the running job, whose watchdog stops the
//! handler when renewals stop succeeding.

use std::sync::Arc;

use cc_store::jobs::Heartbeat;
use tokio_util::sync::CancellationToken;

use super::{Shared, StopReason};

pub(crate) async fn keep(shared: Arc<Shared>, stop: CancellationToken) {
    let mut heartbeat = tokio::time::interval(shared.config.heartbeat_interval);
    let mut cancel_poll = tokio::time::interval(shared.config.cancel_poll_interval);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    cancel_poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = heartbeat.tick() => beat(&shared).await,
            _ = cancel_poll.tick() => poll_cancels(&shared).await,
        }
    }
}

async fn beat(shared: &Shared) {
    let leases = shared.running_leases();
    let hb = Heartbeat {
        worker_id: &shared.id,
        now: shared.now(),
        lease_ttl: shared.config.lease_ttl,
        leases: &leases,
    };
    let sent = std::time::Instant::now();
    match shared.store.heartbeat(&hb).await {
        Ok(reply) => {
            let kept: Vec<_> = leases
                .iter()
                .filter(|l| !reply.lost.contains(l))
                .copied()
                .collect();
            shared.renewed(&kept, sent);
            // A job that finished after the heartbeat read its lease shows as lost; only jobs
            // still running here really lost theirs.
            for lease in reply.lost {
                if shared.stop(lease, StopReason::LeaseLost) {
                    tracing::warn!(job_id = lease.job_id, "lease lost; stopping the job");
                }
            }
            for lease in reply.cancel_requested {
                shared.stop(lease, StopReason::Cancelled);
            }
        }
        Err(e) => tracing::warn!(error = %e, leases = leases.len(), "heartbeat failed"),
    }
}

async fn poll_cancels(shared: &Shared) {
    let leases = shared.running_leases();
    if leases.is_empty() {
        return;
    }
    match shared.store.cancel_requests(&leases).await {
        Ok(cancel) => {
            for lease in cancel {
                if shared.stop(lease, StopReason::Cancelled) {
                    tracing::info!(job_id = lease.job_id, "cancel requested; stopping the job");
                }
            }
        }
        Err(e) => tracing::debug!(error = %e, "polling cancel requests failed"),
    }
}
