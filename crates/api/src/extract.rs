//! Extractors whose rejections are problem responses.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ProblemType};
use crate::request_id::RequestId;

/// A JSON object body. Wrong content type → 415, malformed JSON → 400, wrong shape (including
/// a body that is not an object) → 422, too large → 413.
///
/// Numbers are read as JSON Schema reads them: `3.0` is the integer 3.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(json_rejection(&JsonRejection::MissingJsonContentType(
                Default::default(),
            )));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) => return Err(json_rejection(&JsonRejection::BytesRejection(e))),
        };
        let bytes = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(serde_json::Value::Object(mut map)) => {
                if integral_floats_to_integers(&mut map) {
                    serde_json::to_vec(&map).map_or(bytes, axum::body::Bytes::from)
                } else {
                    bytes
                }
            }
            Ok(_) => return Err(not_an_object()),
            // Let the typed parse below report the syntax error with its position.
            Err(_) => bytes,
        };
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// `application/json` or any `+json` type, as `axum::Json` accepts.
fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(essence) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
    else {
        return false;
    };
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn not_an_object() -> ApiError {
    let mut err = ApiError::new(
        ProblemType::ValidationFailed,
        "The body must be a JSON object.",
    );
    err.errors.push(cc_domain::FieldError {
        field: "body".into(),
        message: "must be a JSON object".into(),
    });
    err
}

/// Rewrites numbers like `3.0` as `3` (JSON Schema counts them as integers; serde's integer
/// types do not), returning whether anything changed.
fn integral_floats_to_integers(map: &mut serde_json::Map<String, serde_json::Value>) -> bool {
    map.values_mut()
        .fold(false, |changed, v| integral_value(v) | changed)
}

fn integral_value(v: &mut serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else { return false };
            // Within ±2^53 an f64 holds every integer exactly.
            if f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0 {
                #[allow(clippy::cast_possible_truncation)]
                let i = f as i64;
                *v = Value::from(i);
                true
            } else {
                false
            }
        }
        Value::Array(items) => items.iter_mut().fold(false, |c, v| integral_value(v) | c),
        Value::Object(map) => integral_floats_to_integers(map),
        _ => false,
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

/// The format `If-Match` is accepted in (documented in the OpenAPI document): `*`, or one
/// strong entity tag holding a version (`"3"`; the bare `3` is also taken).
pub const IF_MATCH_PATTERN: &str = r#"^(\*|"[0-9]{1,18}"|[0-9]{1,18})$"#;

/// The version in an `If-Match` header (`"3"` or `3`); `*` or absent means any.
///
/// If-Match compares entity tags strongly (RFC 9110 §13.1.1) and every ETag this API sends is
/// strong, so a weak tag (`W/"3"`) is refused with 400 rather than taken as a version.
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
        if s.starts_with("W/") {
            return Err(ApiError::new(
                ProblemType::WeakIfMatch,
                "If-Match uses strong comparison: send the ETag as returned, e.g. \"3\", not a weak tag.",
            ));
        }
        parse_version(s).map(|n| IfMatch(Some(n))).ok_or_else(|| {
            ApiError::new(
                ProblemType::InvalidIfMatch,
                "If-Match must be a version as returned in ETag, e.g. \"3\".",
            )
        })
    }
}

/// `"3"` or `3`: 1 to 18 ASCII digits, optionally in double quotes.
fn parse_version(s: &str) -> Option<i64> {
    let digits = match s.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"')?,
        None => s,
    };
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
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
    fn if_match_versions_are_digits_in_quotes_or_bare() {
        assert_eq!(super::parse_version("\"3\""), Some(3));
        assert_eq!(super::parse_version("42"), Some(42));
        for bad in [
            "",
            "\"\"",
            "\"-1\"",
            "-1",
            "\"3",
            "3\"",
            "+3",
            "\"1,2\"",
            "1234567890123456789",
        ] {
            assert_eq!(super::parse_version(bad), None, "{bad}");
        }
    }

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
