//! The provider's `/Users` endpoint over HTTP: requests with the bearer token, responses
//! read up to a limit, and statuses turned into [`TargetError`]s that say whether to retry.

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::expose;
use crate::TargetError;
use cc_scim::patch::PatchOp;
use cc_scim::wire::{self, ListResponse, ServiceProviderConfig};
use cc_scim::CONTENT_TYPE as MEDIA_TYPE;

/// The largest response body read; anything longer is refused, not buffered.
pub(super) const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// How much of an error's `detail` goes into a message.
const DETAIL_CHARS: usize = 300;

/// One provider's SCIM endpoint.
pub(super) struct Api {
    pub client: reqwest::Client,
    pub base: Url,
    /// The base URL without credentials or query, for messages.
    pub shown: String,
    pub token: SecretString,
    pub timeout: Duration,
}

/// A response: status, `Retry-After`, body.
struct Reply {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Vec<u8>,
}

/// The answer to a create.
pub(super) enum Created {
    User(Box<wire::User>),
    /// 409 `uniqueness`: an account with the same unique values exists.
    Conflict,
}

impl Api {
    /// `{base}/{segments…}`, each segment percent-encoded.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, TargetError> {
        let what = format!("{method} {}", self.describe(segments));
        let mut request = self
            .client
            .request(method, self.url(segments))
            .header(AUTHORIZATION, format!("Bearer {}", expose(&self.token)))
            .header(ACCEPT, format!("{MEDIA_TYPE}, application/json"));
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.header(CONTENT_TYPE, MEDIA_TYPE).body(body);
        }
        let mut response = request.send().await.map_err(|e| self.transport(&what, e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport(&what, e))?
        {
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(TargetError::permanent(format!(
                    "{what}: the response is larger than {} KiB",
                    MAX_RESPONSE_BYTES / 1024
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            retry_after,
            body,
        })
    }

    fn describe(&self, segments: &[&str]) -> String {
        format!(
            "{}/{}",
            self.shown.trim_end_matches('/'),
            segments.join("/")
        )
    }

    /// A request that did not get an answer: retryable (the URL left out: it is shown
    /// without credentials in `what`).
    fn transport(&self, what: &str, e: reqwest::Error) -> TargetError {
        let e = e.without_url();
        if e.is_timeout() {
            return TargetError::retryable(format!(
                "{what} timed out after {} ms",
                self.timeout.as_millis()
            ));
        }
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        if e.is_builder() {
            TargetError::permanent(format!("{what}: {message}"))
        } else {
            TargetError::retryable(format!("{what}: {message}"))
        }
    }

    /// A non-success answer as an error: 408, 429 and 5xx are retryable (no sooner than
    /// `Retry-After`), everything else permanent.
    fn status_error(what: &str, reply: &Reply) -> TargetError {
        let error: wire::ErrorReply = serde_json::from_slice(&reply.body).unwrap_or_default();
        let mut message = format!("{what} answered {}", reply.status);
        if let Some(t) = &error.scim_type {
            message.push_str(&format!(" ({t})"));
        }
        if let Some(d) = error.detail.as_deref().filter(|d| !d.trim().is_empty()) {
            let cut = d
                .char_indices()
                .nth(DETAIL_CHARS)
                .map_or(d, |(i, _)| &d[..i]);
            message.push_str(&format!(": {cut}"));
        }
        let status = reply.status.as_u16();
        if matches!(status, 401 | 403) {
            message.push_str(": the provider refused the token");
        }
        if status == 408 || status == 429 || reply.status.is_server_error() {
            if let Some(d) = reply.retry_after {
                message.push_str(&format!(" (retry after {}s)", d.as_secs()));
            }
            TargetError::Retryable {
                message,
                retry_after: reply.retry_after,
            }
        } else {
            TargetError::permanent(message)
        }
    }

    fn parse<T: DeserializeOwned>(what: &str, reply: &Reply) -> Result<T, TargetError> {
        serde_json::from_slice(&reply.body).map_err(|e| {
            TargetError::permanent(format!("{what}: the response is not a SCIM resource: {e}"))
        })
    }

    /// The account with this id, or `None` when the provider has none (404).
    pub async fn get_user(&self, id: &str) -> Result<Option<wire::User>, TargetError> {
        let segments = ["Users", id];
        let reply = self.send(Method::GET, &segments, &[], None).await?;
        let what = format!("GET {}", self.describe(&segments));
        match reply.status {
            s if s.is_success() => Self::parse(&what, &reply).map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::status_error(&what, &reply)),
        }
    }

    /// The one account that matches `filter`, `None` when none does; more than one is a
    /// permanent error (linking to the wrong person is worse than stopping).
    pub async fn find_user(&self, filter: &str) -> Result<Option<wire::User>, TargetError> {
        let query = [("filter", filter), ("startIndex", "1"), ("count", "2")];
        let reply = self.send(Method::GET, &["Users"], &query, None).await?;
        let what = format!("GET {}?filter={filter}", self.describe(&["Users"]));
        if !reply.status.is_success() {
            return Err(Self::status_error(&what, &reply));
        }
        let list: ListResponse<wire::User> = Self::parse(&what, &reply)?;
        if list.total_results > 1 || list.resources.len() > 1 {
            return Err(TargetError::permanent(format!(
                "{what}: {} accounts match; refusing to pick one",
                list.total_results.max(2)
            )));
        }
        Ok(list.resources.into_iter().next())
    }

    /// Creates an account from `body` (a User, with the password when one is sent).
    pub async fn create_user(&self, body: &Value) -> Result<Created, TargetError> {
        let what = format!("POST {}", self.describe(&["Users"]));
        let bytes = serde_json::to_vec(body)
            .map_err(|e| TargetError::permanent(format!("cannot encode the account: {e}")))?;
        let reply = self
            .send(Method::POST, &["Users"], &[], Some(bytes))
            .await?;
        match reply.status {
            s if s.is_success() => Self::parse(&what, &reply).map(|u| Created::User(Box::new(u))),
            StatusCode::CONFLICT => Ok(Created::Conflict),
            _ => Err(Self::status_error(&what, &reply)),
        }
    }

    /// Applies a PATCH. A 404 (the account vanished since it was read) is retryable: the
    /// next attempt finds or creates it again.
    pub async fn patch_user(&self, id: &str, patch: &PatchOp) -> Result<(), TargetError> {
        let segments = ["Users", id];
        let what = format!("PATCH {}", self.describe(&segments));
        let bytes = serde_json::to_vec(patch)
            .map_err(|e| TargetError::permanent(format!("cannot encode the change: {e}")))?;
        let reply = self
            .send(Method::PATCH, &segments, &[], Some(bytes))
            .await?;
        match reply.status {
            s if s.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(TargetError::retryable(format!(
                "{what}: the account disappeared while it was being changed"
            ))),
            _ => Err(Self::status_error(&what, &reply)),
        }
    }

    /// Deletes an account; one already gone is success.
    pub async fn delete_user(&self, id: &str) -> Result<(), TargetError> {
        let segments = ["Users", id];
        let what = format!("DELETE {}", self.describe(&segments));
        let reply = self.send(Method::DELETE, &segments, &[], None).await?;
        match reply.status {
            s if s.is_success() || s == StatusCode::NOT_FOUND => Ok(()),
            _ => Err(Self::status_error(&what, &reply)),
        }
    }

    /// `GET /ServiceProviderConfig`.
    pub async fn service_provider_config(&self) -> Result<ServiceProviderConfig, TargetError> {
        let segments = ["ServiceProviderConfig"];
        let what = format!("GET {}", self.describe(&segments));
        let reply = self.send(Method::GET, &segments, &[], None).await?;
        if !reply.status.is_success() {
            return Err(Self::status_error(&what, &reply));
        }
        Self::parse(&what, &reply)
    }

    /// `GET /Users?startIndex=1&count=1`: whether the token may read accounts.
    pub async fn probe_users(&self) -> Result<u64, TargetError> {
        let query = [("startIndex", "1"), ("count", "1")];
        let what = format!("GET {}", self.describe(&["Users"]));
        let reply = self.send(Method::GET, &["Users"], &query, None).await?;
        if !reply.status.is_success() {
            return Err(Self::status_error(&what, &reply));
        }
        let list: ListResponse<Value> = Self::parse(&what, &reply)?;
        Ok(u64::try_from(list.total_results).unwrap_or(u64::MAX))
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

/// A filter comparing `attribute` to `value`, the value quoted as a JSON string (RFC 7644
/// §3.4.2.2), so quotes and backslashes in it cannot change the filter.
#[must_use]
pub(super) fn eq_filter(attribute: &str, value: &str) -> String {
    let quoted = serde_json::to_string(value).unwrap_or_else(|_| "\"\"".to_owned());
    format!("{attribute} eq {quoted}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_their_values() {
        assert_eq!(eq_filter("userName", "ada"), "userName eq \"ada\"");
        assert_eq!(
            eq_filter("userName", "a\" or userName pr or \"b"),
            "userName eq \"a\\\" or userName pr or \\\"b\""
        );
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("later"), None);
    }
}
