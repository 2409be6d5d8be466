//! `/api/v1/tokens`: API tokens for automation (admin only).

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cc_domain::{ApiToken, NewApiToken};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{CommonErrors, WriteErrors};
use crate::auth::middleware::Authenticated;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::request_id::RequestId;
use crate::AppState;

/// Every API token (never their secrets).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenList {
    pub items: Vec<ApiToken>,
}

/// A new token with its secret. The secret is shown only in this response.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub token: ApiToken,
    /// Use as `Authorization: Bearer <secret>`. Not retrievable later.
    pub secret: String,
}

/// List API tokens.
#[utoipa::path(get, path = "/tokens", tag = "tokens",
    responses((status = 200, description = "Every token, newest first", body = TokenList), CommonErrors))]
pub async fn list(State(app): State<AppState>) -> ApiResult<Json<TokenList>> {
    Ok(Json(TokenList {
        items: app.auth.list_api_tokens().await?,
    }))
}

/// Create an API token (its role may not be above yours).
#[utoipa::path(post, path = "/tokens", tag = "tokens", request_body = NewApiToken,
    responses((status = 201, description = "Created; `secret` is shown only now", body = CreatedApiToken), WriteErrors, CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    Authenticated(p): Authenticated,
    request_id: Option<Extension<RequestId>>,
    ApiJson(input): ApiJson<NewApiToken>,
) -> ApiResult<Response> {
    let c = app
        .auth
        .create_api_token(&p, input, request_id.map(|r| r.0 .0))
        .await?;
    let location = format!("/api/v1/tokens/{}", c.token.id);
    let mut res = (
        StatusCode::CREATED,
        Json(CreatedApiToken {
            token: c.token,
            secret: c.secret,
        }),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

/// Get an API token.
#[utoipa::path(get, path = "/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The token", body = ApiToken),
        (status = 404, description = "No such token", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiToken>> {
    app.auth
        .get_api_token(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("No API token with that id."))
}

/// Revoke an API token. It stops working at once.
#[utoipa::path(delete, path = "/tokens/{id}", tag = "tokens", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The revoked token", body = ApiToken), WriteErrors, CommonErrors))]
pub async fn revoke(
    State(app): State<AppState>,
    Authenticated(p): Authenticated,
    request_id: Option<Extension<RequestId>>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ApiToken>> {
    Ok(Json(
        app.auth
            .revoke_api_token(&p, id, request_id.map(|r| r.0 .0))
            .await?,
    ))
}
