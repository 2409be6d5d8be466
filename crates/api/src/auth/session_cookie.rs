//! The console's session cookie (`cc_session`): reading it, setting it and clearing it.
//!
//! The cookie holds a console credential (see `cc_service::auth::ConsoleSession`), never an
//! access token. It is `HttpOnly` (no script reads it), `SameSite=Strict` (no other site's
//! page sends it), `Path=/`, and `Secure` when the server terminates TLS or is configured to
//! say so behind a TLS proxy. It is accepted only by the console's own routes and the event
//! stream (`GET /api/v1/events`): the JSON API keeps bearer credentials, so no API write can
//! be made with an ambient cookie.

use axum::http::{header, HeaderMap, HeaderValue, Method};

use crate::AppState;

/// The cookie's name.
pub const COOKIE: &str = "cc_session";

/// The console credential in the request's `Cookie` headers, if any.
#[must_use]
pub fn read(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// Whether the cookie is marked `Secure`.
#[must_use]
pub fn secure(app: &AppState) -> bool {
    app.config.hsts || app.config.console_cookie_secure
}

/// `Set-Cookie` for a credential valid `max_age_secs` more seconds.
#[must_use]
pub fn set(app: &AppState, credential: &str, max_age_secs: i64) -> Option<HeaderValue> {
    let secure = if secure(app) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={credential}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        max_age_secs.max(0)
    ))
    .ok()
}

/// `Set-Cookie` that removes the cookie.
#[must_use]
pub fn clear(app: &AppState) -> HeaderValue {
    if secure(app) {
        HeaderValue::from_static(
            "cc_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0; Secure",
        )
    } else {
        HeaderValue::from_static("cc_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    }
}

/// Whether a route accepts the cookie: every route outside `/api/` and `/scim/` (the
/// console's), and the event stream.
#[must_use]
pub fn accepted_on(method: &Method, route: &str) -> bool {
    !(route.starts_with("/api/") || route.starts_with("/scim/"))
        || (method == Method::GET && route == EVENTS_ROUTE)
}

/// Whether a route is a console page (answers a missing or stale sign-in with a redirect to
/// the sign-in form rather than a 401 problem).
#[must_use]
pub fn is_console_page(route: &str) -> bool {
    !(route.starts_with("/api/") || route.starts_with("/scim/"))
}

/// Requests the console's scripts make on their own (fragment refreshes) carry this header:
/// they do not count as the operator's activity for the idle timeout.
pub const BACKGROUND_HEADER: &str = "cc-background";

pub(crate) const EVENTS_ROUTE: &str = "/api/v1/events";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; cc_session=v1.x.y; b=2"),
        );
        assert_eq!(read(&h), Some("v1.x.y"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("cc_sessionx=1; cc_session="),
        );
        assert_eq!(read(&h), None);
        assert!(accepted_on(&Method::GET, "/"));
        assert!(accepted_on(&Method::GET, "/api/v1/events"));
        assert!(!accepted_on(&Method::POST, "/api/v1/users"));
        assert!(!accepted_on(&Method::GET, "/api/v1/users"));
    }
}
