//! `/imports`: roster imports from the browser. Upload an export (`/imports/new`), read the
//! preview plan (`/imports/{id}`: counts, moves, suspensions, tripped guards, row errors),
//! then apply it, confirming each tripped guard by name.
//!
//! The upload and the apply are the API's own steps (`cc_api::routes::imports::submit_upload`
//! and `submit_apply`): the same background planning, the same re-plan and guards at apply
//! time, the same audit events. The console adds one rule in front of apply: every guard the
//! preview tripped must be confirmed by its own checkbox, or the apply is refused (409)
//! before anything runs; the guards then run again on the fresh plan regardless.

use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_api::error::ProblemType;
use cc_api::routes::imports::{self as api, ApplyParams};
use cc_api::{ApiError, AppState};
use cc_domain::{ImportRun, ImportStatus};
use cc_roster::{FormatChoice, Overrides, Refusal, RowError};
use maud::{html, Markup};
use serde_json::Value;
use uuid::Uuid;

use crate::csrf;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::viewer::Viewer;

/// Runs shown on the list.
const PAGE_SIZE: u32 = 50;
/// Planned changes of each kind shown on the preview (the stored plan holds the first ones).
const SHOWN_CHANGES: usize = 50;

/// The guard overrides, each with the words the confirmation checkbox uses.
const GUARDS: &[(&str, &str)] = &[
    (
        "allow_truncated",
        "the file looks truncated (its damaged last row is skipped)",
    ),
    (
        "allow_shrink",
        "the file is much smaller than the directory (people missing from it are suspended)",
    ),
    (
        "allow_mass_suspend",
        "the plan suspends more people than the configured limit",
    ),
    (
        "allow_missing_files",
        "the export lacks files its manifest declares",
    ),
    (
        "allow_empty",
        "the file has no rows (everyone the SIS manages is suspended)",
    ),
];

fn guard_words(name: &str) -> &'static str {
    GUARDS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("this guard's refusal", |(_, w)| w)
}

fn status_level(s: ImportStatus) -> &'static str {
    match s {
        ImportStatus::Applied | ImportStatus::Planned => "ok",
        ImportStatus::Refused => "warn",
        ImportStatus::Failed => "bad",
        ImportStatus::Planning | ImportStatus::Applying => "idle",
    }
}

fn status_badge_of(s: ImportStatus) -> Markup {
    status_badge(status_level(s), s.as_str())
}

fn in_progress(s: ImportStatus) -> bool {
    matches!(s, ImportStatus::Planning | ImportStatus::Applying)
}

fn when(t: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M:%S UTC")) } }
}

fn see(path: String) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, path)]).into_response()
}

fn refusals_of(run: &ImportRun) -> Vec<Refusal> {
    serde_json::from_value(run.refusals.clone()).unwrap_or_default()
}

/// `GET /imports`.
pub async fn list(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let store = app.store.imports().ok_or_else(ApiError::internal)?;
    let runs = store.list_import_runs(PAGE_SIZE, None).await?;
    let may_upload = viewer.may(&Method::POST, "/imports");
    let any_running = runs.iter().any(|r| in_progress(r.status));
    let body = html! {
        h1 { "Imports" }
        @if may_upload {
            p { a.button.primary href="/imports/new" { "Upload an export" } }
        }
        div #import-list .table-wrap data-refresh-target {
            @if runs.is_empty() {
                p.empty { "No roster import yet." }
            } @else {
                table {
                    caption { "Import runs, newest first" }
                    thead { tr {
                        th scope="col" { "File" } th scope="col" { "Status" } th scope="col" { "Format" }
                        th scope="col" { "Started" } th scope="col" { "By" } th scope="col" { "Row errors" }
                    } }
                    tbody {
                        @for r in &runs {
                            tr {
                                th scope="row" { a href={ "/imports/" (r.id) } { (r.file_name) } }
                                td { (status_badge_of(r.status)) @if r.dry_run && r.status == ImportStatus::Planned { " (preview)" } }
                                td { (r.format.as_deref().unwrap_or("–")) }
                                td { (when(r.created_at)) }
                                td { (r.actor) }
                                td.num { (r.error_count) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Imports",
        Nav::Imports,
        &PageOptions {
            live_on: &["job", "import"],
            refresh_every: any_running.then_some(2),
        },
        body,
    ))
}

/// `GET /imports/new`: the upload form.
pub async fn new(viewer: Viewer) -> Response {
    let body = html! {
        p.crumbs { a href="/imports" { "Imports" } " › new" }
        h1 { "Upload a roster export" }
        p { "The export is read and planned; nothing changes until you apply the plan on the next page." }
        form method="post" enctype="multipart/form-data"
            action=(csrf::action_with_token(&viewer, "/imports")) {
            p.field {
                label for="i-file" { "Export file (CSV, or a OneRoster or SDS .zip)" }
                input #i-file name="file" type="file" required accept=".csv,.zip,text/csv,application/zip";
            }
            p.field {
                label for="i-format" { "Format" }
                select #i-format name="format" {
                    option value="auto" selected { "Detect from the file" }
                    option value="csv" { "CSV" }
                    option value="oneroster" { "OneRoster" }
                    option value="sds" { "School Data Sync (SDS)" }
                }
            }
            p.field.check {
                input #i-strict name="strict" type="checkbox" value="true";
                label for="i-strict" { "Strict: refuse the whole file when any row has an error" }
            }
            p { button.primary type="submit" { "Upload and preview" } }
        }
    };
    layout::respond(
        &viewer,
        "New import",
        Nav::Imports,
        &PageOptions::default(),
        body,
    )
}

fn form_error(field: &str, message: &str) -> ApiError {
    ApiError::new(ProblemType::ValidationFailed, format!("{field}: {message}"))
        .with_field(field, message)
}

/// `POST /imports` (multipart: `file`, `format`, `strict`): stores and plans the upload, then
/// shows its run.
pub async fn upload(
    State(app): State<AppState>,
    viewer: Viewer,
    req: Request,
) -> Result<Response, ApiError> {
    let (upload, fields) = api::read_upload_form(&app, req, None).await?;
    let mut format = FormatChoice::Auto;
    let mut strict = false;
    for (k, v) in &fields {
        match k.as_str() {
            "format" => {
                format = v.parse().map_err(|m: String| form_error("format", &m))?;
            }
            "strict" => strict = v == "true",
            _ => {}
        }
    }
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let overrides = Overrides {
        strict,
        ..Overrides::default()
    };
    let submitted = api::submit_upload(&app, actor, upload, format, true, overrides).await?;
    Ok(see(format!("/imports/{}", submitted.run().id)))
}

fn count(counts: &Value, key: &str) -> u64 {
    counts.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The plan's counts, in the order an operator reads them.
const COUNTS: &[(&str, &str)] = &[
    ("rows", "Rows in the people file"),
    ("created", "People created"),
    ("updated", "People updated"),
    ("moved", "People moved (school or grade)"),
    ("suspended", "People suspended"),
    ("reactivated", "People reactivated"),
    ("unchanged", "Unchanged"),
    ("blocked", "Blocked"),
    ("skipped", "Skipped"),
    ("errors", "Row errors"),
    ("groups_created", "Groups created"),
    ("memberships_added", "Memberships added"),
    ("memberships_removed", "Memberships removed"),
    ("lifecycle_jobs", "Lifecycle jobs to enqueue"),
];

fn counts_table(counts: &Value) -> Markup {
    html! {
        table #plan-counts .counts {
            caption { "What the plan changes" }
            thead { tr { th scope="col" { "Change" } th scope="col" { "Count" } } }
            tbody {
                @for (key, label) in COUNTS {
                    tr data-count=(key) {
                        th scope="row" { (label) }
                        td.num { (count(counts, key)) }
                    }
                }
            }
        }
    }
}

fn change_detail(c: &Value) -> String {
    let mut parts = Vec::new();
    if let Some(fields) = c.get("fields").and_then(Value::as_object) {
        for (name, v) in fields {
            if matches!(name.as_str(), "school" | "grade" | "role" | "status") {
                let show = |x: &Value| match x {
                    Value::Null => "–".to_owned(),
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                parts.push(format!(
                    "{name}: {} → {}",
                    show(&v["before"]),
                    show(&v["after"])
                ));
            }
        }
    }
    if let Some(r) = c.get("reason").and_then(Value::as_str) {
        parts.push(format!("reason: {}", r.replace('_', " ")));
    }
    parts.join("; ")
}

fn changes_table(id: &str, caption: &str, changes: &[&Value]) -> Markup {
    html! {
        @if !changes.is_empty() {
            table id=(id) {
                caption { (caption) }
                thead { tr { th scope="col" { "Person" } th scope="col" { "External id" }
                    th scope="col" { "Line" } th scope="col" { "Detail" } } }
                tbody {
                    @for c in changes.iter().take(SHOWN_CHANGES) {
                        tr {
                            th scope="row" { (c["username"].as_str().unwrap_or("")) }
                            td { (c["external_id"].as_str().unwrap_or("")) }
                            td.num { @if let Some(l) = c["line"].as_u64() { (l) } }
                            td { (change_detail(c)) }
                        }
                    }
                }
            }
        }
    }
}

fn errors_table(run: &ImportRun) -> Markup {
    let errors: Vec<RowError> = serde_json::from_value(run.errors.clone()).unwrap_or_default();
    html! {
        @if run.error_count > 0 || !errors.is_empty() {
            section aria-labelledby="row-errors" {
                h2 #row-errors { "Row errors (" (run.error_count) ")" }
                p { a href={ "/imports/" (run.id) "/errors.csv" } download { "Download every row error (errors.csv)" } }
                @if !errors.is_empty() {
                    table {
                        caption { "The first row errors" }
                        thead { tr { th scope="col" { "File" } th scope="col" { "Line" }
                            th scope="col" { "Field" } th scope="col" { "Problem" } } }
                        tbody {
                            @for e in &errors {
                                tr {
                                    th scope="row" { (e.file) }
                                    td.num { (e.line) }
                                    td { code { (e.field) } }
                                    td { (e.message) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn apply_form(viewer: &Viewer, run: &ImportRun, refusals: &[Refusal]) -> Markup {
    let blocking: Vec<&Refusal> = refusals
        .iter()
        .filter(|r| r.overridden_by.is_none())
        .collect();
    html! {
        @if !blocking.is_empty() {
            p.alert.alert-bad {
                "This plan cannot be applied: "
                @for r in &blocking { (r.message) " " }
                "Fix the file and upload it again."
            }
        } @else {
            form #apply-form method="post" action={ "/imports/" (run.id) "/apply" } {
                (csrf::field(viewer))
                @if !refusals.is_empty() {
                    fieldset.guards {
                        legend { "Confirm each tripped guard to apply anyway" }
                        @for r in refusals {
                            @if let Some(o) = &r.overridden_by {
                                p.field.check {
                                    input id={ "confirm-" (o) } name="confirm" type="checkbox" value=(o);
                                    label for={ "confirm-" (o) } {
                                        "I confirm: apply although " (guard_words(o)) " (" code { (o) } ")."
                                    }
                                }
                            }
                        }
                    }
                }
                p { button.primary type="submit" { "Apply this plan" } }
            }
        }
    }
}

/// `GET /imports/{id}`: the run, its plan and the apply form.
pub async fn detail(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let run = api::load_run(&app, id).await?;
    let refusals = refusals_of(&run);
    let changes: Vec<Value> = run
        .plan
        .as_ref()
        .and_then(|p| p.get("changes"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let of_kind = |k: &str| -> Vec<&Value> { changes.iter().filter(|c| c["kind"] == k).collect() };
    let moves = of_kind("move");
    let suspensions = of_kind("suspend");
    let applicable = matches!(run.status, ImportStatus::Planned | ImportStatus::Refused);
    let may_apply = viewer.may(&Method::POST, "/imports/{id}/apply") && applicable;
    let running = in_progress(run.status);
    let body = html! {
        p.crumbs { a href="/imports" { "Imports" } " › " (run.file_name) }
        h1 { "Import of " (run.file_name) }
        div #import-run data-refresh-target {
            p.summary #import-status {
                (status_badge_of(run.status))
                @match run.status {
                    ImportStatus::Planning => " Reading and planning the file…",
                    ImportStatus::Planned => " Preview ready; nothing has been changed yet.",
                    ImportStatus::Refused => " A guard refused this plan; nothing has been changed.",
                    ImportStatus::Applying => " Applying the plan…",
                    ImportStatus::Applied => " Applied.",
                    ImportStatus::Failed => " Failed; nothing was changed.",
                }
            }
            @if let Some(p) = &run.progress {
                @let written = p["changes_written"].as_u64().unwrap_or(0);
                @let total = p["changes_total"].as_u64().unwrap_or(0);
                p #import-progress {
                    (p["phase"].as_str().unwrap_or("working")) ": "
                    (p["rows_read"].as_u64().unwrap_or(0)) " rows read"
                    @if total > 0 { ", " (written) " of " (total) " changes written" }
                }
                @if total > 0 {
                    progress max=(total) value=(written) aria-label="Changes written" { (written) " of " (total) }
                }
            }
            @if let Some(f) = &run.failure { p.alert.alert-bad role="alert" { (f) } }
            dl.facts {
                dt { "Format" } dd { (run.format.as_deref().unwrap_or("–")) }
                dt { "Size" } dd { (run.size_bytes) " bytes" }
                dt { "SHA-256" } dd { code { (run.sha256) } }
                dt { "Started" } dd { (when(run.created_at)) " by " (run.actor) }
                @if let Some(t) = run.applied_at { dt { "Applied" } dd { (when(t)) } }
            }
            @if !refusals.is_empty() {
                section #guards aria-labelledby="guards-title" {
                    h2 #guards-title { "Guards tripped" }
                    ul.guard-list {
                        @for r in &refusals {
                            li data-guard=(r.overridden_by.as_deref().unwrap_or(&r.code)) {
                                (status_badge("warn", &r.code)) " " (r.message)
                                @if let Some(o) = &r.overridden_by { " (override: " code { (o) } ")" }
                            }
                        }
                    }
                }
            }
            @if run.plan.is_some() || run.status == ImportStatus::Applied {
                (counts_table(&run.counts))
            }
            @if may_apply { (apply_form(&viewer, &run, &refusals)) }
            (changes_table("plan-moves", "People moved (the first ones)", &moves))
            (changes_table("plan-suspensions", "People suspended (the first ones)", &suspensions))
            (errors_table(&run))
        }
    };
    Ok(layout::respond(
        &viewer,
        &format!("Import of {}", run.file_name),
        Nav::Imports,
        &PageOptions {
            live_on: &["job", "import"],
            refresh_every: running.then_some(1),
        },
        body,
    ))
}

/// `POST /imports/{id}/apply`: every guard the preview tripped must be confirmed by name
/// (`confirm=<override>`, once per guard), or nothing runs.
pub async fn apply(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
        .map_err(|_| ApiError::new(ProblemType::InvalidBody, "The form cannot be read."))?;
    let confirmed: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "confirm")
        .map(|(_, v)| v.as_str())
        .collect();
    let mut params = ApplyParams::default();
    for c in &confirmed {
        match *c {
            "allow_truncated" => params.allow_truncated = true,
            "allow_shrink" => params.allow_shrink = true,
            "allow_mass_suspend" => params.allow_mass_suspend = true,
            "allow_missing_files" => params.allow_missing_files = true,
            "allow_empty" => params.allow_empty = true,
            other => return Err(form_error("confirm", &format!("`{other}` is not a guard"))),
        }
    }
    let run = api::load_run(&app, id).await?;
    let unconfirmed: Vec<Refusal> = refusals_of(&run)
        .into_iter()
        .filter(|r| {
            r.overridden_by
                .as_deref()
                .is_none_or(|o| !confirmed.contains(&o))
        })
        .collect();
    if !unconfirmed.is_empty() {
        let mut e = ApiError::new(
            ProblemType::ImportRefused,
            format!(
                "Not applied, nothing was changed: confirm each tripped guard by name first ({}).",
                unconfirmed
                    .iter()
                    .map(|r| r.overridden_by.as_deref().unwrap_or(&r.code).to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        for r in unconfirmed {
            e = e.with_field(
                r.overridden_by.unwrap_or(r.code),
                format!("{} (not confirmed)", r.message),
            );
        }
        return Err(e);
    }
    let actor = viewer.principal.actor(viewer.request_id.clone());
    api::submit_apply(&app, actor, id, &params).await?;
    Ok(see(format!("/imports/{id}")))
}

/// `GET /imports/{id}/errors.csv`: every row error, as the API's route answers it.
pub async fn errors_csv(
    State(app): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    api::errors_csv_response(&app, id).await
}
