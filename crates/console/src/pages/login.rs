//! `/login` (the sign-in form) and `/logout`.
//!
//! Sign-in is the service's login (the same throttle, lockout and audit as
//! `POST /api/v1/auth/login`, and the same per-address rate limit); it opens an ordinary login
//! session, and the browser gets a console credential for it in the `cc_session` cookie.
//! Sign-in through an OpenID provider (`/login/oidc/{provider}` and its callback) ends in the
//! same kind of session; the page shows a "Sign in with …" button per provider, and hides the
//! password form when local passwords are turned off.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use cc_api::auth::rate_limit::too_many;
use cc_api::auth::ClientAddr;
use cc_api::request_id::RequestId;
use cc_api::routes::oidc;
use cc_api::{session_cookie, ApiError, AppState};
use cc_domain::client::client_block;
use cc_service::auth::oidc::{OidcError, SignInKind};
use cc_service::AuthError;
use maud::{html, Markup};
use serde::Deserialize;

use crate::layout;
use crate::viewer::Viewer;

#[derive(Deserialize)]
pub struct NextParam {
    next: Option<String>,
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

impl std::fmt::Debug for SignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignIn")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// Only a path on this site is a place to go back to after sign-in.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.starts_with("/login")
                && n.len() <= 512 =>
        {
            n
        }
        _ => "/",
    }
}

/// How the page offers sign-in: the providers' buttons, and the password form unless turned off.
struct Offer {
    providers: Vec<(String, String)>,
    local_passwords: bool,
}

fn offer(app: &AppState) -> Offer {
    Offer {
        providers: app.auth.oidc().list(),
        local_passwords: app.config.auth.oidc.local_passwords,
    }
}

/// `GET /login`.
pub async fn form(State(app): State<AppState>, Query(q): Query<NextParam>) -> Response {
    let next = safe_next(q.next.as_deref()).to_owned();
    layout::html_response(page(&offer(&app), "", &next, None))
}

/// `POST /login`.
pub async fn submit(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    request_id: Option<Extension<RequestId>>,
    Form(f): Form<SignIn>,
) -> Response {
    let next = safe_next(f.next.as_deref()).to_owned();
    if let Some(ip) = addr.0 {
        let limit = app.config.rate_limit.login_per_address_per_minute;
        if let Err(secs) = app
            .limiter
            .hit(&format!("login:{}", client_block(ip)), limit)
            .await
        {
            return refused(
                &offer(&app),
                &f.username,
                &next,
                too_many(secs, "login attempts from this address"),
            );
        }
    }
    let rid = request_id.map(|r| r.0 .0);
    let outcome = match app.auth.login(&f.username, &f.password, addr.0, rid).await {
        Ok(o) => o,
        Err(
            e @ (AuthError::InvalidCredentials
            | AuthError::Throttled { .. }
            | AuthError::Locked { .. }
            | AuthError::LocalPasswordsDisabled),
        ) => return refused(&offer(&app), &f.username, &next, ApiError::from(e)),
        Err(e) => return ApiError::from(e).into_response(),
    };
    let credential = match app
        .auth
        .console_credential(outcome.session_id, outcome.operator.id)
        .await
    {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let max_age = app.auth.console_policy().absolute_timeout_secs;
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    if let Some(cookie) = session_cookie::set(&app, &credential, max_age) {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The form again, with the problem's message, under the problem's status (401, 429) and
/// `Retry-After`.
fn refused(offer: &Offer, username: &str, next: &str, err: ApiError) -> Response {
    let status = err.status();
    let retry_after = err.retry_after;
    let mut res = layout::html_response(page(offer, username, next, Some(&err.detail)));
    *res.status_mut() = status;
    if let Some(secs) = retry_after {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

fn page(offer: &Offer, username: &str, next: &str, message: Option<&str>) -> Markup {
    let next_query = format!(
        "?{}",
        serde_urlencoded::to_string([("next", next)]).unwrap_or_default()
    );
    layout::bare_page(
        "Sign in",
        html! {
            section.signin aria-labelledby="signin-title" {
                h1 #signin-title { "Sign in" }
                @if let Some(m) = message {
                    p.alert.alert-bad #signin-error role="alert" { (m) }
                }
                @if !offer.providers.is_empty() {
                    ul.signin-providers {
                        @for (name, display) in &offer.providers {
                            li {
                                a.button.primary href={ "/login/oidc/" (name) (next_query) } {
                                    "Sign in with " (display)
                                }
                            }
                        }
                    }
                }
                @if offer.local_passwords {
                form method="post" action="/login" {
                    input type="hidden" name="next" value=(next);
                    p.field {
                        label for="username" { "Operator name" }
                        input #username name="username" type="text" value=(username)
                            autocomplete="username" required autofocus[message.is_none()]
                            aria-describedby=[message.map(|_| "signin-error")];
                    }
                    p.field {
                        label for="password" { "Password" }
                        input #password name="password" type="password"
                            autocomplete="current-password" required
                            autofocus[message.is_some()];
                    }
                    p { button.primary type="submit" { "Sign in" } }
                }
                }
            }
        },
    )
}

/// `GET /login/oidc/{provider}`: leaves for the provider's sign-in page.
pub async fn oidc_start(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    Path(provider): Path<String>,
    Query(q): Query<NextParam>,
    headers: HeaderMap,
) -> Response {
    let next = safe_next(q.next.as_deref()).to_owned();
    if let Err(e) = oidc::limit(&app, &addr).await {
        return refused(&offer(&app), "", &next, e);
    }
    let redirect_uri = format!(
        "{}/login/oidc/{provider}/callback",
        oidc::public_base(&app, &headers)
    );
    match app
        .auth
        .oidc_begin(&provider, &redirect_uri, &SignInKind::Console(next.clone()))
        .await
    {
        Ok(url) => oidc::redirect(&url),
        Err(e) => refused(&offer(&app), "", &next, ApiError::from(e)),
    }
}

/// `GET /login/oidc/{provider}/callback`: the provider sends the browser back here. On
/// success the console cookie is set and a same-site page moves on to `next` (the cookie is
/// `SameSite=Strict`, so it would not travel on a redirect that a cross-site navigation
/// started). A refusal is a page that says why, with the way back to the sign-in page.
pub async fn oidc_callback(
    State(app): State<AppState>,
    Extension(addr): Extension<ClientAddr>,
    request_id: Option<Extension<RequestId>>,
    Path(provider): Path<String>,
    Query(params): Query<oidc::CallbackParams>,
) -> Response {
    if let Err(e) = oidc::limit(&app, &addr).await {
        return refused(&offer(&app), "", "/", e);
    }
    let rid = request_id.map(|r| r.0 .0);
    let signed_in = match app
        .auth
        .oidc_complete(&provider, &params.into(), false, addr.0, rid)
        .await
    {
        Ok(s) => s,
        Err(e) => return refused(&offer(&app), "", "/", ApiError::from(e)),
    };
    let SignInKind::Console(next) = signed_in.kind else {
        return refused(
            &offer(&app),
            "",
            "/",
            ApiError::from(OidcError::StateInvalid),
        );
    };
    let next = safe_next(Some(&next)).to_owned();
    let outcome = signed_in.outcome;
    let credential = match app
        .auth
        .console_credential(outcome.session_id, outcome.operator.id)
        .await
    {
        Ok(c) => c,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let max_age = app.auth.console_policy().absolute_timeout_secs;
    let mut res = layout::html_response(layout::bare_page(
        "Signed in",
        html! {
            meta http-equiv="refresh" content={ "0;url=" (next) };
            section.signin aria-labelledby="signin-title" {
                h1 #signin-title { "Signed in" }
                p { "Signed in as " strong { (outcome.operator.username) } "." }
                p { a.button.primary #signin-continue href=(next) { "Continue" } }
            }
        },
    ));
    if let Some(cookie) = session_cookie::set(&app, &credential, max_age) {
        res.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /logout`: ends the session server-side (the cookie is worthless afterwards, even if
/// kept) and removes the cookie.
pub async fn logout(State(app): State<AppState>, viewer: Viewer) -> Response {
    if let Err(e) = app
        .auth
        .logout(&viewer.principal, viewer.request_id.clone())
        .await
    {
        return ApiError::from(e).into_response();
    }
    let mut res = (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
    res.headers_mut()
        .insert(header::SET_COOKIE, session_cookie::clear(&app));
    res
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next(Some("/jobs?state=failed")), "/jobs?state=failed");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("/login")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
