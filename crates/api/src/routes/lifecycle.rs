//! Lifecycle actions: `/api/v1/users/{id}/actions/{operation}`, the bulk
//! `/api/v1/users/actions/{operation}`, a person's target links and the configured targets.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cc_domain::{Job, LifecycleOperation, TargetLinkRecord, User, UserQuery, UserStatus};
pub use cc_lifecycle::ActionPlan;
use cc_lifecycle::TargetInfo;
use cc_service::lifecycle::{BulkSkip, MAX_BULK};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::{CommonErrors, WriteErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentActor, IfMatch};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ActionParams {
    /// `true`: return the plan per target and change nothing.
    pub dry_run: Option<bool>,
}

/// An accepted action: the job that carries it out (its fields at the top level, as every
/// enqueueing endpoint answers), with the person and the one-time password.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionAccepted {
    #[serde(flatten)]
    pub job: Job,
    /// The person after the request (`status` already reflects the operation).
    pub user: User,
    /// The new temporary password (`reset-password`, and `provision` when a target keeps
    /// passwords). Shown in this response only: it is stored nowhere in clear text and can
    /// never be read again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
}

fn parse_operation(slug: &str) -> ApiResult<LifecycleOperation> {
    slug.parse::<LifecycleOperation>()
        .map_err(|m| ApiError::not_found(format!("{m}.")))
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Run a lifecycle operation on one person.
///
/// `operation` is `provision`, `update`, `suspend`, `reset-password` or `deprovision`. The
/// person's status changes at once (`provision` → active, `suspend` → suspended,
/// `deprovision` → deprovisioned) and a job carries the operation to every target; follow it
/// at `Location`. An operation the person's status does not allow answers 409
/// (`invalid_transition`). With `dry_run=true` the answer is each target's plan, and nothing
/// changes anywhere.
///
/// `reset-password` (and `provision`, when a target keeps passwords) answers with a generated
/// `temporary_password`, shown once.
#[utoipa::path(post, path = "/users/{id}/actions/{operation}", tag = "lifecycle",
    params(("id" = Uuid, Path), ("operation" = String, Path, pattern = "^(provision|update|suspend|reset-password|deprovision)$", description = "provision, update, suspend, reset-password or deprovision"),
        ActionParams,
        ("If-Match" = Option<String>, Header, description = "The version the request is based on")),
    responses(
        (status = 202, description = "Accepted; `Location` names the job", body = ActionAccepted),
        (status = 200, description = "Dry run: the plan per target", body = ActionPlan),
        WriteErrors, CommonErrors))]
pub async fn act(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath((id, slug)): ApiPath<(Uuid, String)>,
    ApiQuery(params): ApiQuery<ActionParams>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let op = parse_operation(&slug)?;
    let actions = app.actions();
    if params.dry_run.unwrap_or(false) {
        return Ok(Json(actions.dry_run(id, op).await?).into_response());
    }
    let out = actions.request(&actor, id, op, if_match, None).await?;
    let job_id = out.job.id;
    let body = ActionAccepted {
        job: out.job,
        user: out.user,
        temporary_password: out.temporary_password,
    };
    let mut res = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/jobs/{job_id}")) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(no_store(res))
}

/// Which people a bulk action is for: a list of ids, or a filter (as on `GET /users`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// People by id (at most 10,000).
    #[serde(default)]
    pub ids: Option<Vec<Uuid>>,
    /// Everyone matching (at most 10,000 people).
    #[serde(default)]
    pub filter: Option<BulkFilter>,
    /// `true`: say who would be included and who skipped, and change nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    pub status: Option<UserStatus>,
    pub role: Option<cc_domain::Role>,
    #[schema(minimum = -1, maximum = 12)]
    pub grade: Option<i16>,
    pub school: Option<String>,
    pub group: Option<String>,
    #[schema(max_length = 200)]
    pub q: Option<String>,
    /// `in_sync`, `pending` or `failed`: e.g. provision again everyone whose targets failed.
    pub sync: Option<cc_domain::SyncState>,
}

/// One person's job in a bulk action.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkJob {
    pub user_id: Uuid,
    pub username: String,
    /// Absent in a dry run.
    pub job_id: Option<i64>,
    /// Shown once (`reset-password`, or `provision` when a target keeps passwords).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporary_password: Option<String>,
}

/// The batch a bulk action enqueued; follow it at `GET /api/v1/batches/{batch_id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkAccepted {
    pub operation: LifecycleOperation,
    /// Absent in a dry run.
    pub batch_id: Option<Uuid>,
    pub dry_run: bool,
    pub enqueued: usize,
    pub jobs: Vec<BulkJob>,
    /// People left out, with the reason (their status does not allow the operation, …).
    pub skipped: Vec<BulkSkip>,
}

/// Run a lifecycle operation on many people as one batch.
///
/// Give `ids` or a `filter`. People whose status does not allow the operation are skipped and
/// listed, not failed. The batch's progress is at `GET /api/v1/batches/{batch_id}`.
#[utoipa::path(post, path = "/users/actions/{operation}", tag = "lifecycle",
    params(("operation" = String, Path, pattern = "^(provision|update|suspend|reset-password|deprovision)$", description = "provision, update, suspend, reset-password or deprovision")),
    request_body = BulkRequest,
    responses(
        (status = 202, description = "Accepted: one batch", body = BulkAccepted),
        (status = 200, description = "Dry run: who would be included", body = BulkAccepted),
        WriteErrors, CommonErrors))]
pub async fn bulk(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(slug): ApiPath<String>,
    ApiJson(req): ApiJson<BulkRequest>,
) -> ApiResult<Response> {
    let op = parse_operation(&slug)?;
    let ids = match (req.ids, req.filter) {
        (Some(ids), None) => {
            if ids.len() > MAX_BULK {
                return Err(too_many());
            }
            ids
        }
        (None, Some(f)) => resolve_filter(&app, f).await?,
        _ => {
            return Err(ApiError::validation(cc_domain::ValidationErrors::single(
                "ids",
                "give either `ids` or `filter`",
            )))
        }
    };
    let actions = app.actions();
    if req.dry_run {
        let preview = actions.preview_bulk(&ids, op).await?;
        let jobs = preview
            .included
            .into_iter()
            .map(|u| BulkJob {
                user_id: u.id,
                username: u.username,
                job_id: None,
                temporary_password: None,
            })
            .collect();
        return Ok(Json(BulkAccepted {
            operation: op,
            batch_id: None,
            dry_run: true,
            enqueued: 0,
            jobs,
            skipped: preview.skipped,
        })
        .into_response());
    }
    let out = actions.request_bulk(&actor, &ids, op).await?;
    let jobs: Vec<BulkJob> = out
        .jobs
        .into_iter()
        .map(|j| BulkJob {
            user_id: j.user.id,
            username: j.user.username,
            job_id: Some(j.job_id),
            temporary_password: j.temporary_password,
        })
        .collect();
    let body = BulkAccepted {
        operation: op,
        batch_id: Some(out.batch_id),
        dry_run: false,
        enqueued: jobs.len(),
        jobs,
        skipped: out.skipped,
    };
    let mut res = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/batches/{}", out.batch_id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(no_store(res))
}

fn too_many() -> ApiError {
    ApiError::validation(cc_domain::ValidationErrors::single(
        "ids",
        format!("at most {MAX_BULK} people per request; narrow the filter or use a roster import"),
    ))
}

async fn resolve_filter(app: &AppState, f: BulkFilter) -> ApiResult<Vec<Uuid>> {
    if f.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::validation(cc_domain::ValidationErrors::single(
            "filter.q",
            "must be at most 200 characters",
        )));
    }
    if f.grade.is_some_and(|g| !super::users::GRADES.contains(&g)) {
        return Err(ApiError::validation(cc_domain::ValidationErrors::single(
            "filter.grade",
            "must be between -1 (pre-K) and 12",
        )));
    }
    let mut q = UserQuery {
        status: f.status,
        role: f.role,
        grade: f.grade,
        school: f.school,
        group: f.group,
        q: f.q,
        sync: f.sync,
        limit: 500,
        ..UserQuery::default()
    };
    let mut ids = Vec::new();
    loop {
        let page = app.store.list_users(&q).await?;
        ids.extend(page.items.iter().map(|u| u.id));
        if ids.len() > MAX_BULK {
            return Err(too_many());
        }
        match page.next_cursor {
            Some(c) => {
                q.cursor = Some(
                    cc_domain::Cursor::decode(&c, q.sort.name())
                        .map_err(|_| ApiError::internal())?,
                );
            }
            None => return Ok(ids),
        }
    }
}

/// Where a person's accounts stand: the configured targets and the link to each.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserTargets {
    /// `failed` when the last operation on a target failed (its link has the error),
    /// `pending` while a lifecycle job for the person is unfinished, else `in_sync`.
    pub sync: cc_domain::SyncState,
    /// One per target the person has been acted on at, by target name.
    pub links: Vec<TargetLinkRecord>,
    /// The targets configured now.
    pub targets: Vec<TargetInfo>,
}

/// A person's accounts on each target: the account's id there, how the last operation went
/// and when it last succeeded.
#[utoipa::path(get, path = "/users/{id}/targets", tag = "lifecycle", params(("id" = Uuid, Path)),
    responses((status = 200, description = "Links per target", body = UserTargets),
        (status = 404, description = "No such person", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn user_targets(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<UserTargets>> {
    if app.store.get_user(id).await?.is_none() {
        return Err(ApiError::not_found("No user with that id."));
    }
    let links = app.store.list_target_links(id).await?;
    let sync = if links
        .iter()
        .any(|l| l.status == cc_domain::LinkStatus::Failed)
    {
        cc_domain::SyncState::Failed
    } else if app
        .store
        .earlier_lifecycle_job(id, i64::MAX)
        .await?
        .is_some()
    {
        cc_domain::SyncState::Pending
    } else {
        cc_domain::SyncState::InSync
    };
    Ok(Json(UserTargets {
        sync,
        links,
        targets: app.lifecycle.target_info(),
    }))
}

/// The configured lifecycle targets and the operations each handles.
#[utoipa::path(get, path = "/targets", tag = "lifecycle",
    responses((status = 200, description = "Configured targets", body = Vec<TargetInfo>), CommonErrors))]
pub async fn targets(State(app): State<AppState>) -> Json<Vec<TargetInfo>> {
    Json(app.lifecycle.target_info())
}

/// Check every target now: the bind, the base and the schema capabilities its configuration
/// needs (LDAP), with latency and the reason of a failure. Readiness shows the same result
/// from the periodic check; this runs it on demand (`command-center check` does).
#[utoipa::path(post, path = "/targets/check", tag = "lifecycle",
    responses((status = 200, description = "Each target's check, in configuration order", body = Vec<cc_lifecycle::TargetHealth>), CommonErrors))]
pub async fn check_targets(State(app): State<AppState>) -> Json<Vec<cc_lifecycle::TargetHealth>> {
    Json(app.lifecycle.check_targets().await)
}
