//! The web console: server-rendered pages at `/` (the API stays under `/api/v1`), with a
//! small script of our own for live updates. Everything it needs is embedded in the binary;
//! no page loads anything from another origin.
//!
//! # How it fits together
//!
//! - [`router`] holds the console's routes; [`app`] mounts them into the API's router
//!   (`cc_api::router_with`), so they pass through the same layers as every API route
//!   (request id, security headers, rate limits, the permission check) and adds the console's
//!   outer layer ([`errors::console_pages`]): the console's Content-Security-Policy on every
//!   page, and problem details from anywhere in the stack rendered as a readable page with
//!   the request id. `command-center serve` serves [`app`].
//! - **One permission table.** Every console route is declared in the API's table
//!   (`cc_api::auth::permissions::PERMISSIONS`) with the least role that may use it. The
//!   `authorize` layer signs the viewer in from the `cc_session` cookie (the cookie is
//!   accepted only outside `/api/`, and on the event stream), checks the role, and answers a
//!   missing or stale sign-in on a console page with a redirect to `/login?next=…`.
//! - Handlers call the service layer (`cc_service`, or the API's shared helpers such as
//!   `cc_api::routes::health::readiness`), never the store's write methods.
//!
//! # Adding a page
//!
//! 1. Add a module under `pages/` with a handler taking [`Viewer`] (the signed-in operator,
//!    the session's CSRF token, whether the request wants a fragment) and `State<AppState>`.
//! 2. Build the `main` content with `maud::html!` (compile-time, auto-escaped), and answer
//!    with [`layout::respond`]`(&viewer, title, Nav::X, &PageOptions { .. }, body)`: a
//!    whole page, or only the body for a fragment request.
//! 3. Register the route in [`router`] and declare it in the permission table (GET pages:
//!    `AUDITOR` unless only admins may see them; form posts: the role of the action).
//! 4. Errors: return `cc_api::ApiError` (or anything converting into it: `ServiceError`,
//!    `AuthError`); the outer layer renders it as a page (or a fragment) with the request id.
//!
//! # Roles and actions
//!
//! Show an action only when [`Viewer::may`]`(&Method::POST, "<route template>")` says the
//! viewer's role may take it (it reads the permission table); the route refuses it anyway.
//!
//! # Forms and CSRF
//!
//! Every state-changing form is `method="post"` and includes [`csrf::field`]`(&viewer)`. The
//! [`csrf::protect`] layer (on every console route) refuses any unsafe request that lacks the
//! session's token, or whose `Origin`/`Sec-Fetch-Site` says it came from elsewhere, with a
//! 403 page. File uploads (`multipart/form-data`) put the token in the action URL with
//! [`csrf::action_with_token`]. Script requests send it in the `cc-csrf` header (the page's
//! `<meta name="cc-csrf">`). After a successful post, answer `303 See Other` to the page to
//! show (post/redirect/get, with [`list::see_other`]). A post whose answer must be shown
//! directly (it holds a one-time secret) carries a one-time form token instead, so posting it
//! again does nothing (see `pages::people::apply`).
//!
//! List pages build their filter bar, table and paging links with [`list`].
//!
//! # Live updates (assets/console.js)
//!
//! Pages are plain links and forms first; the script adds, where the page asks for it:
//! - `main[data-live-on="job import"]`: the page follows the event stream (`/api/v1/events`,
//!   signed in by the same cookie) and, on an event of those kinds (`job`, `import`,
//!   `target`), re-fetches its own URL with the
//!   `CC-Fragment: 1` header and swaps `main`'s content (debounced). The response to a
//!   fragment request is just the body passed to [`layout::respond`]. The stream starts
//!   after `main[data-events-after]`, the event log position read before the page's data
//!   (see [`viewer::Viewer::events_after`]), so an event committed while the page was being
//!   rendered and loaded still reaches it.
//! - `main[data-refresh-every="30"]`: the same fragment refresh on a timer.
//!   Background fetches send `CC-Background: 1` and do not count as activity for the
//!   idle timeout.
//! - `[data-refresh-target]` inside `main`: a region with an `id` is swapped alone when the
//!   fragment contains an element with the same id and `data-refresh-target` (keeps focus
//!   and scroll elsewhere). Without it, all of `main` is swapped.
//! - Toasts: `window.ccToast(text, level)`; every signed-in page follows the stream, and
//!   events of interest (a job discarded, an import applied, refused or failed, a target
//!   failing or recovered) announce themselves in the `aria-live` region.
//! - `button[data-copy="<text>"]` copies to the clipboard; `form[data-confirm="<question>"]`
//!   asks before submitting (without the script, the form submits; put a server-side
//!   confirmation step in front of anything destructive).
//!
//! No inline script, style, or `style=` attribute anywhere: the policy forbids them. Use
//! classes from `assets/console.css` and `data-` attributes.
//!
//! # Browser tests
//!
//! `crates/tests/src/browser.rs` starts chromedriver and headless Chromium against a real
//! server with the console (`TestApp::spawn_console`, which serves [`app`]):
//! `Browser::start(&app.base_url)` (or `start_without_javascript`), `goto(path)`,
//! `sign_in(user, password)`, `wait_for_text(selector, text)` and `wait_until(what, check)`
//! (deadlines, never a fixed sleep), `text`/`attr`/`exists`/`click`/`eval`,
//! `axe_check("page")` (fails on serious or critical violations), `screenshot("page")` (with
//! `CC_CONSOLE_SCREENSHOTS=1`, into `docs/console/`), and `finish()`, which fails the test on
//! any console error or any request to another origin (`take_console_errors()` first when a
//! test expects some, e.g. a 403 page load). See `crates/tests/tests/console.rs`.

pub mod assets;
pub mod csrf;
pub mod errors;
pub mod format;
pub mod layout;
pub mod list;
pub mod pages;
pub mod sparkline;
pub mod viewer;
pub mod weight;

use axum::routing::{get, post};
use axum::Router;
use cc_api::AppState;

pub use viewer::Viewer;

/// The console's routes (each declared in the API's permission table), with the CSRF layer.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/login", get(pages::login::form).post(pages::login::submit))
        .route("/login/oidc/{provider}", get(pages::login::oidc_start))
        .route(
            "/login/oidc/{provider}/callback",
            get(pages::login::oidc_callback),
        )
        .route("/logout", post(pages::login::logout))
        .route("/assets/{file}", get(assets::serve))
        .route("/", get(pages::overview::page))
        .route("/status", get(pages::health::page))
        .route("/people", get(pages::people::list))
        .route("/people/{id}", get(pages::people::detail))
        .route(
            pages::people::ACTION_ROUTE,
            get(pages::people::plan).post(pages::people::apply),
        )
        .route(
            "/groups",
            get(pages::directory::groups).post(pages::directory::create_group),
        )
        .route(
            "/groups/{id}",
            get(pages::directory::group).post(pages::directory::update_group),
        )
        .route(
            "/devices",
            get(pages::directory::devices).post(pages::directory::create_device),
        )
        .route(
            "/devices/{id}",
            get(pages::directory::device).post(pages::directory::update_device),
        )
        .route("/groups/{id}/members", post(pages::directory::add_member))
        .route(
            "/groups/{id}/members/{user_id}/remove",
            post(pages::directory::remove_member),
        )
        .route(
            "/policies",
            get(pages::policies::list).post(pages::policies::create),
        )
        .route(
            "/policies/{id}",
            get(pages::policies::detail).post(pages::policies::update),
        )
        .route(pages::health::TEST_JOB_ROUTE, post(pages::health::test_job))
        .merge(ops_routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::protect,
        ))
}

/// Jobs, imports, notifications, audit, operators and API tokens.
fn ops_routes() -> Router<AppState> {
    use pages::{audit, imports, jobs, notifications, operators};
    Router::new()
        .route("/jobs", get(jobs::list))
        .route("/jobs/{id}", get(jobs::detail))
        .route("/jobs/{id}/cancel", post(jobs::cancel))
        .route("/jobs/{id}/retry", post(jobs::retry))
        .route("/batches/{id}", get(jobs::batch))
        .route("/batches/{id}/retry", post(jobs::retry_batch))
        .route(
            "/imports",
            get(imports::list)
                .post(imports::upload)
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .route("/imports/new", get(imports::new))
        .route("/imports/{id}", get(imports::detail))
        .route("/imports/{id}/apply", post(imports::apply))
        .route("/imports/{id}/errors.csv", get(imports::errors_csv))
        .route(notifications::PATH, get(notifications::page))
        .route(notifications::TEST_ROUTE, post(notifications::test))
        .route(notifications::CHECK_ROUTE, post(notifications::check))
        .route("/audit", get(audit::list))
        .route("/audit/verify", get(audit::verify))
        .route("/operators", get(operators::list).post(operators::create))
        .route("/operators/{id}", post(operators::update))
        .route(
            "/tokens",
            get(operators::tokens).post(operators::create_token),
        )
        .route("/tokens/{id}/revoke", post(operators::revoke_token))
}

/// The whole application with the console: the API's router with [`router`] merged in, and
/// the console's outer layer.
pub fn app(state: AppState) -> axum::Router {
    let console = router(&state);
    cc_api::router_with(state, console).layer(axum::middleware::from_fn(errors::console_pages))
}
