//! `/api/v1/groups` and memberships.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cc_domain::{Group, GroupKind, GroupPatch, GroupQuery, NewGroup, Page, User};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::users::UserListParams;
use super::{created, versioned, CommonErrors, Paging, WriteErrors, ID_SORT};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery, CurrentActor, IfMatch};
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub kind: Option<GroupKind>,
    pub school: Option<String>,
    /// Free text over name, display name and external id.
    pub q: Option<String>,
    /// `created_at` (default) or `-created_at`.
    #[param(pattern = "^-?created_at$")]
    pub sort: Option<String>,
}

/// List groups.
#[utoipa::path(get, path = "/groups", tag = "groups", params(GroupListParams),
    responses((status = 200, description = "One page of groups", body = Page<Group>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<GroupListParams>,
) -> ApiResult<Json<Page<Group>>> {
    let paging = Paging::parse(p.limit, p.cursor.as_deref(), p.sort.as_deref(), ID_SORT)?;
    let q = GroupQuery {
        kind: p.kind,
        school: p.school,
        q: p.q,
        dir: paging.dir,
        limit: paging.limit,
        cursor: paging.cursor,
    };
    Ok(Json(app.store.list_groups(&q).await?))
}

/// Create a group.
#[utoipa::path(post, path = "/groups", tag = "groups", request_body = NewGroup,
    responses((status = 201, description = "Created", body = Group), WriteErrors, CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(input): ApiJson<NewGroup>,
) -> ApiResult<Response> {
    let g = app.directory.create_group(&actor, input).await?;
    Ok(created(format!("/api/v1/groups/{}", g.id), g.version, &g))
}

/// Get a group.
#[utoipa::path(get, path = "/groups/{id}", tag = "groups", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The group", body = Group),
        (status = 404, description = "No such group", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Response> {
    let g = app
        .store
        .get_group(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No group with that id."))?;
    Ok(versioned(StatusCode::OK, g.version, &g))
}

/// Update a group.
#[utoipa::path(patch, path = "/groups/{id}", tag = "groups", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    request_body = GroupPatch,
    responses((status = 200, description = "The updated group", body = Group), WriteErrors, CommonErrors))]
pub async fn update(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<GroupPatch>,
) -> ApiResult<Response> {
    let g = app
        .directory
        .update_group(&actor, id, patch, if_match)
        .await?;
    Ok(versioned(StatusCode::OK, g.version, &g))
}

/// Delete a group (its memberships go with it).
#[utoipa::path(delete, path = "/groups/{id}", tag = "groups", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the deletion is based on")),
    responses((status = 204, description = "Deleted"), WriteErrors, CommonErrors))]
pub async fn delete(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    app.directory.delete_group(&actor, id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// List a group's members (same filters and sorts as `GET /users`).
#[utoipa::path(get, path = "/groups/{id}/members", tag = "groups", params(("id" = Uuid, Path), UserListParams),
    responses((status = 200, description = "One page of members", body = Page<User>),
        (status = 404, description = "No such group", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn members(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<UserListParams>,
) -> ApiResult<Json<Page<User>>> {
    app.store
        .get_group(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No group with that id."))?;
    let mut page = app.store.group_members(id, &p.into_query()?).await?;
    super::users::with_sync(&app, &mut page.items).await?;
    Ok(Json(page))
}

/// Add a member (idempotent).
#[utoipa::path(put, path = "/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "The person is a member"), WriteErrors, CommonErrors))]
pub async fn add_member(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    app.directory
        .set_membership(&actor, id, user_id, true)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member (idempotent).
#[utoipa::path(delete, path = "/groups/{id}/members/{user_id}", tag = "groups",
    params(("id" = Uuid, Path), ("user_id" = Uuid, Path)),
    responses((status = 204, description = "The person is not a member"), WriteErrors, CommonErrors))]
pub async fn remove_member(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath((id, user_id)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    app.directory
        .set_membership(&actor, id, user_id, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
