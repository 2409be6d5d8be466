//! `/status`: the readiness checks as a table that keeps itself current.
//!
//! With JavaScript, the page refreshes its `main` region in the background (and at once on
//! a job event). Without it, the answer carries a `Refresh` header and the browser reloads
//! the page on its own: the console's script sets the `cc_js` cookie, so a request without
//! that cookie comes from a browser that runs no script (or from the very first page load of
//! a session, which then reloads once before the script takes over). A `<meta>` refresh would
//! keep reloading pages that do run the script (removing the element does not cancel it),
//! and `<noscript>` in `head` cannot be scoped to one page's need.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_api::extract::ApiQuery;
use cc_api::routes::health::{readiness, Check, HealthReport};
use cc_api::{ApiError, AppState};
use cc_domain::Job;
use cc_lifecycle::TargetHealth;
use maud::{html, Markup};
use serde::Deserialize;

use crate::csrf;
use crate::format::{ago, job_state};
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::viewer::Viewer;

/// The route of the test-job action (as in the permission table).
pub const TEST_JOB_ROUTE: &str = "/status/test-job";

#[derive(Debug, Deserialize)]
pub struct StatusParams {
    /// A test job to follow on the page (after the test-job action).
    test_job: Option<i64>,
}

/// Seconds between refreshes (background fetch with script; full reload without).
pub const REFRESH_SECS: u32 = 10;

/// The cookie the console's script sets on every page (it carries no secret).
pub const SCRIPT_COOKIE: &str = "cc_js";

/// `GET /status`.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<StatusParams>,
) -> Result<Response, ApiError> {
    let report = readiness(&app).await;
    let test_job = match params.test_job {
        Some(id) => app.store.get_job(id).await?,
        None => None,
    };
    let body = html! {
        (render(&report))
        (test_job_section(&viewer, test_job.as_ref()))
    };
    let mut res = layout::respond(
        &viewer,
        "Health",
        Nav::Health,
        &PageOptions {
            live_on: &["job"],
            refresh_every: Some(REFRESH_SECS),
        },
        body,
    );
    if !runs_script(&headers) {
        res.headers_mut()
            .insert(header::REFRESH, HeaderValue::from(REFRESH_SECS));
    }
    Ok(res)
}

/// `POST /status/test-job`: sends a `system.noop` job through the queue (as
/// `command-center check` does) and shows it on the page until a worker has run it.
pub async fn test_job(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let job = cc_queue::ops::ping(app.store.as_ref(), &actor).await?;
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/status?test_job={}", job.id))],
    )
        .into_response())
}

fn test_job_section(viewer: &Viewer, job: Option<&Job>) -> Markup {
    let may = viewer.may(&Method::POST, TEST_JOB_ROUTE);
    let now = chrono::Utc::now();
    html! {
        @if may || job.is_some() {
            section #test-job aria-labelledby="test-job-title" {
                h2 #test-job-title { "Queue round trip" }
                @if let Some(j) = job {
                    p #test-job-state {
                        "Test job " a href={ "/jobs/" (j.id) } { (j.id) } ": " (job_state(j.state))
                        " (sent " (ago(j.created_at, now)) ")"
                    }
                }
                @if may {
                    form method="post" action=(TEST_JOB_ROUTE) {
                        (csrf::field(viewer))
                        p {
                            button type="submit" { "Send a test job" }
                            " " span.muted { "A job that does nothing: it shows that workers take and finish jobs." }
                        }
                    }
                }
            }
        }
    }
}

/// Whether the browser ran the console's script on an earlier page (see the module docs).
#[must_use]
pub fn runs_script(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .any(|c| c.trim() == format!("{SCRIPT_COOKIE}=1"))
}

fn level(status: &str) -> &'static str {
    match status {
        "ok" => "ok",
        "fail" => "bad",
        _ => "idle",
    }
}

fn word(status: &str) -> &'static str {
    match status {
        "ok" => "OK",
        "fail" => "Failing",
        _ => "Unknown",
    }
}

fn latency(ms: Option<f64>) -> String {
    ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms"))
}

fn check_row(name: &str, c: &Check) -> Markup {
    html! {
        tr class={ "row-" (level(&c.status)) } {
            th scope="row" { (name) }
            td { (status_badge(level(&c.status), word(&c.status))) }
            td.num { (latency(Some(c.latency_ms))) }
            td { (c.detail.as_deref().unwrap_or("")) }
        }
    }
}

/// A row for a remote system's last periodic check (a lifecycle target, the Cloudflare
/// token): its status, how long the check took, what it verified or why it failed, and when.
fn target_row(id: Option<&str>, name: &str, t: &TargetHealth) -> Markup {
    html! {
        tr id=[id] class={ "row-" (level(&t.status)) } {
            th scope="row" { (name) }
            td { (status_badge(level(&t.status), word(&t.status))) }
            td.num { (latency(t.latency_ms)) }
            td {
                @if let Some(e) = &t.last_error { "Last error: " (e) }
                @else if let Some(d) = &t.detail { (d) }
                @else if t.checked_at.is_none() { "Not checked yet" }
                @if let Some(at) = t.checked_at {
                    " (checked " (at.format("%H:%M:%S UTC")) ")"
                }
            }
        }
    }
}

/// The report as the page's `main` content.
#[must_use]
pub fn render(report: &HealthReport) -> Markup {
    let ready = report.status == "ok";
    let now = chrono::Utc::now();
    html! {
        h1 { "Health" }
        p.summary {
            @if ready { (status_badge("ok", "Ready")) } @else { (status_badge("bad", "Not ready")) }
            " Checked at "
            time #checked-at datetime=(now.to_rfc3339()) { (now.format("%H:%M:%S UTC")) }
            "; refreshes every " (REFRESH_SECS) " seconds."
        }
        table.checks {
            caption { "Readiness checks (these decide " code { "/health/ready" } ")" }
            thead { tr { th scope="col" { "Check" } th scope="col" { "Status" }
                th.num scope="col" { "Latency" } th scope="col" { "Detail" } } }
            tbody {
                @for (name, c) in &report.checks { (check_row(name, c)) }
            }
        }
        @if let Some(d) = &report.detail {
            table.checks {
                caption { "Reported, not deciding readiness" }
                thead { tr { th scope="col" { "Part" } th scope="col" { "Status" }
                    th.num scope="col" { "Latency" } th scope="col" { "Detail" } } }
                tbody {
                    @if let Some(r) = &d.redis { (check_row("Redis", r)) }
                    @let workers = if d.workers.active > 0 { "ok" } else { "warn" };
                    tr class={ "row-" (workers) } {
                        th scope="row" { "Workers" }
                        td { (status_badge(workers, if d.workers.active > 0 { "Running" } else { "None seen" })) }
                        td.num { "–" }
                        td {
                            (d.workers.active) " with a heartbeat in the last minute"
                            @if let Some(t) = d.workers.last_heartbeat {
                                "; last heartbeat " (t.format("%Y-%m-%d %H:%M:%S UTC"))
                            }
                        }
                    }
                    @for t in &d.targets {
                        (target_row(None, &format!("Target {} ({})", t.target, t.kind), t))
                    }
                    @if let Some(cf) = &d.cloudflare {
                        (target_row(Some("cloudflare-row"), "Cloudflare API token", cf))
                    }
                }
            }
        }
    }
}
