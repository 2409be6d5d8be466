//! `ServiceProviderConfig`, `ResourceTypes` and `Schemas`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cc_scim::discovery::{self, Capabilities};
use cc_scim::wire::ListResponse;
use cc_scim::ScimError;
use serde_json::Value;

use super::{base_url, list::MAX_COUNT, scim_json, Fail, ScimResult};
use crate::AppState;

pub(super) async fn config(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let caps = Capabilities {
        max_results: MAX_COUNT,
        max_payload: app.config.body_limit,
    };
    scim_json(
        StatusCode::OK,
        &discovery::service_provider_config(&base_url(&headers), caps),
    )
}

fn listed(items: Vec<Value>) -> Response {
    let n = items.len();
    scim_json(StatusCode::OK, &ListResponse::new(items, n, 1))
}

fn by_id(items: Vec<Value>, id: &str) -> ScimResult {
    items
        .into_iter()
        .find(|r| r["id"].as_str() == Some(id))
        .map(|r| scim_json(StatusCode::OK, &r))
        .ok_or_else(|| Fail(ScimError::not_found(format!("No `{id}` here."))))
}

pub(super) async fn resource_types(headers: HeaderMap) -> Response {
    listed(discovery::resource_types(&base_url(&headers)))
}

pub(super) async fn resource_type(headers: HeaderMap, Path(id): Path<String>) -> ScimResult {
    by_id(discovery::resource_types(&base_url(&headers)), &id)
}

pub(super) async fn schemas(headers: HeaderMap) -> Response {
    listed(discovery::schemas(&base_url(&headers)))
}

pub(super) async fn schema(headers: HeaderMap, Path(id): Path<String>) -> ScimResult {
    by_id(discovery::schemas(&base_url(&headers)), &id)
}
