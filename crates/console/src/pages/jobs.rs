//! `/jobs`, `/jobs/{id}` and `/batches/{id}`: the queue, a job's story, a batch's progress;
//! cancel and retry (re-drive) for operators.
//!
//! Reads go through the same store reads the API's job routes use; cancel and retry through
//! `cc_queue::ops`, exactly as `POST /api/v1/jobs/{id}/cancel|retry` (same checks, same audit).
//! The list and the detail follow the job event stream: a job finishing shows without a reload.

use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_api::{ApiError, AppState};
use cc_domain::{Job, JobQuery, JobState};
use cc_queue::ops::{self, OpError};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::csrf;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::list::{
    filter_bar, input_field, invalid, link_with, non_empty, select_with_id, PAGE_SIZE,
};
use crate::viewer::Viewer;

/// The list's filters, as the filter form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    state: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    queue: String,
    #[serde(default)]
    batch: String,
    /// Show jobs older than this id (the next page).
    #[serde(default)]
    before: Option<i64>,
}

impl Filters {
    fn query(&self) -> Result<JobQuery, ApiError> {
        let state = match non_empty(&self.state) {
            None => None,
            Some(s) => Some(
                JobState::ALL
                    .into_iter()
                    .find(|st| st.as_str() == s)
                    .ok_or_else(|| invalid("state", "is not a job state"))?,
            ),
        };
        let batch_id = match non_empty(&self.batch) {
            None => None,
            Some(b) => Some(
                b.parse::<Uuid>()
                    .map_err(|_| invalid("batch", "is not a batch id (a UUID)"))?,
            ),
        };
        Ok(JobQuery {
            state,
            kind: non_empty(&self.kind),
            queue: non_empty(&self.queue),
            batch_id,
            before_id: self.before,
            limit: PAGE_SIZE,
        })
    }

    /// These filters as query parameters, without the paging position.
    fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("state", self.state.as_str()),
            ("kind", &self.kind),
            ("queue", &self.queue),
            ("batch", &self.batch),
        ]
    }
}

fn state_badge(state: JobState) -> Markup {
    crate::format::job_state(state)
}

fn when(t: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

/// `GET /jobs`.
pub async fn list(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, ApiError> {
    let q = f.query()?;
    let page = app.store.list_jobs(&q).await?;
    let next = page
        .next_cursor
        .as_ref()
        .map(|c| link_with("/jobs", &f.pairs(), "before", c));
    let body = html! {
        h1 { "Jobs" }
        (filter_bar("/jobs", "Filter jobs", "Filter", &html! {
            (select_with_id("f-state", "state", "State", &f.state, &JobState::ALL.map(JobState::as_str), true))
            (input_field("f-kind", "kind", "Kind", "text", &f.kind, Some("e.g. lifecycle.provision")))
            (input_field("f-queue", "queue", "Queue", "text", &f.queue, None))
            (input_field("f-batch", "batch", "Batch", "text", &f.batch, Some("batch id")))
        }))
        div #job-list .table-wrap data-refresh-target {
            @if page.items.is_empty() {
                p.empty { "No jobs match these filters." }
            } @else {
                table.jobs {
                    caption { "Jobs, newest first" }
                    thead { tr {
                        th scope="col" { "Id" } th scope="col" { "Kind" } th scope="col" { "Queue" }
                        th scope="col" { "State" } th scope="col" { "Attempt" }
                        th scope="col" { "Created" } th scope="col" { "Batch" }
                    } }
                    tbody {
                        @for j in &page.items {
                            tr data-job-id=(j.id) {
                                th scope="row" { a href={ "/jobs/" (j.id) } { (j.id) } }
                                td { code { (j.kind) } }
                                td { (j.queue) }
                                td.state { (state_badge(j.state)) }
                                td.num { (j.attempt) " / " (j.max_attempts) }
                                td { (when(j.created_at)) }
                                td {
                                    @if let Some(b) = j.batch_id {
                                        a href={ "/batches/" (b) } { "batch" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = &next {
                p { a href=(n) { "Older jobs" } }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Jobs",
        Nav::Jobs,
        &PageOptions {
            live_on: &["job"],
            refresh_every: None,
        },
        body,
    ))
}

async fn load(app: &AppState, id: i64) -> Result<Job, ApiError> {
    app.store
        .get_job(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No job with that id."))
}

fn json_block(v: &serde_json::Value) -> Markup {
    html! { pre.json tabindex="0" { (serde_json::to_string_pretty(v).unwrap_or_default()) } }
}

fn can_cancel(j: &Job) -> bool {
    !j.state.is_final() && !j.cancel_requested
}

fn can_retry(j: &Job) -> bool {
    matches!(j.state, JobState::Discarded | JobState::Cancelled)
}

/// `GET /jobs/{id}`.
pub async fn detail(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let j = load(&app, id).await?;
    let history = app.store.job_history(id).await?;
    let may_cancel = viewer.may(&Method::POST, "/jobs/{id}/cancel") && can_cancel(&j);
    let may_retry = viewer.may(&Method::POST, "/jobs/{id}/retry") && can_retry(&j);
    let body = html! {
        p.crumbs { a href="/jobs" { "Jobs" } " › job " (j.id) }
        h1 { "Job " (j.id) " " small { code { (j.kind) } } }
        div #job-detail data-refresh-target {
            p.summary #job-state {
                (state_badge(j.state))
                @if j.cancel_requested && !j.state.is_final() { " cancellation requested" }
            }
            dl.facts {
                dt { "Queue" } dd { (j.queue) }
                dt { "Attempt" } dd { (j.attempt) " of " (j.max_attempts) }
                dt { "Priority" } dd { (j.priority) }
                dt { "Created" } dd { (when(j.created_at)) @if let Some(by) = &j.created_by { " by " (by) } }
                dt { "Runs at" } dd { (when(j.run_at)) }
                @if let Some(t) = j.attempted_at { dt { "Last attempt" } dd { (when(t)) } }
                @if let Some(t) = j.finalized_at { dt { "Finished" } dd { (when(t)) } }
                @if let Some(w) = &j.worker_id { dt { "Worker" } dd { code { (w) } } }
                @if let Some(b) = j.batch_id { dt { "Batch" } dd { a href={ "/batches/" (b) } { (b) } } }
                @if let Some(p) = j.parent_id { dt { "Parent" } dd { a href={ "/jobs/" (p) } { "job " (p) } } }
                @if let Some(r) = &j.request_id { dt { "Request id" } dd { code { (r) } } }
            }
            @if may_cancel || may_retry {
                div.actions {
                    @if may_cancel {
                        form method="post" action={ "/jobs/" (j.id) "/cancel" } {
                            (csrf::field(&viewer))
                            button.danger type="submit" { "Cancel job" }
                        }
                    }
                    @if may_retry {
                        form method="post" action={ "/jobs/" (j.id) "/retry" } {
                            (csrf::field(&viewer))
                            button.primary type="submit" { "Retry job" }
                        }
                    }
                }
            }
            @if let Some(p) = &j.progress { h2 { "Progress" } (json_block(p)) }
            @if let Some(r) = &j.result { h2 { "Result" } (json_block(r)) }
            h2 { "Errors" }
            @if j.errors.is_empty() {
                p.empty { "No attempt has failed." }
            } @else {
                table {
                    caption { "Errors by attempt" }
                    thead { tr { th scope="col" { "Attempt" } th scope="col" { "At" }
                        th scope="col" { "Worker" } th scope="col" { "Error" } } }
                    tbody {
                        @for e in &j.errors {
                            tr {
                                th scope="row" { (e.attempt) }
                                td { (when(e.at)) }
                                td { (e.worker.as_deref().unwrap_or("")) }
                                td { (e.error) }
                            }
                        }
                    }
                }
            }
            h2 { "History" }
            table {
                caption { "State changes, oldest first" }
                thead { tr { th scope="col" { "At" } th scope="col" { "State" }
                    th scope="col" { "Attempt" } th scope="col" { "Note" } } }
                tbody {
                    @for e in &history {
                        tr {
                            th scope="row" { (when(e.at)) }
                            td { (state_badge(e.state)) }
                            td.num { (e.attempt) }
                            td { (e.note.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            h2 { "Arguments" }
            (json_block(&j.args))
        }
    };
    Ok(layout::respond(
        &viewer,
        &format!("Job {}", j.id),
        Nav::Jobs,
        &PageOptions {
            live_on: &["job"],
            refresh_every: None,
        },
        body,
    ))
}

fn see(path: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, path)]).into_response()
}

/// `POST /jobs/{id}/cancel`.
pub async fn cancel(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let actor = viewer.principal.actor(viewer.request_id.clone());
    ops::cancel(app.store.as_ref(), &actor, id).await?;
    Ok(see(format!("/jobs/{id}")))
}

/// `POST /jobs/{id}/retry`.
pub async fn retry(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let actor = viewer.principal.actor(viewer.request_id.clone());
    ops::retry(app.store.as_ref(), &actor, id).await?;
    Ok(see(format!("/jobs/{id}")))
}

/// `GET /batches/{id}`.
pub async fn batch(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let counts = app.store.batch_counts(id).await?;
    if counts.is_empty() {
        return Err(ApiError::not_found("No jobs in that batch."));
    }
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let done: i64 = counts
        .iter()
        .filter(|(s, _)| s.is_final())
        .map(|(_, n)| n)
        .sum();
    let finished = done == total;
    let discarded = counts
        .iter()
        .any(|(s, n)| *s == JobState::Discarded && *n > 0);
    let may_retry = viewer.may(&Method::POST, "/batches/{id}/retry") && discarded;
    let body = html! {
        p.crumbs { a href="/jobs" { "Jobs" } " › batch" }
        h1 { "Batch " code { (id) } }
        div #batch-progress data-refresh-target {
            p.summary {
                @if finished { (status_badge("ok", "Finished")) } @else { (status_badge("idle", "In progress")) }
                " " (done) " of " (total) " jobs finished."
            }
            progress max=(total) value=(done) aria-label="Jobs finished" { (done) " of " (total) }
            table {
                caption { "Jobs by state" }
                thead { tr { th scope="col" { "State" } th scope="col" { "Jobs" } } }
                tbody {
                    @for (s, n) in &counts {
                        tr { th scope="row" { (state_badge(*s)) } td.num { (n) } }
                    }
                }
            }
            p { a href={ "/jobs?batch=" (id) } { "The batch's jobs" } }
            @if may_retry {
                form method="post" action={ "/batches/" (id) "/retry" } {
                    (csrf::field(&viewer))
                    button.primary type="submit" { "Retry the discarded jobs" }
                }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Batch",
        Nav::Jobs,
        &PageOptions {
            live_on: &["job"],
            refresh_every: None,
        },
        body,
    ))
}

/// `POST /batches/{id}/retry`.
pub async fn retry_batch(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let actor = viewer.principal.actor(viewer.request_id.clone());
    ops::retry_batch(app.store.as_ref(), &actor, id)
        .await
        .map_err(|e| match e {
            OpError::NotFound => ApiError::not_found("No jobs in that batch."),
            other => other.into(),
        })?;
    Ok(see(format!("/batches/{id}")))
}
