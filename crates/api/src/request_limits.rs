//! Limits on the request line and header section, answered with problem+json.
//!
//! hyper refuses what it cannot parse (a URI over 64 KiB, more header fields than its
//! `max_headers`, a header section over its read buffer) with a bare status line and no body.
//! This layer sets the limits clients meet well below hyper's (the connection raises hyper's
//! field count to [`HYPER_MAX_HEADERS`]), so an oversized URI or header section is answered
//! like every other error: 414 `uri_too_long` or 431 `headers_too_large`, with the request id.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ProblemType};

/// Longest accepted request target (path and query), in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest accepted header section (names and values of every field), in bytes.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Most header fields accepted in one request.
pub const MAX_HEADER_FIELDS: usize = 100;
/// The field count past which hyper itself refuses a request (bare 431): ten times ours.
pub const HYPER_MAX_HEADERS: usize = 10 * MAX_HEADER_FIELDS;

/// Middleware: refuses requests past [`MAX_URI_BYTES`], [`MAX_HEADER_BYTES`] or
/// [`MAX_HEADER_FIELDS`].
pub async fn enforce(req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return ApiError::new(
            ProblemType::UriTooLong,
            format!("The request target is longer than {MAX_URI_BYTES} bytes."),
        )
        .into_response();
    }
    if req.headers().len() > MAX_HEADER_FIELDS {
        return ApiError::new(
            ProblemType::HeadersTooLarge,
            format!("The request has more than {MAX_HEADER_FIELDS} header fields."),
        )
        .into_response();
    }
    let header_len: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_len > MAX_HEADER_BYTES {
        return ApiError::new(
            ProblemType::HeadersTooLarge,
            format!("The request's header fields are larger than {MAX_HEADER_BYTES} bytes."),
        )
        .into_response();
    }
    next.run(req).await
}
