//! Authentication and authorisation for every matched route, from the permission table.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cc_domain::OperatorRole;
use cc_service::{AuthError, Principal};

use super::permissions::{self, Access};
use super::rate_limit::too_many;
use super::session_cookie;
use crate::error::{ApiError, ProblemType};
use crate::extract::PrincipalName;
use crate::request_id::RequestId;
use crate::AppState;

/// The bearer token in `Authorization`, if any.
#[must_use]
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// 401 for missing credentials.
#[must_use]
pub fn unauthenticated() -> ApiError {
    ApiError::new(
        ProblemType::Unauthenticated,
        "This route needs credentials: `Authorization: Bearer <access token or API token>`. \
         Log in at POST /api/v1/auth/login.",
    )
}

fn with_challenge(err: ApiError, error: Option<&str>) -> Response {
    let mut res = err.into_response();
    let value = match error {
        Some(e) => format!("Bearer realm=\"command-center\", error=\"{e}\""),
        None => "Bearer realm=\"command-center\"".to_owned(),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Maps an authentication failure to its response (the table is in `crate::error`), with the
/// `WWW-Authenticate` challenge on an invalid token.
#[must_use]
pub fn auth_error(e: AuthError) -> Response {
    let challenge = matches!(e, AuthError::InvalidToken);
    let err = ApiError::from(e);
    if challenge {
        with_challenge(err, Some("invalid_token"))
    } else {
        err.into_response()
    }
}

/// Route middleware: enforces the permission table, sets the principal for handlers and the
/// audit log, and applies the per-principal rate limit.
pub async fn authorize(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let access = permissions::lookup(req.method(), &path).unwrap_or_else(|| {
        tracing::error!(method = %req.method(), route = %path, "route missing from the permission table; treating it as admin-only");
        Access::Role(OperatorRole::Admin)
    });
    // Caches of directory and sign-in reads hear of other processes' commits from the
    // database; this process's own writes are noted as soon as they answer, so a client
    // reading right after its write never gets a cached page from before it.
    let writes = !req.method().is_safe();
    let required = match access {
        Access::Public => return noting_writes(&app, writes, next.run(req).await),
        Access::Metrics => {
            // With a separate metrics address, the API listener does not serve metrics at all.
            if !app.config.metrics.listen.is_empty() {
                return ApiError::not_found(
                    "Metrics are served on the separate metrics address (metrics.listen).",
                )
                .into_response();
            }
            return if super::metrics::allowed(&app, req.headers()).await {
                next.run(req).await
            } else {
                with_challenge(unauthenticated(), None)
            };
        }
        Access::Role(r) => r,
    };
    if req
        .headers()
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        // Two credentials: which one a proxy, a cache or this server would honour differs.
        return ApiError::new(
            ProblemType::DuplicateAuthorization,
            "Send exactly one Authorization header.",
        )
        .into_response();
    }
    // The generations are taken before anything is read, so valid for what is read after:
    // the sign-in tables' for the principal cache, the store's for the handler's own cached
    // reads (directory and job commits move only the latter).
    let (generation, auth_generation) = app.store.generations();
    let mut renewed_cookie = None;
    let principal = if let Some(token) = bearer(req.headers()) {
        match app.auth.authenticate_at(token, auth_generation).await {
            Ok(p) => p,
            Err(e) => return auth_error(e),
        }
    } else if let Some(credential) = session_cookie::read(req.headers())
        .filter(|_| session_cookie::accepted_on(req.method(), &path))
    {
        let activity = path != session_cookie::EVENTS_ROUTE
            && !req
                .headers()
                .contains_key(session_cookie::BACKGROUND_HEADER);
        match app
            .auth
            .authenticate_console(credential, auth_generation, activity)
            .await
        {
            Ok(s) => {
                renewed_cookie = s
                    .renewed
                    .and_then(|c| session_cookie::set(&app, &c, s.remaining_secs));
                req.extensions_mut().insert(ConsoleSessionId(s.session_id));
                s.principal
            }
            Err(AuthError::InvalidToken) if session_cookie::is_console_page(&path) => {
                return to_sign_in(&app, &req, true);
            }
            Err(e) => return auth_error(e),
        }
    } else if session_cookie::is_console_page(&path) {
        return to_sign_in(&app, &req, false);
    } else {
        return with_challenge(unauthenticated(), None);
    };
    req.extensions_mut().insert(ChangeGeneration(generation));
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    if !principal.role.allows(required) {
        let route = format!("{} {path}", req.method());
        deny(&app, &principal, &route, required, request_id).await;
        return ApiError::new(
            ProblemType::Forbidden,
            format!(
                "This route needs the {required} role; you have {}.",
                principal.role
            ),
        )
        .into_response();
    }
    let limit = app.config.rate_limit.per_principal_per_minute;
    if let Err(secs) = app
        .limiter
        .hit(&format!("principal:{}", principal.name), limit)
        .await
    {
        return too_many(secs, "requests for this operator or token").into_response();
    }
    req.extensions_mut()
        .insert(PrincipalName(principal.name.clone()));
    req.extensions_mut().insert(principal);
    let mut res = noting_writes(&app, writes, next.run(req).await);
    if let Some(cookie) = renewed_cookie {
        if !res.headers().contains_key(header::SET_COOKIE) {
            res.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    res
}

/// The console session a request was authenticated with (set by [`authorize`] when the
/// credential was the console's cookie).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleSessionId(pub uuid::Uuid);

/// A console page asked for without a valid sign-in: `303` to the sign-in form, which brings
/// the operator back to this page (a `GET`) afterwards; a stale cookie is removed.
fn to_sign_in(app: &AppState, req: &Request, stale: bool) -> Response {
    let location = if req.method() == axum::http::Method::GET {
        let back = req
            .uri()
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str);
        if back == "/" {
            "/login".to_owned()
        } else {
            format!("/login?next={}", percent_encode(back))
        }
    } else {
        "/login".to_owned()
    };
    let mut res = (
        axum::http::StatusCode::SEE_OTHER,
        [(header::LOCATION, location)],
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if stale {
        res.headers_mut()
            .insert(header::SET_COOKIE, session_cookie::clear(app));
    }
    res
}

/// Percent-encodes everything but unreserved characters and `/`.
#[must_use]
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The store's change generation as taken when the request was authenticated (see
/// `cc_service::cache`).
#[derive(Clone, Copy, Debug)]
pub struct ChangeGeneration(pub Option<u64>);

fn noting_writes(app: &AppState, writes: bool, res: Response) -> Response {
    if writes {
        app.store.note_local_change();
    }
    res
}

/// Audits a permission denial (best effort: a failure to audit is logged, and the request is
/// refused either way).
async fn deny(
    app: &AppState,
    principal: &Principal,
    route: &str,
    required: OperatorRole,
    request_id: Option<String>,
) {
    tracing::info!(principal = %principal.name, route, %required, "permission denied");
    if let Err(e) = app
        .auth
        .record_denial(principal, route, required, request_id)
        .await
    {
        tracing::warn!(error = %e, "could not audit a permission denial");
    }
}

/// The authenticated caller, set by [`authorize`]. Handlers of non-public routes take it to
/// know who acts; it is never missing there.
pub struct Authenticated(pub Principal);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Authenticated)
            .ok_or_else(unauthenticated)
    }
}
