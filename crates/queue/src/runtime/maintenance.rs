//! Background duties every worker shares: wake-ups, rescuing expired leases, retention.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Shared;

/// Turns the store's signals (PostgreSQL `NOTIFY`, SQLite in-process) into claimer wake-ups.
pub(crate) async fn listen(shared: Arc<Shared>, stop: CancellationToken) {
    if shared.config.poll_only {
        return;
    }
    loop {
        let mut signals = match shared.store.job_signals().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for new jobs; polling until it works");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(Duration::from_secs(2)) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                () = stop.cancelled() => return,
                n = signals.next() => n,
            };
            match next {
                Ok(Some(queue)) => {
                    if let Some(n) = shared.wake.get(&queue) {
                        n.notify_one();
                    }
                }
                Ok(None) => shared.wake_all(),
                Err(e) => {
                    tracing::warn!(error = %e, "job signals stopped; reconnecting");
                    shared.wake_all();
                    break;
                }
            }
        }
    }
}

/// Returns expired leases to the queue, every `rescue_interval`. Expiry is judged on the
/// database's clock, so this host's clock cannot make a live lease look expired.
pub(crate) async fn rescue(shared: Arc<Shared>, stop: CancellationToken) {
    const BATCH: u32 = 1_000;
    let mut tick = tokio::time::interval(shared.config.rescue_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        loop {
            match shared.store.rescue_expired(shared.now(), BATCH).await {
                Ok(n) => {
                    if n > 0 {
                        metrics::counter!("cc_jobs_rescued_total").increment(n);
                        tracing::warn!(rescued = n, "rescued jobs whose lease expired");
                        shared.wake_all();
                    }
                    if n < u64::from(BATCH) {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rescuing expired leases failed");
                    break;
                }
            }
        }
    }
}

/// Deletes finished jobs older than the retention period, and uploaded roster files past
/// theirs, every `prune_interval`.
pub(crate) async fn prune(shared: Arc<Shared>, stop: CancellationToken) {
    const BATCH: u32 = 10_000;
    let mut tick = tokio::time::interval(shared.config.prune_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let retention =
            chrono::Duration::from_std(shared.config.retention).unwrap_or(chrono::Duration::MAX);
        let Some(before) = shared.now().checked_sub_signed(retention) else {
            continue;
        };
        loop {
            match shared.store.prune_jobs(before, BATCH).await {
                Ok(n) if n > 0 => {
                    tracing::info!(pruned = n, "pruned finished jobs");
                    if n < u64::from(BATCH) {
                        break;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "pruning finished jobs failed");
                    break;
                }
            }
        }
        prune_uploads(&shared).await;
    }
}

fn ago(d: std::time::Duration) -> Option<chrono::DateTime<chrono::Utc>> {
    cc_domain::now().checked_sub_signed(chrono::Duration::from_std(d).ok()?)
}

/// Deletes uploaded roster files past `upload_retention` (`failed_upload_retention` for
/// failed runs).
pub(crate) async fn prune_uploads(shared: &Shared) {
    const BATCH: u32 = 100;
    let Some(imports) = shared.store.imports() else {
        return;
    };
    let (Some(before), Some(failed_before)) = (
        ago(shared.config.upload_retention),
        ago(shared.config.failed_upload_retention),
    ) else {
        return;
    };
    loop {
        match imports
            .prune_import_files(before, failed_before, BATCH)
            .await
        {
            Ok(n) => {
                if n > 0 {
                    metrics::counter!("cc_import_uploads_pruned_total").increment(n);
                    tracing::info!(
                        pruned = n,
                        "pruned uploaded roster files past their retention"
                    );
                }
                if n < u64::from(BATCH) {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "pruning uploaded roster files failed");
                break;
            }
        }
    }
}
