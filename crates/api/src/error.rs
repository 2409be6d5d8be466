//! RFC 9457 problem details: the one error type every handler returns.
//!
//! Each error has an HTTP status and a stable, greppable `code`. Internal details are logged
//! here, where the error becomes a response, and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_domain::{FieldError, ValidationErrors};
use cc_service::ServiceError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::request_id::current_request_id;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The body of every error response (`application/problem+json`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:command-center:problem:validation_failed", "title": "Unprocessable Content", "status": 422,
    "detail": "The request body has invalid fields.", "code": "validation_failed",
    "request_id": "5f0c9a8e-1d2b-4c3a-8e7f-6a5b4c3d2e1f",
    "errors": [{"field": "email", "message": "must be a valid e-mail address"}]}))]
pub struct Problem {
    /// A URI naming the problem type: `urn:command-center:problem:<code>`.
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code.
    pub code: String,
    /// The request id, also in the `x-request-id` header; quote it when reporting a problem.
    pub request_id: Option<String>,
    /// Field-level problems (validation errors).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    #[must_use]
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    #[must_use]
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    #[must_use]
    pub fn validation(errors: ValidationErrors) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "The request has invalid fields.",
        );
        e.errors = errors.0;
        e
    }

    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side. The error was logged with this request id.",
        )
    }

    #[must_use]
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            detail,
        );
        e.retry_after = Some(1);
        e
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(v) => ApiError::validation(v),
            ServiceError::NotFound(what) => ApiError::not_found(format!("No {what} with that id.")),
            ServiceError::Conflict { field } => {
                let mut e = ApiError::new(
                    StatusCode::CONFLICT,
                    "conflict",
                    format!("Another record already has this {field}."),
                );
                e.errors.push(FieldError { field, message: "is already taken".into() });
                e
            }
            ServiceError::InvalidTransition(t) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", format!("{t}."))
            }
            ServiceError::InvalidOperation(t) => {
                ApiError::new(StatusCode::CONFLICT, "invalid_transition", format!("{t}."))
            }
            ServiceError::PreconditionFailed { current } if current >= 0 => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                format!("The record has changed since you read it; it is now at version {current}. Re-read and retry."),
            ),
            ServiceError::PreconditionFailed { .. } => ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "The record changed while the request ran. Re-read and retry.",
            ),
            ServiceError::Unavailable(detail) => {
                tracing::warn!(%detail, "database unavailable");
                ApiError::unavailable("The database is unavailable or busy. Retry shortly.")
            }
            ServiceError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                ApiError::internal()
            }
        }
    }
}

impl From<cc_store::StoreError> for ApiError {
    fn from(e: cc_store::StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            type_: format!("urn:command-center:problem:{}", self.code),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_owned(),
            request_id: current_request_id(),
            errors: self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
