//! `/api/v1/operators` (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cc_domain::{NewOperator, Operator, OperatorPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{created, versioned, CommonErrors, WriteErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, CurrentActor, IfMatch};
use crate::AppState;

/// Every operator.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OperatorList {
    pub items: Vec<Operator>,
}

/// `POST /api/v1/operators/{id}/password`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// At least 12 characters, not a common password, not containing the username.
    #[schema(min_length = 12, max_length = 256)]
    pub password: String,
}

/// List operators.
#[utoipa::path(get, path = "/operators", tag = "operators",
    responses((status = 200, description = "Every operator, by name", body = OperatorList), CommonErrors))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<OperatorList>> {
    Ok(Json(OperatorList {
        items: app.auth.list_operators().await?,
    }))
}

/// Create an operator.
#[utoipa::path(post, path = "/operators", tag = "operators", request_body = NewOperator,
    responses((status = 201, description = "Created", body = Operator), WriteErrors, CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(input): ApiJson<NewOperator>,
) -> ApiResult<Response> {
    let op = app.auth.create_operator(&actor, input).await?;
    Ok(created(
        format!("/api/v1/operators/{}", op.id),
        op.version,
        &op,
    ))
}

/// Get an operator.
#[utoipa::path(get, path = "/operators/{id}", tag = "operators", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The operator", body = Operator),
        (status = 404, description = "No such operator", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(State(app): State<AppState>, ApiPath(id): ApiPath<Uuid>) -> ApiResult<Response> {
    let op = app
        .store
        .auth()
        .get_operator(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No operator with that id."))?;
    Ok(versioned(StatusCode::OK, op.version, &op))
}

/// Change an operator's role, or disable or enable it.
///
/// Disabling ends the operator's sessions and stops its API tokens. The last enabled admin
/// cannot be demoted or disabled.
#[utoipa::path(patch, path = "/operators/{id}", tag = "operators", params(("id" = Uuid, Path),
        ("If-Match" = Option<String>, Header, description = "The version the change is based on")),
    request_body = OperatorPatch,
    responses((status = 200, description = "The updated operator", body = Operator), WriteErrors, CommonErrors))]
pub async fn update(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<OperatorPatch>,
) -> ApiResult<Response> {
    let op = app
        .auth
        .update_operator(&actor, id, patch, if_match)
        .await?;
    Ok(versioned(StatusCode::OK, op.version, &op))
}

/// Set a new password for an operator; ends its sessions.
#[utoipa::path(post, path = "/operators/{id}/password", tag = "operators", params(("id" = Uuid, Path)),
    request_body = PasswordReset,
    responses((status = 204, description = "Password changed"), WriteErrors, CommonErrors))]
pub async fn reset_password(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PasswordReset>,
) -> ApiResult<Response> {
    app.auth.reset_password(&actor, id, &body.password).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
