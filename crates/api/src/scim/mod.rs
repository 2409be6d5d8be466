//! The SCIM 2.0 service provider at `/scim/v2` (RFC 7643, RFC 7644), for identity providers
//! (Entra ID, Okta, …) that push people and groups. The protocol lives in `cc-scim`; this
//! module translates between it and the directory's service layer, which every write goes
//! through (audited with the SCIM client's token as actor, enqueueing the lifecycle jobs an
//! API write would). Only API tokens with the `scim` role may call it (the permission table).

mod discovery;
mod groups;
mod list;
pub mod map;
mod users;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use cc_scim::{ScimError, ScimType};
use cc_service::ServiceError;
use serde_json::Value;

use crate::AppState;

/// Where the endpoint is mounted.
pub const PREFIX: &str = "/scim/v2";

/// The routes under [`PREFIX`].
pub fn router(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route("/.search", post(search))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .route("/ServiceProviderConfig", get(discovery::config))
        .route("/ResourceTypes", get(discovery::resource_types))
        .route("/ResourceTypes/{id}", get(discovery::resource_type))
        .route("/Schemas", get(discovery::schemas))
        .route("/Schemas/{id}", get(discovery::schema))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// `POST /.search` (RFC 7644 §3.4.3): People and groups together, each filtered by its own
/// schema, sorted and paged as one list.
async fn search(
    axum::extract::State(app): axum::extract::State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let params = list::ListParams::from_search(&read_body(&headers, &body)?)?;
    let req = list::ListRequest::from_params(params)?;
    let base = base_url(&headers);
    let people = users::listable(&app, &req, &base).await?;
    let groups = groups::listable(&app, &req, &base).await?;
    Ok(scim_json(
        StatusCode::OK,
        &req.answer_mixed(vec![
            (people, cc_scim::USER_SCHEMA),
            (groups, cc_scim::GROUP_SCHEMA),
        ])?,
    ))
}

/// A failed SCIM request, answered in the SCIM error schema.
#[derive(Debug)]
pub struct Fail(pub ScimError);

impl From<ScimError> for Fail {
    fn from(e: ScimError) -> Self {
        Self(e)
    }
}

impl From<ServiceError> for Fail {
    fn from(e: ServiceError) -> Self {
        Self(match e {
            ServiceError::Validation(v) => {
                let detail: Vec<String> =
                    v.0.iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect();
                ScimError::invalid_value(detail.join("; "))
            }
            ServiceError::NotFound(what) => {
                ScimError::not_found(format!("No {what} with that id."))
            }
            ServiceError::Conflict { field } => ScimError::new(
                409,
                Some(ScimType::Uniqueness),
                format!("Another record already has this {field}."),
            ),
            ServiceError::InvalidTransition(t) => ScimError::invalid_value(format!("{t}.")),
            ServiceError::InvalidOperation(t) => ScimError::invalid_value(format!("{t}.")),
            ServiceError::PreconditionFailed { current } => ScimError::new(
                412,
                None,
                format!(
                    "The resource has changed; its version is now {}.",
                    map::etag(current)
                ),
            ),
            ServiceError::ConcurrentUpdate => ScimError::new(
                412,
                None,
                "The resource changed while the request ran. Read it again and retry.",
            ),
            ServiceError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ScimError::new(
                    503,
                    None,
                    "The database is unavailable or busy. Retry shortly.",
                )
            }
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ScimError::new(500, None, "Internal error.")
            }
        })
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = scim_json(status, &self.0.to_body());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

pub(crate) type ScimResult<T = Response> = Result<T, Fail>;

/// A response in `application/scim+json`.
pub(crate) fn scim_json<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(cc_scim::CONTENT_TYPE),
    );
    res
}

/// A resource with its weak `ETag` (and `Location` on creation).
pub(crate) fn resource(status: StatusCode, body: &Value, version: i64) -> Response {
    let mut res = scim_json(status, body);
    if let Ok(v) = HeaderValue::from_str(&map::etag(version)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Some(loc) = body["meta"]["location"]
            .as_str()
            .and_then(|l| HeaderValue::from_str(l).ok())
        {
            res.headers_mut().insert(header::LOCATION, loc);
        }
    }
    res
}

/// Reads a JSON body sent as `application/scim+json` or `application/json`.
pub(crate) fn read_body(headers: &HeaderMap, body: &Bytes) -> ScimResult<Value> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != cc_scim::CONTENT_TYPE && essence != "application/json" {
            return Err(Fail(ScimError::new(
                415,
                None,
                "Send the body as application/scim+json.",
            )));
        }
    }
    serde_json::from_slice(body)
        .map_err(|_| Fail(ScimError::invalid_syntax("The body is not valid JSON.")))
}

/// `If-Match`: `W/"3"`, `"3"` or `*` (any).
pub(crate) fn if_match(headers: &HeaderMap) -> ScimResult<Option<i64>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let s = v.to_str().unwrap_or("").trim();
    if s == "*" {
        return Ok(None);
    }
    let tag = s.strip_prefix("W/").unwrap_or(s);
    tag.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .filter(|d| !d.is_empty() && d.len() <= 18 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Fail(ScimError::invalid_value(
                "If-Match must be an ETag as returned, e.g. W/\"3\".",
            ))
        })
}

/// The endpoint's absolute base URL, as the client reached it.
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    format!("{proto}://{host}{PREFIX}")
}

/// Layer around the whole application: error answers under `/scim/` that other layers made
/// (authentication, rate limits, body limits, unknown routes and methods) in
/// `application/problem+json` or plain text are re-written in the SCIM error schema, keeping
/// their status and headers.
pub async fn scim_errors(req: Request, next: Next) -> Response {
    let scim = req.uri().path().starts_with("/scim/");
    let res = next.run(req).await;
    if !scim || !(res.status().is_client_error() || res.status().is_server_error()) {
        return res;
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|c| c.as_bytes().to_vec())
        .unwrap_or_default();
    if content_type.starts_with(cc_scim::CONTENT_TYPE.as_bytes()) {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    let problem: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let detail = problem["detail"]
        .as_str()
        .or_else(|| problem["title"].as_str())
        .or_else(|| parts.status.canonical_reason())
        .unwrap_or("The request failed.")
        .to_owned();
    let scim_type = (parts.status == StatusCode::PAYLOAD_TOO_LARGE).then_some(ScimType::TooMany);
    let err = ScimError::new(parts.status.as_u16(), scim_type, detail).to_body();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(cc_scim::CONTENT_TYPE),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&err).unwrap_or_default()),
    )
}
