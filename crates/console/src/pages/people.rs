//! `/people` (search, filters, keyset paging: a plain GET form) and `/people/{id}` (fields,
//! groups, target accounts, job and audit history), with the lifecycle actions: each shows
//! its dry-run plan first (`GET /people/{id}/actions/{operation}`), then applies with the
//! version read (`POST`, If-Match semantics). The answer to an accepted action shows the job
//! live and a temporary password once; the page's address then becomes the person's, so a
//! reload shows the person without it. The form carries a one-time token: posting it again
//! (a reload without the script) requests nothing and goes to the first request's job.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Form;
use cc_api::auth::middleware::ChangeGeneration;
use cc_api::routes::users::UserListParams;
use cc_api::{ApiError, AppState};
use cc_domain::{
    AuditQuery, Job, JobState, LifecycleOperation, LinkStatus, Role, SyncState, User, UserStatus,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::csrf;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::list::non_empty;
use crate::viewer::Viewer;

/// People per page.
const PAGE_SIZE: u32 = 50;
/// Jobs and audit events shown on a person's page.
const HISTORY: u32 = 20;

/// The route template of an action (as the permission table declares it).
pub const ACTION_ROUTE: &str = "/people/{id}/actions/{operation}";

/// The search form's fields (all optional; empty fields are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct Search {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub school: String,
    #[serde(default)]
    pub grade: String,
    #[serde(default)]
    pub role: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub sync: String,
    #[serde(default)]
    pub cursor: String,
}

fn invalid(field: &str, msg: &str) -> ApiError {
    ApiError::new(
        cc_api::error::ProblemType::InvalidQuery,
        format!("{field}: {msg}"),
    )
}

impl Search {
    fn params(&self) -> Result<UserListParams, ApiError> {
        let enum_of = |v: &str| non_empty(v).map(serde_json::Value::String);
        let role = enum_of(&self.role)
            .map(serde_json::from_value::<Role>)
            .transpose()
            .map_err(|_| invalid("role", "not a role"))?;
        let status = enum_of(&self.status)
            .map(serde_json::from_value::<UserStatus>)
            .transpose()
            .map_err(|_| invalid("status", "not a status"))?;
        let sync = enum_of(&self.sync)
            .map(serde_json::from_value::<SyncState>)
            .transpose()
            .map_err(|_| invalid("sync", "not a sync state"))?;
        let grade = non_empty(&self.grade)
            .map(|g| g.parse::<i16>())
            .transpose()
            .map_err(|_| invalid("grade", "a number from -1 (pre-K) to 12"))?;
        Ok(UserListParams {
            limit: Some(PAGE_SIZE),
            cursor: non_empty(&self.cursor),
            status,
            role,
            grade,
            school: non_empty(&self.school),
            group: non_empty(&self.group),
            q: non_empty(&self.q),
            sync,
            sort: None,
        })
    }

    /// This search's query string with another cursor.
    fn with_cursor(&self, cursor: &str) -> String {
        let pairs: Vec<(&str, &str)> = [
            ("q", self.q.as_str()),
            ("school", &self.school),
            ("grade", &self.grade),
            ("role", &self.role),
            ("status", &self.status),
            ("group", &self.group),
            ("sync", &self.sync),
            ("cursor", cursor),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

fn select(name: &str, label: &str, current: &str, options: &[&str]) -> Markup {
    html! {
        div.field {
            label for=(format!("f-{name}")) { (label) }
            select id=(format!("f-{name}")) name=(name) {
                option value="" selected[current.is_empty()] { "Any" }
                @for o in options {
                    option value=(o) selected[current == *o] { (o.replace('_', " ")) }
                }
            }
        }
    }
}

fn text_field(name: &str, label: &str, current: &str, kind: &str) -> Markup {
    html! {
        div.field {
            label for=(format!("f-{name}")) { (label) }
            input id=(format!("f-{name}")) type=(kind) name=(name) value=(current);
        }
    }
}

/// `GET /people`.
pub async fn list(
    State(app): State<AppState>,
    viewer: Viewer,
    seen: Option<axum::Extension<ChangeGeneration>>,
    Query(search): Query<Search>,
) -> Result<Response, ApiError> {
    let query = search.params()?.into_query()?;
    // The rows are the same for every viewer (the role only decides the buttons), so they are
    // kept while the store reports no change, under the generation taken when the request was
    // authenticated, before this read (the rule of `cc_service::cache`).
    let key = format!("{query:?}");
    let generation = match seen {
        Some(axum::Extension(g)) => g.0,
        None => app.store.change_generation(),
    };
    // Viewers asking for the same rows under the same generation share one read.
    let read =
        || async { Ok::<_, ApiError>(std::sync::Arc::new(app.store.list_users(&query).await?)) };
    let page = match generation {
        Some(g) => app.people_rows.get_or_load(key, g, read).await?,
        None => read().await?,
    };
    let body = html! {
        h1 { "People" }
        form.filters method="get" action="/people" role="search" aria-label="Find people" {
            (text_field("q", "Name, username, external id or e-mail", &search.q, "search"))
            (text_field("school", "School", &search.school, "text"))
            (text_field("grade", "Grade (-1 = pre-K)", &search.grade, "number"))
            (select("role", "Role", &search.role, &Role::ALL.map(Role::as_str)))
            (select("status", "Status", &search.status, &UserStatus::ALL.map(UserStatus::as_str)))
            (text_field("group", "Group", &search.group, "text"))
            (select("sync", "Sync state", &search.sync, &["in_sync", "pending", "failed"]))
            div.field { button.primary type="submit" { "Search" } }
        }
        @if page.items.is_empty() {
            p.empty { "No one matches." }
        } @else {
            div.table-wrap {
                table #people {
                    caption { "People (" (page.items.len()) " on this page)" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Username" }
                        th scope="col" { "Role" } th scope="col" { "Grade" }
                        th scope="col" { "School" } th scope="col" { "Status" }
                    } }
                    tbody {
                        @for u in &page.items {
                            tr {
                                td { a href=(format!("/people/{}", u.id)) { (u.given_name) " " (u.family_name) } }
                                td.mono { (u.username) }
                                td { (u.role.as_str()) }
                                td { (grade(u.grade)) }
                                td { (u.school.as_deref().unwrap_or("–")) }
                                td { (status(u.status)) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if !search.cursor.is_empty() {
                a href=(format!("/people?{}", search.with_cursor(""))) { "First page" }
            }
            @if let Some(next) = &page.next_cursor {
                a rel="next" href=(format!("/people?{}", search.with_cursor(next))) { "Next page" }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "People",
        Nav::People,
        &PageOptions::default(),
        body,
    ))
}

fn grade(g: Option<i16>) -> String {
    match g {
        None => "–".into(),
        Some(-1) => "Pre-K".into(),
        Some(0) => "K".into(),
        Some(g) => g.to_string(),
    }
}

/// A person's status as a badge (icon and word).
#[must_use]
pub fn status(s: UserStatus) -> Markup {
    let level = match s {
        UserStatus::Active => "ok",
        UserStatus::Suspended => "warn",
        UserStatus::Deprovisioned => "bad",
        _ => "idle",
    };
    status_badge(level, s.as_str())
}

/// A job's state as a badge.
#[must_use]
pub fn job_state(s: JobState) -> Markup {
    let level = match s {
        JobState::Completed => "ok",
        JobState::Retryable => "warn",
        JobState::Discarded | JobState::Cancelled => "bad",
        _ => "idle",
    };
    status_badge(level, s.as_str())
}

async fn load_user(app: &AppState, id: Uuid) -> Result<User, ApiError> {
    app.store
        .get_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No person with that id."))
}

/// The person's recent lifecycle jobs (newest first), from their audit trail.
async fn jobs_of(app: &AppState, events: &[cc_domain::AuditEvent]) -> Result<Vec<Job>, ApiError> {
    let mut jobs = Vec::new();
    for e in events {
        let Some(id) = e
            .after
            .as_ref()
            .and_then(|a| a.get("job_id"))
            .and_then(serde_json::Value::as_i64)
        else {
            continue;
        };
        if jobs.iter().any(|j: &Job| j.id == id) {
            continue;
        }
        if let Some(j) = app.store.get_job(id).await? {
            jobs.push(j);
        }
    }
    Ok(jobs)
}

async fn history(app: &AppState, id: Uuid) -> Result<Vec<cc_domain::AuditEvent>, ApiError> {
    Ok(app
        .store
        .list_audit(&AuditQuery {
            target_type: Some("user".into()),
            target_id: Some(id.to_string()),
            limit: HISTORY,
            ..AuditQuery::default()
        })
        .await?)
}

/// The regions of a person's page that follow job events (also on an action's answer).
async fn live_regions(app: &AppState, user: &User) -> Result<Markup, ApiError> {
    let links = app.store.list_target_links(user.id).await?;
    let events = history(app, user.id).await?;
    let jobs = jobs_of(app, &events).await?;
    let pending = jobs.iter().any(|j| !j.state.is_final());
    let sync = if links.iter().any(|l| l.status == LinkStatus::Failed) {
        status_badge("bad", "failed")
    } else if pending {
        status_badge("idle", "pending")
    } else {
        status_badge("ok", "in sync")
    };
    let targets = app.lifecycle.target_info();
    Ok(html! {
        section #person-targets data-refresh-target aria-labelledby="h-targets" {
            h2 #h-targets { "Target accounts" }
            p { "Sync state: " (sync) }
            @if targets.is_empty() && links.is_empty() {
                p.empty { "No lifecycle targets are configured." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Target" } th scope="col" { "Account" }
                        th scope="col" { "Status" } th scope="col" { "Last operation" }
                        th scope="col" { "Last error" } th scope="col" { "Last sync" } } }
                    tbody {
                        @for t in &targets {
                            @let link = links.iter().find(|l| l.target == t.name);
                            tr {
                                th scope="row" { (t.name) " (" (t.kind) ")" }
                                @if let Some(l) = link {
                                    td.mono { (l.account_id.as_deref().unwrap_or("–")) }
                                    td { (link_status(l.status)) }
                                    td { (l.last_operation.as_str()) }
                                    td { (l.last_error.as_deref().unwrap_or("–")) }
                                    td { (l.synced_at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())) }
                                } @else {
                                    td { "–" } td { (status_badge("idle", "no account")) } td { "–" } td { "–" } td { "never" }
                                }
                            }
                        }
                    }
                } }
            }
        }
        section #person-jobs data-refresh-target aria-labelledby="h-jobs" {
            h2 #h-jobs { "Jobs" }
            @if jobs.is_empty() {
                p.empty { "No lifecycle jobs yet." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "Job" } th scope="col" { "Kind" }
                        th scope="col" { "State" } th scope="col" { "Attempt" }
                        th scope="col" { "Created" } th scope="col" { "Last error" } } }
                    tbody {
                        @for j in &jobs {
                            tr data-job-id=(j.id) {
                                td.mono { (j.id) }
                                td { (j.kind) }
                                td.job-state { (job_state(j.state)) }
                                td.num { (j.attempt) " / " (j.max_attempts) }
                                td { (j.created_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                td { (j.errors.last().map(|e| e.error.as_str()).unwrap_or("–")) }
                            }
                        }
                    }
                } }
            }
        }
        section #person-audit data-refresh-target aria-labelledby="h-audit" {
            h2 #h-audit { "Audit history" }
            @if events.is_empty() {
                p.empty { "Nothing recorded." }
            } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Request" } } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { (e.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                                td { (e.actor) }
                                td.mono { (e.action) }
                                td.mono { (e.request_id.as_deref().unwrap_or("–")) }
                            }
                        }
                    }
                } }
            }
        }
    })
}

fn link_status(s: LinkStatus) -> Markup {
    match s {
        LinkStatus::Failed => status_badge("bad", s.as_str()),
        _ => status_badge("ok", s.as_str()),
    }
}

fn fields(user: &User) -> Markup {
    html! {
        dl.fields {
            dt { "Username" } dd.mono { (user.username) }
            dt { "Status" } dd #person-status { (status(user.status)) }
            dt { "Role" } dd { (user.role.as_str()) }
            dt { "Grade" } dd { (grade(user.grade)) }
            dt { "School" } dd { (user.school.as_deref().unwrap_or("–")) }
            dt { "E-mail" } dd { (user.email.as_deref().unwrap_or("–")) }
            dt { "External id" } dd.mono { (user.external_id.as_deref().unwrap_or("–")) }
            dt { "Groups" } dd {
                @if user.groups.is_empty() { "none" }
                @for (i, g) in user.groups.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(format!("/groups?q={}", urlencode(g))) { (g) }
                }
            }
            dt { "Version" } dd { (user.version) }
            dt { "Updated" } dd { (user.updated_at.format("%Y-%m-%d %H:%M:%S UTC")) }
        }
    }
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|v| v.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

fn op_label(op: LifecycleOperation) -> &'static str {
    match op {
        LifecycleOperation::Provision => "Provision",
        LifecycleOperation::Update => "Update",
        LifecycleOperation::Suspend => "Suspend",
        LifecycleOperation::ResetPassword => "Reset password",
        LifecycleOperation::Deprovision => "Deprovision",
    }
}

fn action_buttons(viewer: &Viewer, user: &User) -> Markup {
    if !viewer.may(&Method::POST, ACTION_ROUTE) {
        return html! {};
    }
    html! {
        section.actions-bar aria-labelledby="h-actions" {
            h2 #h-actions { "Actions" }
            p.muted { "Each action shows what it will change first." }
            div.actions {
                @for op in LifecycleOperation::ALL {
                    @if op.transition(user.status).is_ok() {
                        a.button href=(format!("/people/{}/actions/{}", user.id, op.as_str())) { (op_label(op)) }
                    }
                }
            }
        }
    }
}

/// `GET /people/{id}`.
pub async fn detail(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let user = load_user(&app, id).await?;
    let body = html! {
        h1 { (user.given_name) " " (user.family_name) }
        (fields(&user))
        (action_buttons(&viewer, &user))
        (live_regions(&app, &user).await?)
    };
    Ok(layout::respond(
        &viewer,
        &format!("{} {}", user.given_name, user.family_name),
        Nav::People,
        &PageOptions {
            live_on: &["job"],
            refresh_every: None,
        },
        body,
    ))
}

fn parse_op(slug: &str) -> Result<LifecycleOperation, ApiError> {
    slug.parse::<LifecycleOperation>()
        .map_err(|m| ApiError::not_found(format!("{m}.")))
}

fn show_value(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "–".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// `GET /people/{id}/actions/{operation}`: the dry run, with the form that applies it.
pub async fn plan(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((id, slug)): Path<(Uuid, String)>,
) -> Result<Response, ApiError> {
    let op = parse_op(&slug)?;
    let plan = app.actions().dry_run(id, op).await?;
    let user = &plan.user;
    let body = html! {
        h1 { (op_label(op)) ": " (user.given_name) " " (user.family_name) }
        p.summary {
            "Status now " (status(user.status)) ", after the action " (status(plan.next_status)) "."
        }
        section #plan aria-labelledby="h-plan" {
            h2 #h-plan { "What each target will change" }
            @if plan.targets.is_empty() {
                p.empty { "No configured target handles this operation: only the status changes." }
            }
            @for t in &plan.targets {
                @let v = serde_json::to_value(t).unwrap_or_default();
                article.card.plan-target {
                    h3 { (t.target) " (" (t.kind) ")" }
                    @if let Some(e) = &t.error {
                        p.alert.alert-bad { "Could not plan: " (e)
                            @if t.retryable == Some(true) { " (the job will retry)" } }
                    } @else {
                        @let changes = v["plan"]["changes"].as_array().cloned().unwrap_or_default();
                        p { "Account: " span.mono { (show_value(v["plan"].get("account_id"))) }
                            @if v["plan"]["exists"].as_bool() == Some(true) { " (exists)" } @else { " (to be created)" } }
                        @if changes.is_empty() {
                            p.muted { "Nothing to change." }
                        } @else {
                            table {
                                thead { tr { th scope="col" { "Change" } th scope="col" { "Object" }
                                    th scope="col" { "Attribute" } th scope="col" { "From" } th scope="col" { "To" } } }
                                tbody {
                                    @for c in &changes {
                                        tr {
                                            td { (show_value(c.get("kind"))) }
                                            td.mono { (show_value(c.get("object"))) }
                                            td { (show_value(c.get("attribute"))) }
                                            td { (show_value(c.get("from"))) }
                                            td { (show_value(c.get("to"))) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action=(format!("/people/{}/actions/{}", user.id, op.as_str())) {
            (csrf::field(&viewer))
            input type="hidden" name="version" value=(user.version);
            input type="hidden" name="form_token" value=(Uuid::new_v4());
            div.actions {
                a.button href=(format!("/people/{}", user.id)) { "Cancel" }
                button type="submit" class=(if op == LifecycleOperation::Deprovision { "danger" } else { "primary" }) {
                    "Confirm: " (op_label(op))
                }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        op_label(op),
        Nav::People,
        &PageOptions::default(),
        body,
    ))
}

/// The apply form: the version the plan was read at, and the plan page's one-time token.
#[derive(Deserialize)]
pub struct Apply {
    pub version: i64,
    /// Posting the same form again (a reload of the answer without the script) makes no
    /// second request: it finds the first one's job.
    pub form_token: Uuid,
}

/// `POST /people/{id}/actions/{operation}`: requests the operation at the version read. The
/// answer shows the job (live) and, once, a temporary password; it is never stored.
pub async fn apply(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((id, slug)): Path<(Uuid, String)>,
    Form(form): Form<Apply>,
) -> Result<Response, ApiError> {
    let op = parse_op(&slug)?;
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let key = format!("console-action:{}", form.form_token);
    let out = match app
        .actions()
        .request(&actor, id, op, Some(form.version), Some(&key))
        .await
    {
        // Posted before: show that request's job instead of requesting again.
        Ok(out) if out.replayed => {
            return Ok(
                axum::response::Redirect::to(&format!("/jobs/{}", out.job.id)).into_response(),
            );
        }
        Ok(out) => out,
        Err(cc_service::ServiceError::PreconditionFailed { current }) => {
            let user = load_user(&app, id).await?;
            let body = html! {
                h1 { (op_label(op)) ": " (user.given_name) " " (user.family_name) }
                div.alert.alert-bad role="alert" {
                    p { "Nothing was changed: this person changed since you reviewed the plan "
                        "(you read version " (form.version) ", it is now at version " (current) ")." }
                    p { a href=(format!("/people/{}/actions/{}", id, op.as_str())) { "Review the plan again" }
                        " or " a href=(format!("/people/{id}")) { "go back to the person" } "." }
                }
            };
            let mut res = layout::respond(
                &viewer,
                "Changed meanwhile",
                Nav::People,
                &PageOptions::default(),
                body,
            );
            *res.status_mut() = axum::http::StatusCode::CONFLICT;
            return Ok(res);
        }
        Err(e) => return Err(e.into()),
    };
    let user = out.user;
    let body = html! {
        div data-replace-url=(format!("/people/{}", user.id)) {}
        h1 { (user.given_name) " " (user.family_name) }
        div.alert.alert-ok role="status" {
            p { (op_label(op)) " requested: job " span.mono #action-job { (out.job.id) } "." }
        }
        @if let Some(pw) = &out.temporary_password {
            section.card.secret #temporary-password aria-labelledby="h-password" {
                h2 #h-password { "Temporary password" }
                p { "Shown this once: it is not stored anywhere in clear text. Give it to the person now." }
                p { code.mono #password-value { (pw) } " "
                    button type="button" data-copy=(pw) { "Copy" } }
            }
        }
        (fields(&user))
        (live_regions(&app, &user).await?)
    };
    Ok(layout::respond(
        &viewer,
        op_label(op),
        Nav::People,
        &PageOptions {
            live_on: &["job"],
            refresh_every: None,
        },
        body,
    ))
}
