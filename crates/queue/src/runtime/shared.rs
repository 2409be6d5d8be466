//! What a worker's tasks share: the jobs running here and the outcomes not yet written (whose
//! leases the keeper renews), the clock records are stamped with, and the handles to the
//! store, the registry and the finisher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cc_store::jobs::Lease;
use cc_store::Store;
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use super::finish;
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
    /// Fires when the worker stops: from then on, writes give up after a bounded time.
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

    pub(crate) fn wake_all(&self) {
        for n in self.wake.values() {
            n.notify_one();
        }
    }
}
