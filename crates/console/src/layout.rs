//! The page shell: head, skip link, header with navigation, `main`, the toast region.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cc_domain::OperatorRole;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::assets;
use crate::csrf;
use crate::viewer::Viewer;

/// The navigation entries; a page names the one it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    People,
    Groups,
    Devices,
    Policies,
    Jobs,
    Imports,
    Audit,
    Notifications,
    Operators,
    Health,
    /// A page outside the navigation (sign-in, errors).
    None,
}

/// Each entry: which, label, path, and the least role that sees it.
const ENTRIES: &[(Nav, &str, &str, OperatorRole)] = &[
    (Nav::Overview, "Overview", "/", OperatorRole::Auditor),
    (Nav::People, "People", "/people", OperatorRole::Auditor),
    (Nav::Groups, "Groups", "/groups", OperatorRole::Auditor),
    (Nav::Devices, "Devices", "/devices", OperatorRole::Auditor),
    (
        Nav::Policies,
        "Policies",
        "/policies",
        OperatorRole::Auditor,
    ),
    (Nav::Jobs, "Jobs", "/jobs", OperatorRole::Auditor),
    (Nav::Imports, "Imports", "/imports", OperatorRole::Auditor),
    (Nav::Audit, "Audit", "/audit", OperatorRole::Auditor),
    (
        Nav::Notifications,
        "Notifications",
        "/notifications",
        OperatorRole::Auditor,
    ),
    (
        Nav::Operators,
        "Operators",
        "/operators",
        OperatorRole::Admin,
    ),
    (Nav::Health, "Health", "/status", OperatorRole::Auditor),
];

/// What a page declares about itself beyond its body.
#[derive(Debug, Clone, Default)]
pub struct PageOptions {
    /// Event kinds that make the script refresh `main` (`job`, `import`, `target`); empty for
    /// none. Every signed-in page follows the stream for its toasts either way.
    pub live_on: &'static [&'static str],
    /// Seconds between background refreshes of `main`; `None` for none.
    pub refresh_every: Option<u32>,
}

/// A whole page for a signed-in viewer; for a fragment request (see
/// [`crate::viewer::FRAGMENT_HEADER`]) just the body, which the script swaps into `main`.
pub fn respond(
    viewer: &Viewer,
    title: &str,
    nav: Nav,
    options: &PageOptions,
    body: Markup,
) -> Response {
    let markup = if viewer.fragment {
        body
    } else {
        page(viewer, title, nav, options, body)
    };
    html_response(markup)
}

/// An HTML answer that no cache keeps (pages show student data).
#[must_use]
pub fn html_response(markup: Markup) -> Response {
    let mut res = markup.into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The shell around a signed-in page.
#[must_use]
pub fn page(viewer: &Viewer, title: &str, nav: Nav, options: &PageOptions, body: Markup) -> Markup {
    let live = options.live_on.join(" ");
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(&viewer.csrf)))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { (brand_mark()) span { "Command Center" } }
                    nav aria-label="Main" {
                        ul {
                            @for (which, label, path, role) in ENTRIES {
                                @if viewer.is_at_least(*role) {
                                    li {
                                        @if *which == nav {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    div.who {
                        span.user {
                            (viewer.principal.username)
                            " "
                            span.role { "(" (viewer.principal.role) ")" }
                        }
                        form method="post" action="/logout" {
                            (csrf::field(viewer))
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main tabindex="-1"
                    data-live-on=[(!live.is_empty()).then_some(live.as_str())]
                    data-refresh-every=[options.refresh_every]
                    data-events-after=[viewer.events_after] {
                    (body)
                }
                (toast_region())
            }
        }
    }
}

/// The shell around a page with no signed-in viewer (sign-in, some errors).
#[must_use]
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body.bare {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { (brand_mark()) span { "Command Center" } }
                }
                main #main tabindex="-1" { (body) }
                (toast_region())
            }
        }
    }
}

fn head(title: &str, csrf: Option<&str>) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            @if let Some(token) = csrf {
                meta name="cc-csrf" content=(token);
            }
            title { (title) " · Command Center" }
            link rel="icon" type="image/svg+xml" href=(assets::url("favicon.svg"));
            link rel="stylesheet" href=(assets::url("console.css"));
            script type="module" src=(assets::url("console.js")) {}
        }
    }
}

fn toast_region() -> Markup {
    html! {
        div #toasts .toasts role="status" aria-live="polite" aria-atomic="false" {}
    }
}

fn brand_mark() -> Markup {
    html! {
        (PreEscaped(r#"<svg class="mark" viewBox="0 0 16 16" width="20" height="20" aria-hidden="true" focusable="false"><rect x="1" y="1" width="14" height="14" rx="3" class="mark-bg"/><path d="M4 8h8M8 4v8" class="mark-fg"/></svg>"#))
    }
}

/// A status word with its icon, so colour is never the only signal. `level` is one of `ok`,
/// `warn`, `bad`, `idle`.
#[must_use]
pub fn status_badge(level: &str, text: &str) -> Markup {
    let icon = match level {
        "ok" => "✓",
        "warn" => "!",
        "bad" => "✗",
        _ => "–",
    };
    html! {
        span class={ "badge badge-" (level) } {
            span.icon aria-hidden="true" { (icon) }
            " " (text)
        }
    }
}
