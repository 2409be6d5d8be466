//! Running one claimed job: the handler under its timeout and its lease watchdog, panics
//! captured, the outcome handed to the finisher (the lease stays renewed until it is written).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use cc_store::jobs::{ClaimedJob, Completion, CompletionWrites, Failure};
use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::finish::Outcome;
use super::{watchdog, Running, Shared, StopReason};
use crate::{JobContext, JobError};

/// Starts a claimed job; `claim_sent` is when the claim that set its lease was sent.
pub(crate) fn start(
    shared: &Arc<Shared>,
    job: ClaimedJob,
    permit: OwnedSemaphorePermit,
    claim_sent: Instant,
) {
    let running = Running {
        lease: job.lease,
        cancel: CancellationToken::new(),
        abort: CancellationToken::new(),
        reason: Arc::new(OnceLock::new()),
        renewed: Arc::new(AtomicU64::new(shared.mark(claim_sent))),
    };
    let (cancel, abort, reason, renewed) = (
        running.cancel.clone(),
        running.abort.clone(),
        running.reason.clone(),
        running.renewed.clone(),
    );
    shared.lock_running().insert(job.lease.job_id, running);
    let shared = shared.clone();
    tokio::spawn(async move {
        let lease = job.lease;
        let expiring = {
            let (cancel, reason) = (cancel.clone(), reason.clone());
            move || {
                let _ = reason.set(StopReason::LeaseExpiring);
                cancel.cancel();
            }
        };
        let outcome = tokio::select! {
            o = run(&shared, job, cancel, &reason) => o,
            () = watchdog::watch(&shared, &renewed, expiring) => {
                tracing::warn!(job_id = lease.job_id, "handler dropped: its lease could not be renewed");
                Some(lease_expiring(&shared, lease))
            }
            () = abort.cancelled() => {
                tracing::warn!(job_id = lease.job_id, "handler dropped at shutdown; the job is left to its lease");
                None
            }
        };
        match outcome {
            Some(o) => {
                shared.hand_over(lease);
                let _ = shared.outcomes.send(o);
            }
            None => {
                shared.lock_running().remove(&lease.job_id);
            }
        }
        // The slot is freed last: shutdown waits for free slots, and by then every outcome
        // must be with the finisher.
        drop(permit);
    });
}

/// A stopped attempt whose lease could not be renewed: recorded as a retryable failure when
/// the store can be reached again in time, otherwise the rescuer records the same.
fn lease_expiring(shared: &Shared, lease: cc_store::jobs::Lease) -> Outcome {
    Outcome::Failed(Failure {
        lease,
        error: "stopped: the lease could not be renewed (heartbeats failing)".into(),
        retry_at: Some(shared.now()),
    })
}

async fn run(
    shared: &Arc<Shared>,
    job: ClaimedJob,
    cancel: CancellationToken,
    reason: &OnceLock<StopReason>,
) -> Option<Outcome> {
    let span = tracing::info_span!("job", job_id = job.lease.job_id, kind = %job.kind, attempt = job.attempt, queue = %job.queue);
    let lease = job.lease;
    let Some(handler) = shared.registry.get(&job.kind) else {
        // Claims are filtered by the registry's kinds, so this is not expected; leave the job
        // for a worker that can run it, without spending the attempt.
        tracing::warn!(parent: &span, "no handler for this kind here; releasing the job");
        metrics::counter!("cc_jobs_unhandled_kind_total", "kind" => job.kind.clone()).increment(1);
        return Some(Outcome::Released(lease));
    };
    let started = std::time::Instant::now();
    let policy = handler.policy();
    let completion = Arc::new(std::sync::Mutex::new(CompletionWrites::default()));
    let ctx = JobContext {
        job_id: lease.job_id,
        kind: job.kind.clone(),
        queue: job.queue.clone(),
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        worker_id: shared.id.clone(),
        cancel,
        span: span.clone(),
        lease,
        store: shared.store.clone(),
        completion: completion.clone(),
    };
    let run = AssertUnwindSafe(handler.run_value(ctx, job.args)).catch_unwind();
    let result = match tokio::time::timeout(policy.timeout, run.instrument(span.clone())).await {
        Err(_) => Err(JobError::Retryable(format!(
            "timed out after {:?}",
            policy.timeout
        ))),
        Ok(Err(panic)) => {
            let text = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(JobError::Retryable(format!("handler panicked: {text}")))
        }
        Ok(Ok(r)) => r,
    };
    let _enter = span.enter();
    metrics::histogram!("cc_job_duration_seconds", "kind" => job.kind.clone())
        .record(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(_) => "completed",
        Err(JobError::Cancelled) => "cancelled",
        Err(JobError::Permanent(_)) => "failed_permanently",
        Err(JobError::Retryable(_) | JobError::RetryableAfter { .. }) => "failed",
        Err(JobError::Snooze { .. }) => "snoozed",
    };
    metrics::counter!("cc_job_executions_total", "kind" => job.kind.clone(), "outcome" => outcome)
        .increment(1);
    match (reason.get(), result) {
        (Some(StopReason::LeaseLost), _) => {
            tracing::warn!("lease lost while running; the outcome is not recorded");
            None
        }
        (_, Ok(result)) => {
            let writes = std::mem::take(
                &mut *completion
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            Some(Outcome::Completed(Completion {
                lease,
                result,
                writes,
            }))
        }
        (Some(StopReason::Shutdown), Err(_)) => Some(Outcome::Released(lease)),
        (Some(StopReason::LeaseExpiring), Err(_)) => Some(lease_expiring(shared, lease)),
        (Some(StopReason::Cancelled), Err(_)) | (None, Err(JobError::Cancelled)) => {
            Some(Outcome::Cancelled(lease))
        }
        (None, Err(JobError::Snooze { delay, reason })) => {
            tracing::debug!(?delay, %reason, "job snoozed");
            let until = shared.now() + chrono::Duration::from_std(delay).unwrap_or_default();
            Some(Outcome::Snoozed(lease, until, reason))
        }
        (None, Err(e)) => {
            let permanent = matches!(e, JobError::Permanent(_));
            let retry_at = (!permanent && job.attempt < job.max_attempts).then(|| {
                // The target's own `Retry-After` wins over a shorter backoff.
                let delay = policy
                    .retry
                    .delay(job.attempt)
                    .max(e.retry_after().unwrap_or_default());
                shared.now() + chrono::Duration::from_std(delay).unwrap_or_default()
            });
            tracing::warn!(error = %e, permanent, will_retry = retry_at.is_some(), "job attempt failed");
            if retry_at.is_some() {
                metrics::counter!("cc_job_retries_total", "kind" => job.kind.clone()).increment(1);
            } else {
                metrics::counter!("cc_jobs_discarded_total", "kind" => job.kind.clone())
                    .increment(1);
            }
            Some(Outcome::Failed(Failure {
                lease,
                error: e.to_string(),
                retry_at,
            }))
        }
    }
}
