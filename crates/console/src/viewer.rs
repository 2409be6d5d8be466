//! Who is looking at a page: the [`Viewer`] extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::Method;
use cc_api::auth::middleware::ConsoleSessionId;
use cc_api::auth::permissions::{self, Access};
use cc_api::error::ProblemType;
use cc_api::request_id::RequestId;
use cc_api::{ApiError, AppState};
use cc_domain::OperatorRole;
use cc_service::Principal;

/// Header the console's script sends when it asks for a page's `main` region only.
pub const FRAGMENT_HEADER: &str = "cc-fragment";

/// The signed-in operator of a console page, with what a page needs to render for them.
///
/// Every console route except `/login` and `/assets` is declared with a role in the API's
/// permission table, so the router's `authorize` layer has already signed the viewer in (by
/// the session cookie) and checked the role before a handler runs.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal: Principal,
    /// The session's CSRF token: every state-changing form carries it (see
    /// [`crate::csrf::field`]).
    pub csrf: String,
    /// The request asked for the `main` region only (fragment refresh).
    pub fragment: bool,
    pub request_id: Option<String>,
    /// The event log position read before the page's data (whole pages only): the page's
    /// script follows the event stream from there, so an event committed between reading the
    /// data and opening the stream is not missed.
    pub events_after: Option<i64>,
}

impl Viewer {
    /// Whether the viewer's role may call `method` on the route `template` (as the permission
    /// table declares it, e.g. `POST /api/v1/jobs/{id}/cancel`). Pages show an action only
    /// when this is true; the route itself still refuses it otherwise.
    #[must_use]
    pub fn may(&self, method: &Method, template: &str) -> bool {
        match permissions::lookup(method, template) {
            Some(Access::Public) => true,
            Some(Access::Role(r)) => self.principal.role.allows(r),
            Some(Access::Metrics) | None => false,
        }
    }

    /// Whether the viewer's role is at least `role`.
    #[must_use]
    pub fn is_at_least(&self, role: OperatorRole) -> bool {
        self.principal.role.allows(role)
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(cc_api::auth::middleware::unauthenticated)?;
        let Some(ConsoleSessionId(session)) = parts.extensions.get::<ConsoleSessionId>().copied()
        else {
            return Err(ApiError::new(
                ProblemType::Forbidden,
                "Console pages are for operators signed in to the console; API credentials \
                 belong on /api/v1.",
            ));
        };
        let csrf = app.auth.csrf_token(session).await?;
        let fragment = parts.headers.contains_key(FRAGMENT_HEADER);
        // Read before the handler reads the page's data. Without it (the event log cannot be
        // read) the page follows the stream from whenever it opens, as before.
        let events_after = if fragment {
            None
        } else {
            app.events.start().await.ok()
        };
        Ok(Self {
            principal,
            csrf,
            fragment,
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
            events_after,
        })
    }
}
