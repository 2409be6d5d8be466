//! Operator actions on jobs. Each change and its audit event commit in one transaction.

use cc_domain::{Actor, Job, JobState, NewAuditEvent, NewJob};
use cc_store::jobs::{CancelOutcome, Enqueued};
use cc_store::{Store, StoreError};
use serde_json::json;

/// Why an operator action was refused.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("no job with that id")]
    NotFound,
    /// The job is in a state the action does not apply to.
    #[error("{0}")]
    InvalidState(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The states an operator may re-drive a job from.
pub const REDRIVABLE: [JobState; 2] = [JobState::Discarded, JobState::Cancelled];

/// Enqueues one job in its own transaction (for callers with no other write to join).
///
/// # Errors
/// Validation or a store failure.
pub async fn enqueue(store: &dyn Store, job: &NewJob) -> Result<Enqueued, StoreError> {
    let mut tx = store.begin().await?;
    let e = tx.enqueue(job).await?;
    tx.commit().await?;
    Ok(e)
}

/// Enqueues a `system.noop` job (one attempt) and reads it back: a round trip through the
/// queue and a worker, as `command-center check`, the API and the console's Health page ask
/// for it.
///
/// # Errors
/// A store failure, or [`OpError::NotFound`] when the job was pruned before it was read back.
pub async fn ping(store: &dyn Store, actor: &Actor) -> Result<Job, OpError> {
    let mut job = NewJob::new("system.noop", json!({}));
    job.max_attempts = 1;
    job.created_by = Some(actor.name.clone());
    job.request_id.clone_from(&actor.request_id);
    let enqueued = enqueue(store, &job).await?;
    store.get_job(enqueued.id).await?.ok_or(OpError::NotFound)
}

/// Enqueues a job an operator asked for, with its audit event (`{target_type}.{kind's
/// action}` requested: the kind and the job id, never the args' secrets) in one transaction.
///
/// # Errors
/// A store failure, or [`OpError::NotFound`] when the job was pruned before it was read back.
pub async fn enqueue_audited(
    store: &dyn Store,
    actor: &Actor,
    job: &NewJob,
    target_type: &str,
    target_id: Option<String>,
) -> Result<Job, OpError> {
    let mut tx = store.begin().await?;
    let enqueued = tx.enqueue(job).await?;
    tx.append_audit(NewAuditEvent {
        actor: actor.name.clone(),
        action: format!("{}.requested", job.kind),
        target_type: target_type.to_owned(),
        target_id,
        request_id: actor.request_id.clone(),
        before: None,
        after: Some(json!({ "job_id": enqueued.id, "kind": job.kind })),
    })
    .await?;
    tx.commit().await?;
    store.get_job(enqueued.id).await?.ok_or(OpError::NotFound)
}

fn audit(actor: &Actor, action: &str, before: &Job, after: &Job) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.name.clone(),
        action: action.to_owned(),
        target_type: "job".into(),
        target_id: Some(before.id.to_string()),
        request_id: actor.request_id.clone(),
        before: Some(
            json!({"state": before.state, "attempt": before.attempt, "kind": before.kind}),
        ),
        after: Some(json!({"state": after.state, "cancel_requested": after.cancel_requested})),
    }
}

/// Cancels a waiting job at once; asks the worker of a running one to stop (its handler's
/// cancellation token fires within a second and the job ends `cancelled`). A finished job is
/// left as it is and returned unchanged (no audit event).
///
/// # Errors
/// The job does not exist, or the store failed.
pub async fn cancel(store: &dyn Store, actor: &Actor, id: i64) -> Result<Job, OpError> {
    let mut tx = store.begin().await?;
    let before = tx.get_job_for_update(id).await?.ok_or(OpError::NotFound)?;
    let outcome = tx
        .cancel_job(id, cc_domain::now())
        .await?
        .ok_or(OpError::NotFound)?;
    let job = match outcome {
        CancelOutcome::AlreadyFinal(job) => return Ok(job),
        CancelOutcome::Cancelled(job) | CancelOutcome::Requested(job) => job,
    };
    tx.append_audit(audit(actor, "job.cancel", &before, &job))
        .await?;
    tx.commit().await?;
    Ok(job)
}

/// Re-drives a discarded or cancelled job: it becomes `available` again with a fresh set of
/// attempts (its error history is kept). Completed jobs are not re-run: enqueue a new job.
///
/// # Errors
/// The job does not exist or is not in a re-drivable state; a unique-key conflict with an
/// unfinished job; a store failure.
pub async fn retry(store: &dyn Store, actor: &Actor, id: i64) -> Result<Job, OpError> {
    let mut tx = store.begin().await?;
    let before = tx.get_job_for_update(id).await?.ok_or(OpError::NotFound)?;
    if !REDRIVABLE.contains(&before.state) {
        return Err(OpError::InvalidState(format!(
            "only discarded or cancelled jobs can be retried; this job is {}",
            before.state
        )));
    }
    let job = tx
        .redrive_job(id, cc_domain::now())
        .await?
        .ok_or(OpError::NotFound)?;
    tx.append_audit(audit(actor, "job.retry", &before, &job))
        .await?;
    tx.commit().await?;
    Ok(job)
}

/// What re-driving a batch did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchRetry {
    pub batch_id: uuid::Uuid,
    /// The jobs re-driven (they were discarded), now `available` again.
    pub retried: Vec<i64>,
}

/// Re-drives every discarded job of a batch (a bulk request whose targets failed
/// permanently, once the cause is fixed), with one `batch.retry` audit event, in one
/// transaction. Jobs in other states are left as they are.
///
/// # Errors
/// No job has this batch id; a store failure.
pub async fn retry_batch(
    store: &dyn Store,
    actor: &Actor,
    batch_id: uuid::Uuid,
) -> Result<BatchRetry, OpError> {
    if store.batch_counts(batch_id).await?.is_empty() {
        return Err(OpError::NotFound);
    }
    let mut ids = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .list_jobs(&cc_domain::JobQuery {
                state: Some(JobState::Discarded),
                batch_id: Some(batch_id),
                before_id,
                limit: 500,
                ..cc_domain::JobQuery::default()
            })
            .await?;
        before_id = page.items.last().map(|j| j.id);
        ids.extend(page.items.iter().map(|j| j.id));
        if page.next_cursor.is_none() || before_id.is_none() {
            break;
        }
    }
    let mut tx = store.begin().await?;
    let mut retried = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(job) = tx.get_job_for_update(id).await? else {
            continue;
        };
        if job.state != JobState::Discarded {
            continue;
        }
        if tx.redrive_job(id, cc_domain::now()).await?.is_some() {
            retried.push(id);
        }
    }
    tx.append_audit(NewAuditEvent {
        actor: actor.name.clone(),
        action: "batch.retry".into(),
        target_type: "batch".into(),
        target_id: Some(batch_id.to_string()),
        request_id: actor.request_id.clone(),
        before: None,
        after: Some(json!({"retried": retried.len(), "job_ids": retried})),
    })
    .await?;
    tx.commit().await?;
    Ok(BatchRetry { batch_id, retried })
}
