//! `/api/v1/jobs` and `/api/v1/batches`

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cc_domain::{BatchProgress, Job, JobDetail, JobQuery, JobState, Page};
use cc_queue::ops::{self, OpError};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::CommonErrors;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery, CurrentActor};
use crate::AppState;

/// Filters and paging for `GET /api/v1/jobs` (newest first).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    pub batch_id: Option<Uuid>,
}

const CURSOR_KIND: &str = "job";

/// List jobs, newest first.
#[utoipa::path(get, path = "/jobs", tag = "jobs", params(JobListParams),
    responses((status = 200, description = "One page of jobs", body = Page<Job>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<JobListParams>,
) -> ApiResult<Json<Page<Job>>> {
    let (limit, before_id) = super::id_paging(p.limit, p.cursor.as_deref(), CURSOR_KIND)?;
    let q = JobQuery {
        state: p.state,
        kind: p.kind,
        queue: p.queue,
        batch_id: p.batch_id,
        before_id,
        limit,
    };
    let page = app.store.list_jobs(&q).await?;
    Ok(Json(Page {
        items: page.items,
        next_cursor: page.next_cursor.map(|v| super::id_cursor(CURSOR_KIND, v)),
    }))
}

/// Get a job with its attempts' errors, result, progress and history.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 200, description = "The job and its history", body = JobDetail),
        (status = 404, description = "No such job", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<JobDetail>> {
    let job = app
        .store
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No job with that id."))?;
    let history = app.store.job_history(id).await?;
    Ok(Json(JobDetail { job, history }))
}

/// Cancel a job.
///
/// A waiting job is cancelled at once. A running job's handler is asked to stop (its
/// cancellation token fires within a second) and the job ends `cancelled` when it does;
/// `cancel_requested` is true meanwhile. A finished job is returned unchanged.
#[utoipa::path(post, path = "/jobs/{id}/cancel", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 200, description = "The job after the request", body = Job),
        (status = 404, description = "No such job", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn cancel(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Job>> {
    ops::cancel(app.store.as_ref(), &actor, id)
        .await
        .map(Json)
        .map_err(ApiError::from)
}

/// Re-drive a discarded or cancelled job.
///
/// The job becomes `available` with a fresh set of attempts; its error history is kept.
/// Completed jobs are not re-run (409): enqueue a new job instead.
#[utoipa::path(post, path = "/jobs/{id}/retry", tag = "jobs", params(("id" = i64, Path)),
    responses((status = 200, description = "The re-driven job", body = Job),
        (status = 404, description = "No such job", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The job is not discarded or cancelled, or its unique key is taken", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn retry(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Job>> {
    ops::retry(app.store.as_ref(), &actor, id)
        .await
        .map(Json)
        .map_err(ApiError::from)
}

/// Progress of a batch: job counts by state.
#[utoipa::path(get, path = "/batches/{id}", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Counts by state", body = BatchProgress),
        (status = 404, description = "No jobs in that batch", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn batch(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<BatchProgress>> {
    let counts = app.store.batch_counts(id).await?;
    if counts.is_empty() {
        return Err(ApiError::not_found("No jobs in that batch."));
    }
    let total = counts.iter().map(|(_, n)| n).sum();
    let finished = counts.iter().all(|(s, _)| s.is_final());
    Ok(Json(BatchProgress {
        batch_id: id,
        total,
        counts: counts.into_iter().collect(),
        finished,
    }))
}

/// What `POST /api/v1/batches/{id}/retry` re-drove.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BatchRetried {
    pub batch_id: Uuid,
    /// The jobs that were discarded and are `available` again (follow the batch's progress).
    pub retried: Vec<i64>,
}

/// Re-drive a batch: every discarded job of it.
///
/// For a bulk request whose jobs a target failed permanently, once the cause is fixed. Each
/// job becomes `available` with a fresh set of attempts (its error history is kept); jobs in
/// other states are left alone. One `batch.retry` audit event.
#[utoipa::path(post, path = "/batches/{id}/retry", tag = "jobs", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The jobs re-driven (none when nothing was discarded)", body = BatchRetried),
        (status = 404, description = "No jobs in that batch", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn retry_batch(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<BatchRetried>> {
    let out = ops::retry_batch(app.store.as_ref(), &actor, id)
        .await
        .map_err(|e| match e {
            OpError::NotFound => ApiError::not_found("No jobs in that batch."),
            other => other.into(),
        })?;
    Ok(Json(BatchRetried {
        batch_id: out.batch_id,
        retried: out.retried,
    }))
}

/// Enqueue a `system.noop` job: a round trip through the queue and a worker.
///
/// `command-center check` uses it to prove that workers take and finish jobs; follow the job
/// at `GET /api/v1/jobs/{id}` (the `Location`).
#[utoipa::path(post, path = "/jobs/ping", tag = "jobs",
    responses((status = 202, description = "The job, queued", body = Job),
        CommonErrors))]
pub async fn ping(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> ApiResult<(
    StatusCode,
    [(axum::http::header::HeaderName, String); 1],
    Json<Job>,
)> {
    let job = ops::ping(app.store.as_ref(), &actor).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(
            axum::http::header::LOCATION,
            format!("/api/v1/jobs/{}", job.id),
        )],
        Json(job),
    ))
}
