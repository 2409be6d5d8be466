//! RFC 9457 problem details: the one error type every handler returns.
//!
//! Each error has a [`ProblemType`]: one table gives its HTTP status, stable, greppable `code` and
//! title. The service, authentication, job-operation and import errors are mapped here too.
//! Internal details are logged here, where the error becomes a response, and never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_domain::{FieldError, ValidationErrors};
use cc_queue::ops::OpError;
use cc_service::{AuthError, ServiceError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::request_id::current_request_id;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The body of every error response (`application/problem+json`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:command-center:problem:validation_failed", "title": "Validation failed", "status": 422,
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

/// Every kind of problem the API answers with: its HTTP status, its stable `code` (also the
/// last part of the problem `type`) and its title, in one table ([`ProblemType::spec`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    BadRequest,
    MalformedJson,
    InvalidQuery,
    InvalidPath,
    InvalidIfMatch,
    WeakIfMatch,
    InvalidCursor,
    InvalidLastEventId,
    InvalidMultipart,
    InvalidBody,
    DuplicateAuthorization,
    /// A client error Swagger UI answered under `/docs`, with its status.
    InvalidDocsRequest(StatusCode),
    NotASession,
    Unauthenticated,
    InvalidToken,
    InvalidCredentials,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    InvalidTransition,
    InvalidState,
    ImportNotApplicable,
    ImportRefused,
    PlanStale,
    PreconditionFailed,
    PayloadTooLarge,
    UriTooLong,
    UnsupportedMediaType,
    HeadersTooLarge,
    ValidationFailed,
    EmptyUpload,
    DuplicatePart,
    /// An upload the roster reader cannot read; the code is the reader's (`RosterError::code`).
    UnreadableUpload(&'static str),
    RateLimited,
    TooManyStreams,
    TooManyConcurrent,
    LoginThrottled,
    LoginLocked,
    LocalPasswordsDisabled,
    OidcUnknownProvider,
    OidcStateInvalid,
    OidcProviderRefused,
    OidcProviderUnavailable,
    OidcTokenInvalid,
    OidcUnmapped,
    OidcOperatorDisabled,
    Internal,
    ServiceUnavailable,
    Timeout,
}

impl ProblemType {
    /// Every problem type, for tests and documentation.
    pub const ALL: [ProblemType; 50] = {
        use ProblemType::*;
        [
            BadRequest,
            MalformedJson,
            InvalidQuery,
            InvalidPath,
            InvalidIfMatch,
            WeakIfMatch,
            InvalidCursor,
            InvalidLastEventId,
            InvalidMultipart,
            InvalidBody,
            DuplicateAuthorization,
            InvalidDocsRequest(StatusCode::BAD_REQUEST),
            NotASession,
            Unauthenticated,
            InvalidToken,
            InvalidCredentials,
            Forbidden,
            NotFound,
            MethodNotAllowed,
            Conflict,
            InvalidTransition,
            InvalidState,
            ImportNotApplicable,
            ImportRefused,
            PlanStale,
            PreconditionFailed,
            PayloadTooLarge,
            UriTooLong,
            UnsupportedMediaType,
            HeadersTooLarge,
            ValidationFailed,
            EmptyUpload,
            DuplicatePart,
            UnreadableUpload("unreadable_file"),
            RateLimited,
            TooManyStreams,
            TooManyConcurrent,
            LoginThrottled,
            LoginLocked,
            LocalPasswordsDisabled,
            OidcUnknownProvider,
            OidcStateInvalid,
            OidcProviderRefused,
            OidcProviderUnavailable,
            OidcTokenInvalid,
            OidcUnmapped,
            OidcOperatorDisabled,
            Internal,
            ServiceUnavailable,
            Timeout,
        ]
    };

    /// The table: status, code and title of each problem type.
    #[must_use]
    pub const fn spec(self) -> (StatusCode, &'static str, &'static str) {
        use ProblemType::*;
        match self {
            BadRequest => (StatusCode::BAD_REQUEST, "bad_request", "Bad request"),
            MalformedJson => (StatusCode::BAD_REQUEST, "malformed_json", "Malformed JSON"),
            InvalidQuery => (
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "Invalid query parameters",
            ),
            InvalidPath => (
                StatusCode::BAD_REQUEST,
                "invalid_path",
                "Invalid path parameter",
            ),
            InvalidIfMatch => (
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                "Invalid If-Match header",
            ),
            WeakIfMatch => (
                StatusCode::BAD_REQUEST,
                "weak_if_match",
                "Weak If-Match tag",
            ),
            InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor", "Invalid cursor"),
            InvalidLastEventId => (
                StatusCode::BAD_REQUEST,
                "invalid_last_event_id",
                "Invalid Last-Event-ID header",
            ),
            InvalidMultipart => (
                StatusCode::BAD_REQUEST,
                "invalid_multipart",
                "Invalid multipart form",
            ),
            InvalidBody => (
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "Incomplete request body",
            ),
            DuplicateAuthorization => (
                StatusCode::BAD_REQUEST,
                "duplicate_authorization",
                "More than one Authorization header",
            ),
            InvalidDocsRequest(status) => (status, "bad_request", "Bad request"),
            NotASession => (
                StatusCode::BAD_REQUEST,
                "not_a_session",
                "Not a session token",
            ),
            Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "Credentials required",
            ),
            InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token", "Invalid token"),
            InvalidCredentials => (
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid credentials",
            ),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            LocalPasswordsDisabled => (
                StatusCode::FORBIDDEN,
                "local_passwords_disabled",
                "Password sign-in is turned off",
            ),
            OidcUnknownProvider => (
                StatusCode::NOT_FOUND,
                "oidc_unknown_provider",
                "Unknown identity provider",
            ),
            OidcStateInvalid => (
                StatusCode::BAD_REQUEST,
                "oidc_state_invalid",
                "Sign-in expired or already used",
            ),
            OidcProviderRefused => (
                StatusCode::UNAUTHORIZED,
                "oidc_provider_refused",
                "The identity provider refused the sign-in",
            ),
            OidcProviderUnavailable => (
                StatusCode::BAD_GATEWAY,
                "oidc_provider_unavailable",
                "Identity provider unavailable",
            ),
            OidcTokenInvalid => (
                StatusCode::UNAUTHORIZED,
                "oidc_token_invalid",
                "Identity token refused",
            ),
            OidcUnmapped => (
                StatusCode::FORBIDDEN,
                "oidc_unmapped",
                "No operator role for this account",
            ),
            OidcOperatorDisabled => (
                StatusCode::FORBIDDEN,
                "oidc_operator_disabled",
                "Operator disabled",
            ),
            NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Conflict => (StatusCode::CONFLICT, "conflict", "Already taken"),
            InvalidTransition => (
                StatusCode::CONFLICT,
                "invalid_transition",
                "Invalid status change",
            ),
            InvalidState => (StatusCode::CONFLICT, "invalid_state", "Invalid job state"),
            ImportNotApplicable => (
                StatusCode::CONFLICT,
                "import_not_applicable",
                "Import run cannot be applied",
            ),
            ImportRefused => (StatusCode::CONFLICT, "import_refused", "Import refused"),
            PlanStale => (StatusCode::CONFLICT, "plan_stale", "Import plan is stale"),
            PreconditionFailed => (
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "Version mismatch",
            ),
            PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            UriTooLong => (
                StatusCode::URI_TOO_LONG,
                "uri_too_long",
                "Request target too long",
            ),
            UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            ),
            HeadersTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "headers_too_large",
                "Request header fields too large",
            ),
            ValidationFailed => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            EmptyUpload => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty_upload",
                "Empty upload",
            ),
            DuplicatePart => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "duplicate_part",
                "Duplicate form part",
            ),
            UnreadableUpload(code) => (StatusCode::UNPROCESSABLE_ENTITY, code, "Unreadable upload"),
            RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
            ),
            TooManyStreams => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_streams",
                "Too many event streams",
            ),
            TooManyConcurrent => (
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_concurrent",
                "Too many concurrent requests",
            ),
            LoginThrottled => (
                StatusCode::TOO_MANY_REQUESTS,
                "login_throttled",
                "Login throttled",
            ),
            LoginLocked => (
                StatusCode::TOO_MANY_REQUESTS,
                "login_locked",
                "Login locked",
            ),
            Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal error",
            ),
            ServiceUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "Service unavailable",
            ),
            Timeout => (
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "Request timed out",
            ),
        }
    }

    #[must_use]
    pub const fn status(self) -> StatusCode {
        self.spec().0
    }

    #[must_use]
    pub const fn code(self) -> &'static str {
        self.spec().1
    }

    #[must_use]
    pub const fn title(self) -> &'static str {
        self.spec().2
    }
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    pub kind: ProblemType,
    pub detail: String,
    pub errors: Vec<FieldError>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    #[must_use]
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// The error with one field-level problem added.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
        self
    }

    /// The error with a `Retry-After` header.
    #[must_use]
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    #[must_use]
    pub fn validation(errors: ValidationErrors) -> Self {
        let mut e = Self::new(
            ProblemType::ValidationFailed,
            "The request has invalid fields.",
        );
        e.errors = errors.0;
        e
    }

    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::NotFound, detail)
    }

    #[must_use]
    pub fn internal() -> Self {
        Self::new(
            ProblemType::Internal,
            "Something went wrong on our side. The error was logged with this request id.",
        )
    }

    #[must_use]
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemType::ServiceUnavailable, detail).retry_after(1)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Validation(v) => ApiError::validation(v),
            ServiceError::NotFound(what) => ApiError::not_found(format!("No {what} with that id.")),
            ServiceError::Conflict { field } => ApiError::new(
                ProblemType::Conflict,
                format!("Another record already has this {field}."),
            )
            .with_field(field, "is already taken"),
            ServiceError::InvalidTransition(t) => {
                ApiError::new(ProblemType::InvalidTransition, format!("{t}."))
            }
            ServiceError::InvalidOperation(t) => {
                ApiError::new(ProblemType::InvalidTransition, format!("{t}."))
            }
            ServiceError::PreconditionFailed { current } => ApiError::new(
                ProblemType::PreconditionFailed,
                format!("The record has changed since you read it; it is now at version {current}. Re-read and retry."),
            ),
            ServiceError::ConcurrentUpdate => ApiError::new(
                ProblemType::PreconditionFailed,
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

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::InvalidToken => ApiError::new(
                ProblemType::InvalidToken,
                "The token is invalid, expired or revoked. Log in again or refresh.",
            ),
            AuthError::InvalidCredentials => ApiError::new(
                ProblemType::InvalidCredentials,
                "The username or password is wrong.",
            ),
            AuthError::Throttled { retry_after_secs } => ApiError::new(
                ProblemType::LoginThrottled,
                format!("Too many failed logins; wait {retry_after_secs} seconds before trying again."),
            )
            .retry_after(retry_after_secs),
            AuthError::Locked { retry_after_secs } => ApiError::new(
                ProblemType::LoginLocked,
                format!(
                    "Logins are locked after repeated failures; try again in {retry_after_secs} seconds, \
                     or ask an admin to reset the password."
                ),
            )
            .retry_after(retry_after_secs),
            AuthError::LocalPasswordsDisabled => ApiError::new(
                ProblemType::LocalPasswordsDisabled,
                "Password sign-in is turned off here; sign in through your organisation's identity provider.",
            ),
            AuthError::Service(s) => s.into(),
        }
    }
}

impl From<cc_service::auth::oidc::OidcError> for ApiError {
    fn from(e: cc_service::auth::oidc::OidcError) -> Self {
        use cc_service::auth::oidc::OidcError as E;
        let message = e.to_string();
        let kind = match e {
            E::UnknownProvider => ProblemType::OidcUnknownProvider,
            E::StateInvalid => ProblemType::OidcStateInvalid,
            E::ProviderRefused(_) => ProblemType::OidcProviderRefused,
            E::ProviderUnavailable(_) => ProblemType::OidcProviderUnavailable,
            E::TokenRefused(_) => ProblemType::OidcTokenInvalid,
            E::Unmapped => ProblemType::OidcUnmapped,
            E::Disabled => ProblemType::OidcOperatorDisabled,
            E::Service(s) => return s.into(),
        };
        ApiError::new(kind, message)
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound => ApiError::not_found("No job with that id."),
            OpError::InvalidState(m) => ApiError::new(ProblemType::InvalidState, m),
            OpError::Store(e) => e.into(),
        }
    }
}

/// An import a guard refused: each refusal as a field error naming the API parameter that
/// overrides it (or, when none does, the refusal's code).
#[must_use]
pub fn import_refused(refusals: Vec<cc_roster::Refusal>) -> ApiError {
    let mut e = ApiError::new(
        ProblemType::ImportRefused,
        format!(
            "The import was refused and nothing was changed: {}",
            refusals
                .iter()
                .map(|r| r.message.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    );
    for r in refusals {
        let message = match &r.overridden_by {
            Some(p) => format!("{} (to apply anyway, pass {p}=true)", r.message),
            None => r.message,
        };
        e = e.with_field(r.overridden_by.unwrap_or(r.code), message);
    }
    e
}

/// An import whose plan no longer matches the directory.
#[must_use]
pub fn plan_stale() -> ApiError {
    ApiError::new(
        ProblemType::PlanStale,
        "The directory changed since this plan was made, so it was not applied. Upload the file again to re-plan.",
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, title) = self.kind.spec();
        let problem = Problem {
            type_: format!("urn:command-center:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.detail,
            code: code.to_owned(),
            request_id: current_request_id(),
            errors: self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (status, body).into_response();
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

#[cfg(test)]
mod tests {
    use cc_domain::lifecycle::{InvalidOperation, LifecycleOperation};
    use cc_domain::user::InvalidTransition;
    use cc_domain::{UserStatus, ValidationErrors};

    use super::*;

    /// The status and code each service error answers with (exhaustive: a new variant must be
    /// added here).
    fn expected_service(e: &ServiceError) -> (u16, &'static str) {
        match e {
            ServiceError::Validation(_) => (422, "validation_failed"),
            ServiceError::NotFound(_) => (404, "not_found"),
            ServiceError::Conflict { .. } => (409, "conflict"),
            ServiceError::InvalidTransition(_) | ServiceError::InvalidOperation(_) => {
                (409, "invalid_transition")
            }
            ServiceError::PreconditionFailed { .. } | ServiceError::ConcurrentUpdate => {
                (412, "precondition_failed")
            }
            ServiceError::Unavailable(_) => (503, "service_unavailable"),
            ServiceError::Internal(_) => (500, "internal_error"),
        }
    }

    fn expected_auth(e: &AuthError) -> (u16, &'static str) {
        match e {
            AuthError::InvalidCredentials => (401, "invalid_credentials"),
            AuthError::InvalidToken => (401, "invalid_token"),
            AuthError::Throttled { .. } => (429, "login_throttled"),
            AuthError::Locked { .. } => (429, "login_locked"),
            AuthError::LocalPasswordsDisabled => (403, "local_passwords_disabled"),
            AuthError::Service(s) => expected_service(s),
        }
    }

    fn expected_op(e: &OpError) -> (u16, &'static str) {
        match e {
            OpError::NotFound => (404, "not_found"),
            OpError::InvalidState(_) => (409, "invalid_state"),
            OpError::Store(_) => (503, "service_unavailable"),
        }
    }

    fn service_errors() -> Vec<ServiceError> {
        vec![
            ServiceError::Validation(ValidationErrors::default()),
            ServiceError::NotFound("user"),
            ServiceError::Conflict {
                field: "username".into(),
            },
            ServiceError::InvalidTransition(InvalidTransition {
                from: UserStatus::Deprovisioned,
                to: UserStatus::Active,
            }),
            ServiceError::InvalidOperation(InvalidOperation {
                operation: LifecycleOperation::Provision,
                status: UserStatus::Deprovisioned,
                reason: "deprovisioned",
            }),
            ServiceError::PreconditionFailed { current: 3 },
            ServiceError::ConcurrentUpdate,
            ServiceError::Unavailable("busy".into()),
            ServiceError::Internal("boom".into()),
        ]
    }

    fn answer(e: &ApiError) -> (u16, &'static str) {
        (e.status().as_u16(), e.code())
    }

    #[test]
    fn every_service_auth_and_job_error_maps_to_its_status_and_code() {
        for e in service_errors() {
            let want = expected_service(&e);
            assert_eq!(answer(&ApiError::from(e)), want);
        }
        let mut auth = vec![
            AuthError::InvalidCredentials,
            AuthError::InvalidToken,
            AuthError::Throttled {
                retry_after_secs: 5,
            },
            AuthError::Locked {
                retry_after_secs: 60,
            },
        ];
        auth.extend(service_errors().into_iter().map(AuthError::Service));
        for e in auth {
            let want = expected_auth(&e);
            let retry = matches!(e, AuthError::Throttled { .. } | AuthError::Locked { .. });
            let got = ApiError::from(e);
            assert_eq!(answer(&got), want);
            assert_eq!(got.retry_after.is_some(), retry || want.0 == 503);
        }
        for e in [
            OpError::NotFound,
            OpError::InvalidState("finished".into()),
            OpError::Store(cc_store::StoreError::Unavailable("busy".into())),
        ] {
            let want = expected_op(&e);
            assert_eq!(answer(&ApiError::from(e)), want);
        }
    }

    #[test]
    fn a_store_version_conflict_is_a_precondition_failure_without_a_version() {
        let e = ApiError::from(cc_store::StoreError::VersionConflict);
        assert_eq!(answer(&e), (412, "precondition_failed"));
        assert!(!e.detail.contains("-1"), "{}", e.detail);
        let known = ApiError::from(ServiceError::PreconditionFailed { current: 7 });
        assert!(known.detail.contains("version 7"), "{}", known.detail);
    }

    #[test]
    fn the_table_has_unique_codes_titles_and_error_statuses() {
        let mut codes = std::collections::HashSet::new();
        for k in ProblemType::ALL {
            let (status, code, title) = k.spec();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{k:?}"
            );
            // The documentation's own client errors share `bad_request`'s code, with their status.
            if !matches!(k, ProblemType::InvalidDocsRequest(_)) {
                assert!(codes.insert(code), "code {code} appears twice");
            }
            assert!(
                code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{code}"
            );
            assert!(!title.is_empty());
        }
    }

    /// Every problem type is in [`ProblemType::ALL`] and answered somewhere: the variants are
    /// read from this file's source and looked for in the crate's.
    #[test]
    fn every_problem_type_is_listed_and_used() {
        let src = include_str!("error.rs");
        let body = src
            .split_once("pub enum ProblemType {")
            .and_then(|(_, rest)| rest.split_once('}'))
            .map(|(body, _)| body)
            .expect("the enum");
        let variants: Vec<&str> = body
            .lines()
            .map(|l| l.trim().trim_end_matches(','))
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(|l| l.split_once('(').map_or(l, |(name, _)| name))
            .collect();
        assert_eq!(variants.len(), ProblemType::ALL.len());
        let mut all_src = String::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))];
        while let Some(d) = dirs.pop() {
            for entry in std::fs::read_dir(&d).expect("src dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    all_src.push_str(&std::fs::read_to_string(&path).expect("source"));
                }
            }
        }
        for v in variants {
            assert!(
                ProblemType::ALL
                    .iter()
                    .any(|k| format!("{k:?}").split('(').next() == Some(v)),
                "{v} is missing from ProblemType::ALL"
            );
            assert!(
                all_src.contains(&format!("ProblemType::{v}")),
                "ProblemType::{v} is never used"
            );
        }
    }
}
