//! The console's outer layer: its Content-Security-Policy on every page, and problem details
//! from anywhere in the stack (the permission check, the rate limits, a handler) rendered as
//! a readable page with the request id.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use cc_api::Problem;
use maud::html;

use crate::layout;

/// The console's policy: only this origin's scripts, styles, images, connections and fonts;
/// no inline script or style of any kind; forms post only here; never framed.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// Largest problem body read back to render (they are a few hundred bytes).
const PROBLEM_BODY_LIMIT: usize = 64 * 1024;

/// Whether a path belongs to the console (not the API, its documentation, probes or metrics).
#[must_use]
pub fn is_console_path(path: &str) -> bool {
    !(path.starts_with("/api/")
        || path == "/api"
        || path.starts_with("/docs")
        || path == "/openapi.json"
        || path.starts_with("/health/")
        || path == "/metrics"
        || path.starts_with("/scim/"))
}

/// The layer (outermost, around the whole application).
pub async fn console_pages(req: Request, next: Next) -> Response {
    let console = is_console_path(req.uri().path());
    let fragment = req.headers().contains_key(crate::viewer::FRAGMENT_HEADER);
    let res = next.run(req).await;
    if !console {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut res = if content_type.starts_with(cc_api::error::PROBLEM_CONTENT_TYPE) {
        problem_page(res, fragment).await
    } else {
        res
    };
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONSOLE_CSP),
        );
        // Not the API's `no-referrer`: with it, browsers send `Origin: null` on form posts,
        // and the console's forgery check wants the real origin. Nothing leaves this origin.
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    res
}

/// Re-renders a problem+json answer as a page with the same status and headers.
async fn problem_page(res: Response, fragment: bool) -> Response {
    let (mut parts, body) = res.into_parts();
    let problem = to_bytes(body, PROBLEM_BODY_LIMIT)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<Problem>(&b).ok());
    let Some(problem) = problem else {
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from("The server could not answer."));
    };
    let body = problem_markup(&problem);
    let markup = if fragment {
        body
    } else {
        layout::bare_page(&problem.title, body)
    };
    let page = layout::html_response(markup);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let status = StatusCode::from_u16(problem.status).unwrap_or(parts.status);
    parts.status = status;
    Response::from_parts(parts, page.into_body())
}

/// The readable form of a problem: title, detail, field errors, request id.
#[must_use]
pub fn problem_markup(problem: &Problem) -> maud::Markup {
    html! {
        section.problem aria-labelledby="problem-title" {
            h1 #problem-title { (problem.title) }
            p.detail { (problem.detail) }
            @if !problem.errors.is_empty() {
                ul.field-errors {
                    @for e in &problem.errors {
                        li { code { (e.field) } ": " (e.message) }
                    }
                }
            }
            @if let Some(id) = &problem.request_id {
                p.request-id {
                    "Request id: " code { (id) }
                    " (quote it when you report this)."
                }
            }
            p { a href="/" { "Back to the overview" } }
        }
    }
}
