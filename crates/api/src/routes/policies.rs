//! `/api/v1/policies`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cc_domain::{NewPolicy, Page, Platform, Policy, PolicyCategory, PolicyPatch, PolicyQuery};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::{created, versioned, CommonErrors, Paging, WriteErrors, ID_SORT};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentActor, IfMatch};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PolicyListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub category: Option<PolicyCategory>,
    /// Policies that apply to this platform (including those for all platforms).
    pub platform: Option<Platform>,
    pub enabled: Option<bool>,
    /// Free text over name and description.
    pub q: Option<String>,
    /// `created_at` (default) or `-created_at`.
    #[param(pattern = "^-?created_at$")]
    pub sort: Option<String>,
}

/// List policies.
#[utoipa::path(get, path = "/policies", tag = "policies", params(PolicyListParams),
    responses((status = 200, description = "One page of policies", body = Page<Policy>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<PolicyListParams>,
) -> ApiResult<Json<Page<Policy>>> {
    let paging = Paging::parse(p.limit, p.cursor.as_deref(), p.sort.as_deref(), ID_SORT)?;
    let q = PolicyQuery {
        category: p.category,
        platform: p.platform,
        enabled: p.enabled,
        q: p.q,
        dir: paging.dir,
        limit: paging.limit,
        cursor: paging.cursor,
    };
    Ok(Json(app.store.list_policies(&q).await?))
}

/// Create a policy.
#[utoipa::path(post, path = "/policies", tag = "policies", request_body = NewPolicy,
    responses((status = 201, description = "Created", body = Policy), WriteErrors, CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(input): ApiJson<NewPolicy>,
) -> ApiResult<Response> {
    let x = app.directory.create_policy(&actor, input).await?;
    Ok(created(format!("/api/v1/policies/{}", x.id), x.version, &x))
}

/// Get a policy.
#[utoipa::path(get, path = "/policies/{id}", tag = "policies", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The policy", body = Policy),
        (status = 404, description = "No such policy", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Response> {
    let x = app
        .store
        .get_policy(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No policy with that id."))?;
    Ok(versioned(StatusCode::OK, x.version, &x))
}

/// Update a policy.
#[utoipa::path(patch, path = "/policies/{id}", tag = "policies", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    request_body = PolicyPatch,
    responses((status = 200, description = "The updated policy", body = Policy), WriteErrors, CommonErrors))]
pub async fn update(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<PolicyPatch>,
) -> ApiResult<Response> {
    let x = app
        .directory
        .update_policy(&actor, id, patch, if_match)
        .await?;
    Ok(versioned(StatusCode::OK, x.version, &x))
}

/// Delete a policy.
#[utoipa::path(delete, path = "/policies/{id}", tag = "policies", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the deletion is based on")),
    responses((status = 204, description = "Deleted"), WriteErrors, CommonErrors))]
pub async fn delete(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    app.directory.delete_policy(&actor, id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
