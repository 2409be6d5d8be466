//! `/api/v1/auth`: log in, refresh, log out, who am I.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cc_domain::client::client_block;
use cc_domain::OperatorRole;
use cc_service::auth::{PrincipalKind, TokenPair};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{BodyErrors, CommonErrors};
use crate::auth::middleware::{auth_error, Authenticated};
use crate::auth::rate_limit::too_many;
use crate::auth::ClientAddr;
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::ApiJson;
use crate::request_id::RequestId;
use crate::AppState;

/// `POST /api/v1/auth/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// `POST /api/v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// An access token (a JWT for `Authorization: Bearer`) and a single-use refresh token.
#[derive(Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.…",
    "refresh_token": "ccr_…", "token_type": "Bearer", "expires_in": 900}))]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires; refresh before then.
    pub expires_in: i64,
}

/// The token pair as a login answers it (never cached).
pub(crate) fn token_response(t: TokenPair) -> Response {
    let mut res = Json(TokenResponse {
        access_token: t.access_token,
        refresh_token: t.refresh_token,
        token_type: t.token_type.to_owned(),
        expires_in: t.expires_in,
    })
    .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Log in with a username and password.
///
/// Wrong names and wrong passwords get the same answer. After repeated failures for a name or
/// from an address, attempts are slowed down (`429 login_throttled`) and then locked for a
/// period (`429 login_locked`); both carry `Retry-After`.
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, description = "Wrong username or password", body = crate::error::Problem, content_type = "application/problem+json"),
        BodyErrors, CommonErrors))]
pub async fn login(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    request_id: Option<Extension<RequestId>>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Response {
    if let Some(ip) = addr.0 {
        let limit = app.config.rate_limit.login_per_address_per_minute;
        if let Err(secs) = app
            .limiter
            .hit(&format!("login:{}", client_block(ip)), limit)
            .await
        {
            return too_many(secs, "login attempts from this address").into_response();
        }
    }
    let rid = request_id.map(|r| r.0 .0);
    match app
        .auth
        .login(&body.username, &body.password, addr.0, rid)
        .await
    {
        Ok(outcome) => token_response(outcome.tokens),
        Err(e) => auth_error(e),
    }
}

/// Exchange a refresh token for a new access token and refresh token.
///
/// Each refresh token works once. Presenting a used one again revokes the whole session.
#[utoipa::path(post, path = "/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, description = "New tokens", body = TokenResponse),
        (status = 401, description = "Unknown, used, expired or revoked refresh token", body = crate::error::Problem, content_type = "application/problem+json"),
        BodyErrors, CommonErrors))]
pub async fn refresh(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    request_id: Option<Extension<RequestId>>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Response {
    if let Some(ip) = addr.0 {
        let limit = app
            .config
            .rate_limit
            .login_per_address_per_minute
            .saturating_mul(6);
        if let Err(secs) = app
            .limiter
            .hit(&format!("refresh:{}", client_block(ip)), limit)
            .await
        {
            return too_many(secs, "refreshes from this address").into_response();
        }
    }
    match app
        .auth
        .refresh(&body.refresh_token, request_id.map(|r| r.0 .0))
        .await
    {
        Ok(t) => token_response(t),
        Err(e) => auth_error(e),
    }
}

/// End this login session: its access and refresh tokens stop working.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out"),
        (status = 400, description = "Called with an API token (revoke those at /tokens)", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn logout(
    State(app): State<AppState>,
    Authenticated(p): Authenticated,
    request_id: Option<Extension<RequestId>>,
) -> ApiResult<Response> {
    if !matches!(p.kind, PrincipalKind::Session { .. }) {
        return Err(ApiError::new(
            ProblemType::NotASession,
            "API tokens have no session; revoke them at DELETE /api/v1/tokens/{id}.",
        ));
    }
    match app.auth.logout(&p, request_id.map(|r| r.0 .0)).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        Err(e) => Ok(auth_error(e)),
    }
}

/// The caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    /// `operator:<username>` or `token:<name>`, as the audit log records it.
    pub name: String,
    pub username: String,
    pub operator_id: Uuid,
    /// The effective role.
    pub role: OperatorRole,
    /// `session` or `api_token`.
    pub kind: String,
    pub session_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
}

/// Who am I: the authenticated operator or token and its effective role.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = Me), CommonErrors))]
pub async fn me(Authenticated(p): Authenticated) -> Json<Me> {
    let (kind, session_id, token_id) = match p.kind {
        PrincipalKind::Session { session_id } => ("session", Some(session_id), None),
        PrincipalKind::ApiToken { token_id } => ("api_token", None, Some(token_id)),
    };
    Json(Me {
        name: p.name,
        username: p.username,
        operator_id: p.operator_id,
        role: p.role,
        kind: kind.into(),
        session_id,
        token_id,
    })
}
