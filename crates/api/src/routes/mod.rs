//! Handlers, one module per resource.

pub mod audit;
pub mod auth;
pub mod cloudflare;
pub mod devices;
pub mod events;
pub mod groups;
pub mod health;
pub mod imports;
pub mod jobs;
pub mod lifecycle;
pub mod notifications;
pub mod oidc;
pub mod operators;
pub mod policies;
pub mod tokens;
pub mod users;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::error::{ApiError, ProblemType};

/// A JSON response carrying the record's version as a strong `ETag`.
pub(crate) fn versioned<T: Serialize>(status: StatusCode, version: i64, body: &T) -> Response {
    let mut res = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        res.headers_mut().insert(header::ETAG, v);
    }
    res
}

/// A 201 response with `Location` and `ETag`.
pub(crate) fn created<T: Serialize>(location: String, version: i64, body: &T) -> Response {
    let mut res = versioned(StatusCode::CREATED, version, body);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Turns `limit`, `cursor` and `sort` parameters into their parsed forms.
pub(crate) struct Paging {
    pub limit: u32,
    pub cursor: Option<cc_domain::Cursor>,
    pub sort: &'static str,
    pub dir: cc_domain::SortDir,
}

impl Paging {
    pub(crate) fn parse(
        limit: Option<u32>,
        cursor: Option<&str>,
        sort: Option<&str>,
        allowed: &[&'static str],
    ) -> Result<Self, ApiError> {
        let limit = cc_domain::page::parse_limit(limit)
            .map_err(|m| ApiError::new(ProblemType::InvalidQuery, m))?;
        let (sort, dir) = cc_domain::page::parse_sort(sort, allowed)
            .map_err(|m| ApiError::new(ProblemType::InvalidQuery, m))?;
        // Lists sorted by id use the cursor kind "id"; the others name their sort field.
        let cursor_kind = if allowed == ID_SORT { "id" } else { sort };
        let cursor = cursor
            .map(|c| cc_domain::Cursor::decode(c, cursor_kind))
            .transpose()
            .map_err(|m| ApiError::new(ProblemType::InvalidCursor, m))?;
        Ok(Self {
            limit,
            cursor,
            sort,
            dir,
        })
    }
}

/// The sort of lists ordered by creation (id) only.
/// The page size and the starting id of a list keyed by a numeric id, newest first (jobs,
/// notification deliveries): `cursor` is one this module encoded for `kind`.
pub(crate) fn id_paging(
    limit: Option<u32>,
    cursor: Option<&str>,
    kind: &str,
) -> crate::error::ApiResult<(u32, Option<i64>)> {
    use crate::error::{ApiError, ProblemType};
    let limit = cc_domain::page::parse_limit(limit)
        .map_err(|m| ApiError::new(ProblemType::InvalidQuery, m))?;
    let before_id = cursor
        .map(|c| {
            cc_domain::Cursor::decode(c, kind)
                .ok()
                .and_then(|c| c.v.parse::<i64>().ok())
                .ok_or_else(|| ApiError::new(ProblemType::InvalidCursor, "cursor is not valid"))
        })
        .transpose()?;
    Ok((limit, before_id))
}

/// The cursor that continues an id-keyed list after `id` (see [`id_paging`]).
pub(crate) fn id_cursor(kind: &str, id: impl ToString) -> String {
    cc_domain::Cursor {
        s: kind.into(),
        v: id.to_string(),
        id: uuid::Uuid::nil(),
    }
    .encode()
}

pub(crate) const ID_SORT: &[&str] = &["created_at"];

/// Error responses shared by the operations, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum CommonErrors {
    /// Malformed request: bad JSON, query or path parameters.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(crate::error::Problem),
    /// The path and query are longer than 8 KiB (`uri_too_long`).
    #[response(status = 414, content_type = "application/problem+json")]
    UriTooLong(crate::error::Problem),
    /// The header fields are larger than 32 KiB (`headers_too_large`).
    #[response(status = 431, content_type = "application/problem+json")]
    HeadersTooLarge(crate::error::Problem),
    /// Too many requests; see `Retry-After`.
    #[response(status = 429, content_type = "application/problem+json")]
    TooManyRequests(crate::error::Problem),
    /// Unexpected server error; the response carries the request id.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(crate::error::Problem),
    /// The database is unavailable or busy.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(crate::error::Problem),
}

/// Error responses of operations that write a body.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum WriteErrors {
    /// The record does not exist.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(crate::error::Problem),
    /// A unique field is taken, or the change breaks a rule (e.g. an illegal status change).
    #[response(status = 409, content_type = "application/problem+json")]
    Conflict(crate::error::Problem),
    /// `If-Match` / `version` is stale.
    #[response(status = 412, content_type = "application/problem+json")]
    PreconditionFailed(crate::error::Problem),
    /// The body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(crate::error::Problem),
    /// The body is not JSON.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(crate::error::Problem),
    /// Invalid fields; see `errors`.
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(crate::error::Problem),
}

/// Error responses of operations that read a JSON body but write no record.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum BodyErrors {
    /// The body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(crate::error::Problem),
    /// The body is not sent as JSON (`Content-Type: application/json`).
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(crate::error::Problem),
    /// The body is JSON of the wrong shape (missing or unknown fields, wrong types).
    #[response(status = 422, content_type = "application/problem+json")]
    Unprocessable(crate::error::Problem),
}
