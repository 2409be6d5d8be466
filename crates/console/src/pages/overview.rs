//! `/`: the overview — dependencies, the queue, throughput, failures, the last roster import
//! and the directory at a glance. Live: refreshed on every job event (debounced) and every
//! 30 seconds.

use axum::extract::State;
use axum::response::Response;
use cc_api::routes::health::HealthReport;
use cc_api::{ApiError, AppState};
use cc_domain::{ImportRun, ImportStatus, Job, JobState};
use cc_lifecycle::TargetHealth;
use cc_service::overview::{Overview, THROUGHPUT_MINUTES};
use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::format::{ago, duration, job_state, time};
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::sparkline::sparkline;
use crate::viewer::Viewer;

/// Seconds between background refreshes (events refresh sooner).
const REFRESH_SECS: u32 = 30;

/// `GET /`.
pub async fn page(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let now = Utc::now();
    // Shared by concurrent viewers: the figures while no change was committed (exact), the
    // dependency checks for up to a second.
    let (report, figures) = tokio::join!(
        app.recent_readiness.get(&app),
        app.overview.read(&app.store, app.events.position(), now)
    );
    let figures = figures?;
    let body = html! {
        h1 { "Overview" }
        div.grid {
            (dependencies(&report, now))
            (queue(&figures, now))
            (throughput(&figures))
            (recent_jobs(&figures.recent_jobs, now))
            (failures(&figures, now))
            (last_import(figures.last_import.as_ref(), now))
            (directory(&figures))
        }
    };
    Ok(layout::respond(
        &viewer,
        "Overview",
        Nav::Overview,
        &PageOptions {
            live_on: &["job", "import", "target"],
            refresh_every: Some(REFRESH_SECS),
        },
        body,
    ))
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
        _ => "Not checked yet",
    }
}

fn dependencies(report: &HealthReport, now: DateTime<Utc>) -> Markup {
    let db = report.checks.get("database");
    let detail = report.detail.as_ref();
    html! {
        section.card #dependencies aria-labelledby="dependencies-title" {
            h2 #dependencies-title {
                "Dependencies"
                @if report.status == "ok" { (status_badge("ok", "Ready")) }
                @else { (status_badge("bad", "Not ready")) }
            }
            table {
                caption.visually-hidden { "Dependencies and their latency" }
                thead { tr { th scope="col" { "Part" } th scope="col" { "Status" } th.num scope="col" { "Latency" } } }
                tbody {
                    @if let Some(c) = db {
                        tr {
                            th scope="row" { "Database" }
                            td { (status_badge(level(&c.status), word(&c.status)))
                                 @if let Some(d) = &c.detail { " " span.muted { (d) } } }
                            td.num { (format!("{:.1} ms", c.latency_ms)) }
                        }
                    }
                    @if let Some(c) = report.checks.get("migrations") {
                        tr {
                            th scope="row" { "Schema" }
                            td { (status_badge(level(&c.status), word(&c.status)))
                                 @if let Some(d) = &c.detail { " " span.muted { (d) } } }
                            td.num { "–" }
                        }
                    }
                    @if let Some(r) = detail.and_then(|d| d.redis.as_ref()) {
                        tr {
                            th scope="row" { "Redis" }
                            td { (status_badge(level(&r.status), word(&r.status)))
                                 @if let Some(d) = &r.detail { " " span.muted { (d) } } }
                            td.num { (format!("{:.1} ms", r.latency_ms)) }
                        }
                    }
                    @if let Some(d) = detail {
                        tr {
                            th scope="row" { "Workers" }
                            td {
                                @if d.workers.active > 0 {
                                    (status_badge("ok", &format!("{} running", d.workers.active)))
                                } @else {
                                    (status_badge("warn", "None seen"))
                                }
                                @if let Some(t) = d.workers.last_heartbeat {
                                    " " span.muted { "last heartbeat " (ago(t, now)) }
                                }
                            }
                            td.num { "–" }
                        }
                        @for t in &d.targets {
                            (remote_row(None, &format!("Target {}", t.target), t, now))
                        }
                        @if let Some(cf) = &d.cloudflare {
                            (remote_row(Some("dep-cloudflare"), "Cloudflare API token", cf, now))
                        }
                    }
                }
            }
            p { a href="/status" { "All readiness checks" } }
        }
    }
}

/// A remote system's last periodic check (a lifecycle target, the Cloudflare token).
fn remote_row(id: Option<&str>, name: &str, t: &TargetHealth, now: DateTime<Utc>) -> Markup {
    html! {
        tr id=[id] {
            th scope="row" { (name) }
            td {
                (status_badge(level(&t.status), word(&t.status)))
                @if let Some(at) = t.checked_at {
                    " " span.muted {
                        @if t.status == "ok" { "last success " } @else { "checked " }
                        (ago(at, now))
                    }
                }
                @if let Some(e) = &t.last_error {
                    br; span.muted { "Last error: " (e) }
                }
            }
            td.num { (t.latency_ms.map_or_else(|| "–".to_owned(), |ms| format!("{ms:.1} ms"))) }
        }
    }
}

fn queue(f: &Overview, now: DateTime<Utc>) -> Markup {
    let waiting = f.count(JobState::Available) + f.count(JobState::Retryable);
    html! {
        section.card #queue aria-labelledby="queue-title" {
            h2 #queue-title { "Queue" }
            p {
                span.stat #queue-waiting { (waiting) }
                " waiting"
                @if let Some(t) = f.oldest_due {
                    "; the oldest for " strong #oldest-due { (duration((now - t).num_seconds())) }
                } @else {
                    "; none due"
                }
            }
            table #queue-depth {
                caption.visually-hidden { "Jobs by state" }
                thead { tr { th scope="col" { "State" } th.num scope="col" { "Jobs" } } }
                tbody {
                    @for (state, n) in &f.jobs_by_state {
                        tr data-state=(state.as_str()) {
                            th scope="row" { a href={ "/jobs?state=" (state.as_str()) } { (state.as_str()) } }
                            td.num { (n) }
                        }
                    }
                }
            }
        }
    }
}

fn throughput(f: &Overview) -> Markup {
    let completed: i64 = f.completed_per_minute.iter().sum();
    let discarded: i64 = f.discarded_per_minute.iter().sum();
    let peak = f.completed_per_minute.iter().copied().max().unwrap_or(0);
    let label = format!(
        "Jobs completed per minute over the last {THROUGHPUT_MINUTES} minutes: {completed} in \
         all, at most {peak} in one minute"
    );
    html! {
        section.card #throughput aria-labelledby="throughput-title" {
            h2 #throughput-title { "Jobs per minute" span.muted { "last hour" } }
            (sparkline(&f.completed_per_minute, &label))
            p {
                strong #completed-hour { (completed) } " completed, "
                strong { (discarded) } " failed for good; peak " (peak) " per minute."
            }
        }
    }
}

fn job_rows(jobs: &[Job], now: DateTime<Utc>, with_error: bool) -> Markup {
    html! {
        @for j in jobs {
            tr data-job-id=(j.id) {
                td.num { a href={ "/jobs/" (j.id) } { (j.id) } }
                td { code { (j.kind) } }
                td { (job_state(j.state)) }
                td {
                    span title=(j.created_at.to_rfc3339()) { (ago(j.created_at, now)) }
                    @if with_error {
                        @if let Some(e) = j.errors.last() { br; span.muted { (e.error) } }
                    }
                }
            }
        }
    }
}

fn job_table(id: &str, caption: &str, jobs: &[Job], now: DateTime<Utc>, errors: bool) -> Markup {
    html! {
        div.table-wrap {
            table id=(id) {
                caption { (caption) }
                thead { tr {
                    th.num scope="col" { "Job" } th scope="col" { "Kind" }
                    th scope="col" { "State" } th scope="col" { "Created" }
                } }
                tbody { (job_rows(jobs, now, errors)) }
            }
        }
    }
}

fn recent_jobs(jobs: &[Job], now: DateTime<Utc>) -> Markup {
    html! {
        section.card #recent aria-labelledby="recent-title" {
            h2 #recent-title { "Latest jobs" a href="/jobs" { "All jobs" } }
            @if jobs.is_empty() {
                p.empty #recent-jobs { "No jobs yet." }
            } @else {
                (job_table("recent-jobs", "The newest jobs", jobs, now, false))
            }
        }
    }
}

fn failures(f: &Overview, now: DateTime<Utc>) -> Markup {
    html! {
        section.card #failures aria-labelledby="failures-title" {
            h2 #failures-title { "Failures" a href="/jobs?state=discarded" { "All failed jobs" } }
            @if f.discarded_jobs.is_empty() && f.retrying_jobs.is_empty() {
                p.empty { (status_badge("ok", "None")) " No job is failing." }
            }
            @if !f.discarded_jobs.is_empty() {
                (job_table("discarded-jobs", "Failed for good (discarded)", &f.discarded_jobs, now, true))
            }
            @if !f.retrying_jobs.is_empty() {
                (job_table("retrying-jobs", "Failed, will retry", &f.retrying_jobs, now, true))
            }
        }
    }
}

fn import_level(status: ImportStatus) -> &'static str {
    match status {
        ImportStatus::Applied | ImportStatus::Planned => "ok",
        ImportStatus::Planning | ImportStatus::Applying => "idle",
        ImportStatus::Refused => "warn",
        ImportStatus::Failed => "bad",
    }
}

fn last_import(run: Option<&ImportRun>, now: DateTime<Utc>) -> Markup {
    let count = |r: &ImportRun, k: &str| {
        r.counts
            .get(k)
            .and_then(serde_json::Value::as_i64)
            .unwrap_or(0)
    };
    html! {
        section.card #last-import aria-labelledby="import-title" {
            h2 #import-title { "Last roster import" a href="/imports" { "All imports" } }
            @match run {
                None => p.empty { "No roster has been imported yet." },
                Some(r) => {
                    p {
                        a href={ "/imports/" (r.id) } { (r.file_name) }
                        " " (status_badge(import_level(r.status), r.status.as_str()))
                        @if r.dry_run { " " span.muted { "(preview)" } }
                    }
                    p.muted { "Started " (time(r.created_at, now)) " by " (r.actor) }
                    p {
                        (count(r, "created")) " created, " (count(r, "updated")) " updated, "
                        (count(r, "moved")) " moved, " (count(r, "suspended")) " suspended, "
                        (r.error_count) " row errors."
                    }
                    @if let Some(refusals) = r.refusals.as_array().filter(|a| !a.is_empty()) {
                        div.alert.alert-bad {
                            p { strong { "Guards tripped:" } }
                            ul {
                                @for g in refusals {
                                    li {
                                        (g.get("message").and_then(|m| m.as_str()).unwrap_or("a guard refused the plan"))
                                        @if let Some(o) = g.get("override").and_then(|o| o.as_str()) {
                                            " (override: " code { (o) } ")"
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(why) = &r.failure { p.alert.alert-bad { "Failed: " (why) } }
                }
            }
        }
    }
}

fn directory(f: &Overview) -> Markup {
    html! {
        section.card #directory aria-labelledby="directory-title" {
            h2 #directory-title { "Directory" }
            table {
                caption.visually-hidden { "People by status and devices out of compliance" }
                tbody {
                    @for (status, n) in &f.users_by_status {
                        tr { th scope="row" { a href={ "/people?status=" (status) } { "People " (status) } } td.num { (n) } }
                    }
                    tr {
                        th scope="row" { a href="/devices?compliance=noncompliant" { "Noncompliant devices" } }
                        td.num #noncompliant-devices {
                            @if f.noncompliant_devices > 0 {
                                (status_badge("bad", &f.noncompliant_devices.to_string()))
                            } @else {
                                (status_badge("ok", "0"))
                            }
                        }
                    }
                }
            }
        }
    }
}
