//! The lease watchdog of one running job: when the lease has not been renewed for two thirds
//! of its length (heartbeats failing: lost connection, partition, overloaded database), the
//! handler is asked to stop; at five sixths it is dropped. Both happen before the lease can
//! expire on the database's clock — a lease lasts at least `lease_ttl` from the moment the
//! request that set it was sent, which is what [`super::Running::renewed`] records — so the
//! rescuer never hands the job to another worker while this handler still runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Shared;

/// Without a renewal for this long, the handler is asked to stop.
pub(crate) fn stop_after(ttl: Duration) -> Duration {
    ttl * 2 / 3
}

/// Without a renewal for this long, the handler is dropped.
pub(crate) fn drop_after(ttl: Duration) -> Duration {
    ttl * 5 / 6
}

/// Resolves when the handler must be dropped; calls `stop` once at the earlier deadline.
pub(crate) async fn watch(shared: &Shared, renewed: &AtomicU64, stop: impl FnOnce()) {
    let ttl = shared.config.lease_ttl;
    let mut stop = Some(stop);
    loop {
        let mark = renewed.load(Ordering::Relaxed);
        let after = if stop.is_some() {
            stop_after(ttl)
        } else {
            drop_after(ttl)
        };
        tokio::time::sleep_until((shared.instant(mark) + after).into()).await;
        if renewed.load(Ordering::Relaxed) != mark {
            continue;
        }
        match stop.take() {
            Some(f) => {
                tracing::warn!(
                    unrenewed_ms = after.as_millis(),
                    "the lease could not be renewed; stopping the job before it expires"
                );
                f();
            }
            None => return,
        }
    }
}
