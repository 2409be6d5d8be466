//! Running one claimed job: the handler under its timeout, panics captured, the outcome sent
//! to the finisher.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

use cc_store::jobs::{ClaimedJob, Completion, Failure};
use futures::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::finish::Outcome;
use super::{Running, Shared, StopReason};
use crate::{JobContext, JobError};

pub(crate) fn start(shared: &Arc<Shared>, job: ClaimedJob, permit: OwnedSemaphorePermit) {
    let cancel = CancellationToken::new();
    let reason = Arc::new(OnceLock::new());
    shared.lock_running().insert(
        job.lease.job_id,
        Running {
            lease: job.lease,
            cancel: cancel.clone(),
            reason: reason.clone(),
        },
    );
    let shared = shared.clone();
    tokio::spawn(async move {
        let lease = job.lease;
        let outcome = run(&shared, job, cancel, &reason).await;
        shared.lock_running().remove(&lease.job_id);
        drop(permit);
        if let Some(o) = outcome {
            let _ = shared.outcomes.send(o);
        }
    });
}

async fn run(
    shared: &Arc<Shared>,
    job: ClaimedJob,
    cancel: CancellationToken,
    reason: &OnceLock<StopReason>,
) -> Option<Outcome> {
    let span = tracing::info_span!("job", job_id = job.lease.job_id, kind = %job.kind, attempt = job.attempt, queue = %job.queue);
    let lease = job.lease;
    let handler = shared.registry.get(&job.kind);
    let started = std::time::Instant::now();
    let policy = handler.as_ref().map(|h| h.policy()).unwrap_or_default();
    let result = match handler {
        None => Err(JobError::Retryable(format!(
            "no handler for kind `{}` on worker {}",
            job.kind, shared.id
        ))),
        Some(h) => {
            let ctx = JobContext {
                job_id: lease.job_id,
                kind: job.kind.clone(),
                queue: job.queue.clone(),
                attempt: job.attempt,
                max_attempts: job.max_attempts,
                worker_id: shared.id.clone(),
                cancel: cancel.clone(),
                span: span.clone(),
                lease,
                store: shared.store.clone(),
            };
            let run = AssertUnwindSafe(h.run_value(ctx, job.args)).catch_unwind();
            match tokio::time::timeout(policy.timeout, run.instrument(span.clone())).await {
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
            }
        }
    };
    let _enter = span.enter();
    metrics::histogram!("cc_job_duration_seconds", "kind" => job.kind.clone())
        .record(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(_) => "completed",
        Err(JobError::Cancelled) => "cancelled",
        Err(JobError::Permanent(_)) => "failed_permanently",
        Err(JobError::Retryable(_)) => "failed",
        Err(JobError::Snooze { .. }) => "snoozed",
    };
    metrics::counter!("cc_job_executions_total", "kind" => job.kind.clone(), "outcome" => outcome)
        .increment(1);
    match (reason.get(), result) {
        (Some(StopReason::LeaseLost), _) => {
            tracing::warn!("lease lost while running; the outcome is not recorded");
            None
        }
        (Some(StopReason::Shutdown), _) => None,
        (_, Ok(result)) => Some(Outcome::Completed(Completion { lease, result })),
        (Some(StopReason::Cancelled), Err(_)) | (None, Err(JobError::Cancelled)) => {
            Some(Outcome::Cancelled(lease))
        }
        (None, Err(JobError::Snooze { delay, reason })) => {
            tracing::debug!(?delay, %reason, "job snoozed");
            let until = cc_domain::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            Some(Outcome::Snoozed(lease, until, reason))
        }
        (None, Err(e)) => {
            let permanent = matches!(e, JobError::Permanent(_));
            let retry_at = (!permanent && job.attempt < job.max_attempts).then(|| {
                let delay = policy.retry.delay(job.attempt);
                cc_domain::now() + chrono::Duration::from_std(delay).unwrap_or_default()
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
