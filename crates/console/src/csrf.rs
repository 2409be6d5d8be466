//! Cross-site request forgery: every state-changing console request must come from this
//! origin and carry the session's CSRF token.
//!
//! [`protect`] is a layer on every console route, so no handler can forget it. For a `POST`
//! (any unsafe method) it checks, in order:
//! 1. `Sec-Fetch-Site`, when the browser sends it, is `same-origin` (or `none`: typed by the
//!    operator); without it, `Origin`, when sent, names this host;
//! 2. except for `/login` (no session yet; step 1 guards it), the request belongs to a console
//!    session and carries that session's token: the `cc-csrf` header (the script's requests),
//!    or the `csrf` field of a form (`application/x-www-form-urlencoded`), or for a file upload
//!    (`multipart/form-data`, whose body is streamed to the handler) a `csrf` query parameter
//!    (use [`action_with_token`] for such a form's `action`).
//!
//! Anything else is answered `403` with a readable page.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cc_api::auth::middleware::ConsoleSessionId;
use cc_api::error::ProblemType;
use cc_api::{ApiError, AppState};
use maud::{html, Markup};

use crate::viewer::Viewer;

/// The form field and query parameter holding the token.
pub const FIELD: &str = "csrf";
/// The header the console's script sends the token in.
pub const HEADER: &str = "cc-csrf";

/// The hidden field every state-changing form includes.
#[must_use]
pub fn field(viewer: &Viewer) -> Markup {
    html! { input type="hidden" name=(FIELD) value=(viewer.csrf); }
}

/// A form `action` for a `multipart/form-data` form (whose body the layer does not read):
/// the path with the token as a query parameter.
#[must_use]
pub fn action_with_token(viewer: &Viewer, path: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{FIELD}={}", viewer.csrf)
}

fn refused(detail: &str) -> Response {
    ApiError::new(ProblemType::Forbidden, detail).into_response()
}

/// The layer (see the module documentation).
pub async fn protect(State(app): State<AppState>, req: Request, next: Next) -> Response {
    if req.method().is_safe() {
        return next.run(req).await;
    }
    if !same_origin(req.headers()) {
        return refused(
            "This form was sent from another site or origin; the console only accepts its own \
             forms.",
        );
    }
    if req.uri().path() == "/login" {
        return next.run(req).await;
    }
    let Some(ConsoleSessionId(session)) = req.extensions().get::<ConsoleSessionId>().copied()
    else {
        return refused("Console forms are for operators signed in to the console.");
    };
    let (token, req) = match token(req, app.config.body_limit).await {
        Ok(found) => found,
        Err(res) => return res,
    };
    let valid = match token {
        Some(t) => match app.auth.verify_csrf(session, &t).await {
            Ok(v) => v,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => false,
    };
    if !valid {
        return refused(
            "The form's security token is missing or does not belong to this session. Reload \
             the page and try again.",
        );
    }
    next.run(req).await
}

/// Whether the browser says the request comes from this origin. `Sec-Fetch-Site` (set by the
/// browser, never by a page) decides when present; otherwise `Origin`, when present, must name
/// this host (`null`, sent by sandboxed frames and some privacy settings, is refused). Absent
/// both, the headers say nothing: non-browser clients send neither and need the token all the
/// same.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or(""))
    else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| !host.is_empty() && rest.eq_ignore_ascii_case(host))
}

/// The token from the header, the query (uploads) or the form body; the request is rebuilt
/// around the body that was read.
async fn token(req: Request, limit: usize) -> Result<(Option<String>, Request), Response> {
    if let Some(t) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        let t = t.to_owned();
        return Ok((Some(t), req));
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        let t = req.uri().query().and_then(|q| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(q)
                .ok()?
                .into_iter()
                .find(|(k, _)| k == FIELD)
                .map(|(_, v)| v)
        });
        return Ok((t, req));
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok((None, req));
    }
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ProblemType::PayloadTooLarge,
            "The form is larger than this server accepts.",
        )
        .into_response()
    })?;
    let t = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
    Ok((t, Request::from_parts(parts, Body::from(bytes))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn origin_must_be_this_host() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h));
        h.insert(header::HOST, HeaderValue::from_static("cc.example:8080"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://cc.example:8080"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(!same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(same_origin(&h), "the browser's own word decides");
        h.remove(header::ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-site"));
        assert!(!same_origin(&h));
    }
}
