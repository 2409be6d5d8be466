//! Cross-cutting layers: panics, timeouts, fallbacks.

use std::any::Any;

use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ProblemType};

/// Turns a panic in a handler into a logged 500 problem; the server keeps serving.
pub(crate) fn panic_response(err: Box<dyn Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::internal().into_response()
}

/// Unknown route.
pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("There is no such route. See /docs for the API.")
}

/// Known route, wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ProblemType::MethodNotAllowed,
        "This route does not accept that method.",
    )
}

/// A request that ran past the configured timeout.
pub(crate) async fn timeout_error(err: tower::BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::new(
            ProblemType::Timeout,
            "The request took too long and was abandoned.",
        )
    } else {
        tracing::error!(error = %err, "middleware error");
        ApiError::internal()
    }
}

/// Middleware: Swagger UI's own misses under `/docs` (an empty 404, a text/plain 400) become
/// problem+json like every other error.
pub(crate) async fn docs_problems(req: Request, next: Next) -> Response {
    let docs = req.uri().path().starts_with("/docs");
    let res = next.run(req).await;
    if !docs || !res.status().is_client_error() {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    if is_problem {
        return res;
    }
    if res.status() == StatusCode::NOT_FOUND {
        ApiError::not_found("There is no such documentation page. See /docs for the API.")
            .into_response()
    } else {
        ApiError::new(
            ProblemType::InvalidDocsRequest(res.status()),
            "The documentation request is not valid. See /docs for the API.",
        )
        .into_response()
    }
}
