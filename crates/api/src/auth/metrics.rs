//! Who may read `/metrics`.
//!
//! - `metrics.public = true`: anyone (for a scraper on a private network).
//! - `metrics.token` set: `Authorization: Bearer <token>` (Prometheus `authorization.credentials_file`),
//!   and operator credentials with any role still work.
//! - neither: operator credentials (any role) or an API token only.
//!
//! `metrics.listen` names a separate address to serve `/metrics` on (so it need not be exposed
//! with the API); the same rules apply there. The route on the main router is guarded through
//! the permission table ([`crate::Access::Metrics`]); a separate metrics router wraps its route
//! in [`metrics_guard`].

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::middleware::{bearer, unauthenticated};
use crate::AppState;

/// The `/metrics` access settings.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct MetricsAccess {
    /// A bearer token for scrapers; empty for none.
    pub token: String,
    /// Serve metrics without credentials.
    pub public: bool,
    /// A separate address for `/metrics`; empty to serve it with the API.
    pub listen: String,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &if self.token.is_empty() { "" } else { "***" })
            .field("public", &self.public)
            .field("listen", &self.listen)
            .finish()
    }
}

/// Whether a request may read metrics.
pub(crate) async fn allowed(app: &AppState, headers: &HeaderMap) -> bool {
    let m = &app.config.metrics;
    if m.public {
        return true;
    }
    let Some(presented) = bearer(headers) else {
        return false;
    };
    if !m.token.is_empty()
        && cc_auth::secret::constant_time_eq(presented.as_bytes(), m.token.as_bytes())
    {
        return true;
    }
    // Any operator credential; a SCIM client's token may call the SCIM endpoint only.
    app.auth
        .authenticate(presented)
        .await
        .is_ok_and(|p| p.role != cc_domain::OperatorRole::Scim)
}

/// The router served on `metrics.listen`: `/metrics` behind [`metrics_guard`], with request ids
/// and the security headers.
pub fn metrics_router(state: AppState) -> axum::Router {
    // Install the recorder now, not on the first scrape: what happens before it is counted.
    crate::metrics::handle();
    axum::Router::new()
        .route("/metrics", axum::routing::get(crate::metrics::scrape))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics_guard,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::headers::security_headers,
        ))
        .layer(axum::middleware::from_fn(crate::request_id::assign))
        .with_state(state)
}

/// What a process without the API serves (e.g. `command-center worker`): the health probes
/// (public) and `/metrics` (guarded like the API's).
pub fn probe_router(state: AppState) -> axum::Router {
    let probes = axum::Router::new()
        .route(
            "/health/live",
            axum::routing::get(crate::routes::health::live),
        )
        .route(
            "/health/ready",
            axum::routing::get(crate::routes::health::ready),
        )
        .with_state(state.clone());
    metrics_router(state).merge(probes)
}

/// Middleware for a metrics route outside the main router (e.g. on `metrics.listen`).
pub async fn metrics_guard(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if allowed(&app, req.headers()).await {
        next.run(req).await
    } else {
        let mut res = unauthenticated().into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer realm=\"metrics\""),
        );
        res
    }
}
