//! `/api/v1/auth/oidc`: signing in through an OpenID provider, ending in the same access and
//! refresh tokens as `POST /api/v1/auth/login`. (The console has its own pair of routes that
//! end in its cookie session; both call the same service.)

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use cc_domain::client::client_block;
use cc_service::auth::oidc::{Callback, SignInKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::token_response;
use super::CommonErrors;
use crate::auth::rate_limit::too_many;
use crate::auth::ClientAddr;
use crate::error::ApiError;
use crate::request_id::RequestId;
use crate::AppState;

/// A configured identity provider.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OidcProviderInfo {
    /// The name used in sign-in URLs.
    pub name: String,
    /// What a "Sign in with …" button says.
    pub display_name: String,
    /// Where a browser starts an API sign-in (ends in a JSON token pair).
    pub authorize_url: String,
}

/// The providers, and whether password sign-in works.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OidcProviders {
    pub providers: Vec<OidcProviderInfo>,
    /// False when `POST /auth/login` is turned off.
    pub local_passwords: bool,
}

/// What a provider's redirect brings back.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's error code, when the sign-in did not happen there.
    pub error: Option<String>,
}

impl From<CallbackParams> for Callback {
    fn from(p: CallbackParams) -> Self {
        Callback {
            state: p.state,
            code: p.code,
            error: p.error,
        }
    }
}

/// The address browsers reach this server at: `oidc.public_url`, or the request's `Host`.
#[must_use]
pub fn public_base(app: &AppState, headers: &HeaderMap) -> String {
    let configured = app.config.auth.oidc.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return configured.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let scheme = if app.config.hsts || app.config.console_cookie_secure {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

/// Counts a sign-in start or callback against the per-address login limit.
///
/// # Errors
/// The limit is reached: the 429 problem to answer.
pub async fn limit(app: &AppState, addr: &ClientAddr) -> Result<(), ApiError> {
    if let Some(ip) = addr.0 {
        let limit = app.config.rate_limit.login_per_address_per_minute;
        app.limiter
            .hit(&format!("login:{}", client_block(ip)), limit)
            .await
            .map_err(|secs| too_many(secs, "sign-in attempts from this address"))?;
    }
    Ok(())
}

/// The identity providers operators can sign in with.
#[utoipa::path(get, path = "/auth/oidc/providers", tag = "auth",
    responses((status = 200, description = "The configured providers", body = OidcProviders), CommonErrors))]
pub async fn providers(State(app): State<AppState>) -> Json<OidcProviders> {
    Json(OidcProviders {
        providers: app
            .auth
            .oidc()
            .list()
            .into_iter()
            .map(|(name, display_name)| OidcProviderInfo {
                authorize_url: format!("/api/v1/auth/oidc/{name}/authorize"),
                name,
                display_name,
            })
            .collect(),
        local_passwords: app.config.auth.oidc.local_passwords,
    })
}

/// Start a sign-in at a provider: redirects the browser to it. The sign-in comes back to
/// `/api/v1/auth/oidc/{provider}/callback`, which answers the token pair.
#[utoipa::path(get, path = "/auth/oidc/{provider}/authorize", tag = "auth",
    params(("provider" = String, Path, description = "The provider's name")),
    responses((status = 303, description = "To the provider's authorization endpoint"),
        (status = 404, description = "No such provider", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 502, description = "The provider cannot be reached", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn authorize(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    Path(provider): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    limit(&app, &addr).await?;
    let redirect_uri = format!(
        "{}/api/v1/auth/oidc/{provider}/callback",
        public_base(&app, &headers)
    );
    let url = app
        .auth
        .oidc_begin(&provider, &redirect_uri, &SignInKind::Tokens)
        .await?;
    Ok(redirect(&url))
}

/// Where the provider sends the browser back: completes the sign-in and answers the same
/// tokens as `POST /auth/login`. A `state` works once and expires.
#[utoipa::path(get, path = "/auth/oidc/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "The provider's name"), CallbackParams),
    responses((status = 200, description = "Signed in", body = super::auth::TokenResponse),
        (status = 400, description = "Unknown, expired or used state", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such provider", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The provider refused, or its ID token was refused", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "No operator role maps to this account, or the operator is disabled", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn callback(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    request_id: Option<Extension<RequestId>>,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
) -> Result<Response, ApiError> {
    limit(&app, &addr).await?;
    let signed_in = app
        .auth
        .oidc_complete(
            &provider,
            &params.into(),
            true,
            addr.0,
            request_id.map(|r| r.0 .0),
        )
        .await?;
    Ok(token_response(signed_in.outcome.tokens))
}

/// `303 See Other` to `url`, not cached.
#[must_use]
pub fn redirect(url: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
