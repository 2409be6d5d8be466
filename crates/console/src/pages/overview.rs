//! `/`: the overview.

use axum::extract::State;
use axum::response::Response;
use cc_api::routes::health::readiness;
use cc_api::AppState;
use maud::html;

use crate::layout::{self, Nav, PageOptions};
use crate::viewer::Viewer;

/// `GET /`.
pub async fn page(State(app): State<AppState>, viewer: Viewer) -> Response {
    let report = readiness(&app).await;
    let body = html! {
        h1 { "Overview" }
        (crate::pages::health::render(&report))
    };
    layout::respond(
        &viewer,
        "Overview",
        Nav::Overview,
        &PageOptions {
            live_on: &["job"],
            refresh_every: Some(30),
        },
        body,
    )
}
