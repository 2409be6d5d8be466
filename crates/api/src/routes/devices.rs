//! `/api/v1/devices`

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cc_domain::{Compliance, Device, DevicePatch, DeviceQuery, NewDevice, Page, Platform};
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
pub struct DeviceListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    pub platform: Option<Platform>,
    pub compliance: Option<Compliance>,
    pub assigned_user_id: Option<Uuid>,
    /// Free text over serial number, name and model.
    pub q: Option<String>,
    /// `created_at` (default) or `-created_at`.
    #[param(pattern = "^-?created_at$")]
    pub sort: Option<String>,
}

/// List devices.
#[utoipa::path(get, path = "/devices", tag = "devices", params(DeviceListParams),
    responses((status = 200, description = "One page of devices", body = Page<Device>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<DeviceListParams>,
) -> ApiResult<Json<Page<Device>>> {
    let paging = Paging::parse(p.limit, p.cursor.as_deref(), p.sort.as_deref(), ID_SORT)?;
    let q = DeviceQuery {
        platform: p.platform,
        compliance: p.compliance,
        assigned_user_id: p.assigned_user_id,
        q: p.q,
        dir: paging.dir,
        limit: paging.limit,
        cursor: paging.cursor,
    };
    Ok(Json(app.store.list_devices(&q).await?))
}

/// Create a device.
#[utoipa::path(post, path = "/devices", tag = "devices", request_body = NewDevice,
    responses((status = 201, description = "Created", body = Device), WriteErrors, CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(input): ApiJson<NewDevice>,
) -> ApiResult<Response> {
    let x = app.directory.create_device(&actor, input).await?;
    Ok(created(format!("/api/v1/devices/{}", x.id), x.version, &x))
}

/// Get a device.
#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The device", body = Device),
        (status = 404, description = "No such device", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Response> {
    let x = app
        .store
        .get_device(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No device with that id."))?;
    Ok(versioned(StatusCode::OK, x.version, &x))
}

/// Update a device.
#[utoipa::path(patch, path = "/devices/{id}", tag = "devices", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    request_body = DevicePatch,
    responses((status = 200, description = "The updated device", body = Device), WriteErrors, CommonErrors))]
pub async fn update(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<DevicePatch>,
) -> ApiResult<Response> {
    let x = app
        .directory
        .update_device(&actor, id, patch, if_match)
        .await?;
    Ok(versioned(StatusCode::OK, x.version, &x))
}

/// Delete a device.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the deletion is based on")),
    responses((status = 204, description = "Deleted"), WriteErrors, CommonErrors))]
pub async fn delete(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    app.directory.delete_device(&actor, id, if_match).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
