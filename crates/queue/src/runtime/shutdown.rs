//! Draining a worker at shutdown without ever releasing a job whose handler still runs.
//!
//! 1. Running jobs get `shutdown_timeout` to finish on their own.
//! 2. The rest are asked to stop (their cancellation tokens fire) and get another
//!    `shutdown_timeout` to return. A handler that returns is released when it failed or
//!    stopped (no attempt spent), or recorded as it ended when it succeeded — by the
//!    finisher, after the handler is gone, so a release never overlaps a running handler.
//! 3. Handlers that still run are dropped; their jobs are *not* released: their leases lapse
//!    once the worker stops renewing them and the rescuer takes over, a lease TTL later.
//!
//! Leases stay renewed throughout, so no other worker can take a job before its handler here
//! is gone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::{Shared, StopReason};

/// How long dropped handlers get to unwind (they drop at their next await point).
const ABORT_BOUND: Duration = Duration::from_secs(2);

pub(crate) async fn drain(shared: &Arc<Shared>, semaphores: &[(Arc<Semaphore>, u32)]) {
    let bound = shared.config.shutdown_timeout;
    if tokio::time::timeout(bound, idle(semaphores)).await.is_ok() {
        return;
    }
    let stopping = stop_all(shared, |r| r.stop(StopReason::Shutdown));
    tracing::info!(
        stopping,
        "shutdown: asked unfinished jobs to stop; waiting for their handlers to return"
    );
    if tokio::time::timeout(bound, idle(semaphores)).await.is_ok() {
        return;
    }
    let dropped = stop_all(shared, |r| r.abort.cancel());
    tracing::warn!(
        dropped,
        "shutdown: dropping handlers that ignored cancellation; their jobs are not released \
         and will be rescued when their leases expire"
    );
    if tokio::time::timeout(ABORT_BOUND, idle(semaphores))
        .await
        .is_err()
    {
        tracing::warn!("shutdown: some handlers did not unwind; exiting anyway");
    }
}

fn stop_all(shared: &Shared, f: impl Fn(&super::Running)) -> usize {
    let running = shared.lock_running();
    running.values().for_each(f);
    running.len()
}

/// Resolves once every slot of every queue is free: no handler runs and every outcome has
/// been handed to the finisher (a job's slot is freed only after that).
async fn idle(semaphores: &[(Arc<Semaphore>, u32)]) {
    let mut held = Vec::with_capacity(semaphores.len());
    for (sem, n) in semaphores {
        if let Ok(p) = sem.acquire_many(*n).await {
            held.push(p);
        }
    }
}
