//! Extractors whose rejections are problem responses.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ProblemType};
use crate::request_id::RequestId;

/// A JSON body. Wrong content type → 415, malformed JSON → 400, wrong shape → 422,
/// too large → 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(r: &JsonRejection) -> ApiError {
    match r {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ProblemType::UnsupportedMediaType,
            "Send the body as JSON with `Content-Type: application/json`.",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            ProblemType::MalformedJson,
            format!("The body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => {
            let mut err = ApiError::new(
                ProblemType::ValidationFailed,
                format!(
                    "The body does not match the expected shape: {}",
                    e.body_text()
                ),
            );
            err.errors.push(cc_domain::FieldError {
                field: field_of(&e.body_text()),
                message: e.body_text(),
            });
            err
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ProblemType::PayloadTooLarge,
                "The request body is larger than this server accepts.",
            )
        }
        other => ApiError::new(ProblemType::BadRequest, other.body_text()),
    }
}

/// serde_path_to_error messages start with the path (`groups[0]: invalid type…`).
fn field_of(msg: &str) -> String {
    let msg = msg
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(msg);
    match msg.split_once(": ") {
        Some((path, _)) if !path.contains(' ') => path.to_owned(),
        _ => "body".to_owned(),
    }
}

/// Query parameters; malformed or unknown ones → 400, and so is a NUL character (`%00`),
/// which PostgreSQL refuses in text and would otherwise fail the query with a 500.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts
            .uri
            .query()
            .is_some_and(|q| q.to_ascii_lowercase().contains("%00"))
        {
            return Err(ApiError::new(
                ProblemType::InvalidQuery,
                "Query parameters must not contain NUL characters.",
            ));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e: QueryRejection| {
                let text = e.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                ApiError::new(
                    ProblemType::InvalidQuery,
                    format!("Invalid query parameters: {text}"),
                )
            })
    }
}

/// Path parameters; a malformed id → 400.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|e: PathRejection| {
                ApiError::new(
                    ProblemType::InvalidPath,
                    format!("Invalid path parameter: {}", e.body_text()),
                )
            })
    }
}

/// The version in an `If-Match` header (`"3"`, `W/"3"` or `3`); `*` or absent means any.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let s = v.to_str().unwrap_or("").trim();
        if s == "*" {
            return Ok(IfMatch(None));
        }
        let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
        s.parse().map(|n| IfMatch(Some(n))).map_err(|_| {
            ApiError::new(
                ProblemType::InvalidIfMatch,
                "If-Match must be a version as returned in ETag, e.g. \"3\".",
            )
        })
    }
}

/// Who is making the request, for audit events.
pub struct CurrentActor(pub cc_domain::Actor);

/// The authenticated principal's audit name, placed in request extensions by authentication.
#[derive(Debug, Clone)]
pub struct PrincipalName(pub String);

impl<S: Send + Sync> FromRequestParts<S> for CurrentActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let name = parts
            .extensions
            .get::<PrincipalName>()
            .map_or_else(|| "anonymous".to_owned(), |p| p.0.clone());
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
        Ok(CurrentActor(cc_domain::Actor { name, request_id }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_field_in_serde_messages() {
        assert_eq!(
            super::field_of("role: unknown variant `wizard`, expected one of …"),
            "role"
        );
        assert_eq!(
            super::field_of("missing field `username` at line 1 column 2"),
            "body"
        );
    }
}
