//! Webhook target: POSTs a signed JSON event for each operation.
//!
//! Body: `{"id", "operation", "target", "user", "previous", "link", "occurred_at"}` (plus
//! `"password"` only with `include_password = true`). Headers: `X-CC-Timestamp` (Unix
//! seconds), `X-CC-Signature: sha256=<hex HMAC-SHA256 of "{timestamp}.{body}">`,
//! `Idempotency-Key` (the request id, stable across retries), and any configured headers.
//! 2xx is success; 408, 429, 5xx and connection errors are retryable (`Retry-After`
//! honoured); any other status is permanent. Redirects are not followed.

mod config;
pub mod signature;

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use secrecy::SecretString;
use serde_json::{json, Value};

pub use config::{HeaderSetting, WebhookConfig};

use crate::config::{expose, operation_set, read_secret_file, resolve_secret};
use crate::error::redact;
use crate::redaction::{shown_url, url_secrets};
use crate::target::unhandled;
use crate::{
    Change, ChangeKind, ConfigError, Operation, OperationRequest, Target, TargetError,
    TargetOutcome, TargetPlan,
};

/// Largest part of a response body kept in an outcome or error.
const RESPONSE_KEEP: usize = 4096;

/// A built webhook target.
pub struct WebhookTarget {
    name: String,
    operations: BTreeSet<Operation>,
    url: reqwest::Url,
    /// The URL without query or credentials, for messages.
    shown_url: String,
    secret: SecretString,
    /// Credentials in the URL and in headers read from files, redacted from every message.
    hidden: Vec<SecretString>,
    headers: HeaderMap,
    include_password: bool,
    timeout: Duration,
    client: reqwest::Client,
}

impl WebhookTarget {
    /// Builds the target from its configuration.
    ///
    /// # Errors
    /// An invalid URL, header, timeout, or an unreadable secret.
    pub fn new(c: &WebhookConfig) -> Result<Self, ConfigError> {
        let err = |m: String| ConfigError::new(&c.name, m);
        let operations = operation_set(&c.name, c.operations.as_deref())?;
        let url = reqwest::Url::parse(&c.url).map_err(|e| err(format!("`url`: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("`url` must be http:// or https://".into()));
        }
        let secret = resolve_secret(
            &c.name,
            "secret",
            c.secret.as_ref(),
            c.secret_file.as_deref(),
            true,
        )?
        .unwrap_or_else(|| unreachable!("required"));
        if c.timeout_ms == 0 {
            return Err(err("`timeout_ms` must be positive".into()));
        }
        let (headers, mut hidden) = build_headers(c)?;
        hidden.extend(url_secrets(&url).into_iter().map(SecretString::from));
        let host = url.host_str().unwrap_or_default();
        if url.scheme() == "http" && !crate::is_loopback_host(host) {
            tracing::warn!(
                target_name = %c.name,
                "webhook `{}` uses plain http to a non-loopback host: events carry personal data",
                c.name
            );
        }
        let timeout = Duration::from_millis(c.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("command-center/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            name: c.name.clone(),
            operations,
            shown_url: shown_url(&url),
            url,
            secret,
            hidden,
            headers,
            include_password: c.include_password,
            timeout,
            client,
        })
    }

    /// The event body for a request.
    fn event(&self, req: &OperationRequest, with_password: bool) -> Value {
        let mut event = json!({
            "id": req.id,
            "operation": req.operation,
            "target": self.name,
            "user": req.user,
            "previous": req.previous,
            "link": req.link,
            "occurred_at": req.requested_at,
        });
        if with_password && self.include_password {
            if let Some(pw) = &req.password {
                event["password"] = Value::String(expose(pw).to_owned());
            }
        }
        event
    }

    fn secrets<'a>(&'a self, req: &'a OperationRequest) -> Vec<&'a str> {
        let mut s = vec![expose(&self.secret)];
        s.extend(self.hidden.iter().map(expose));
        if let Some(pw) = &req.password {
            s.push(expose(pw));
        }
        s
    }

    async fn deliver(&self, req: &OperationRequest) -> Result<TargetOutcome, TargetError> {
        let body = serde_json::to_vec(&self.event(req, true))
            .map_err(|e| TargetError::permanent(format!("cannot encode the event: {e}")))?;
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature::sign(expose(&self.secret).as_bytes(), timestamp, &body);
        let response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("x-cc-timestamp", timestamp.to_string())
            .header("x-cc-signature", signature)
            .header("idempotency-key", req.id.to_string())
            .header("x-cc-operation", req.operation.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| self.transport_error(e, req))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let bytes = read_capped(response, RESPONSE_KEEP).await;
        let text = redact(&String::from_utf8_lossy(&bytes), &self.secrets(req));
        if status.is_success() {
            return Ok(self.outcome(req, status.as_u16(), &text));
        }
        let message = format!(
            "POST {} answered {status}{}",
            self.shown_url,
            if text.trim().is_empty() {
                String::new()
            } else {
                format!(": {}", first_chars(text.trim(), 300))
            }
        );
        let retryable =
            status.as_u16() == 408 || status.as_u16() == 429 || status.is_server_error();
        if retryable {
            let message = match retry_after {
                Some(d) => format!("{message} (retry after {}s)", d.as_secs()),
                None => message,
            };
            Err(TargetError::Retryable {
                message,
                retry_after,
            })
        } else {
            Err(TargetError::permanent(message))
        }
    }

    fn outcome(&self, req: &OperationRequest, status: u16, text: &str) -> TargetOutcome {
        let response: Value =
            serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        let account_id = response
            .get("account_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| req.link.as_ref().map(|l| l.account_id.clone()))
            .filter(|_| req.operation != Operation::Deprovision);
        let changes = response
            .get("changes")
            .and_then(|c| serde_json::from_value::<Vec<Change>>(c.clone()).ok())
            .unwrap_or_else(|| vec![self.delivery_change(req)]);
        TargetOutcome {
            account_id,
            changes,
            detail: json!({"status": status, "response": response}),
        }
    }

    fn delivery_change(&self, req: &OperationRequest) -> Change {
        Change::new(ChangeKind::Other, &self.shown_url)
            .to_value(format!("{} event delivered", req.operation))
    }

    /// A failed request as a retryable error. reqwest's text names the full URL (credentials
    /// and query included), so the URL is dropped and every remaining secret masked.
    fn transport_error(&self, e: reqwest::Error, req: &OperationRequest) -> TargetError {
        let e = e.without_url();
        if e.is_timeout() {
            return TargetError::retryable(format!(
                "POST {} timed out after {} ms",
                self.shown_url,
                self.timeout.as_millis()
            ));
        }
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            message = format!("{message}: {s}");
            source = s.source();
        }
        let message = format!(
            "POST {}: {}",
            self.shown_url,
            redact(&message, &self.secrets(req))
        );
        if e.is_builder() {
            TargetError::permanent(message)
        } else {
            TargetError::retryable(message)
        }
    }
}

/// The configured headers, and the values read from files (secrets).
fn build_headers(c: &WebhookConfig) -> Result<(HeaderMap, Vec<SecretString>), ConfigError> {
    let err = |m: String| ConfigError::new(&c.name, m);
    let mut headers = HeaderMap::new();
    let mut hidden = Vec::new();
    for (k, setting) in &c.headers {
        let name = HeaderName::try_from(k.as_str())
            .map_err(|_| err(format!("`headers`: `{k}` is not a valid header name")))?;
        if name.as_str().starts_with("x-cc-")
            || name == CONTENT_TYPE
            || name.as_str() == "idempotency-key"
        {
            return Err(err(format!("`headers`: `{k}` is set by Command Center")));
        }
        let (text, from_file) = match setting {
            HeaderSetting::Value(v) => (SecretString::from(v.clone()), false),
            HeaderSetting::File { value_file } => {
                let v = read_secret_file(&c.name, &format!("headers.{k}.value"), value_file)?;
                hidden.push(v.clone());
                (v, true)
            }
        };
        let mut value = HeaderValue::try_from(expose(&text))
            .map_err(|_| err(format!("`headers`: the value of `{k}` is not valid")))?;
        value.set_sensitive(from_file || crate::redaction::is_sensitive_header(k));
        headers.insert(name, value);
    }
    Ok((headers, hidden))
}

/// Reads at most `limit` bytes of a response body and drops the rest unread, so a receiver
/// cannot make us buffer an endless answer. A body that fails midway keeps what was read.
async fn read_capped(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut kept = Vec::new();
    while kept.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    kept
}

fn first_chars(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(i, _)| &s[..i])
}

/// Parses `Retry-After`: delta-seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (when.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

#[async_trait]
impl Target for WebhookTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn holds_passwords(&self) -> bool {
        self.include_password
    }

    fn handles(&self, operation: Operation) -> bool {
        self.operations.contains(&operation)
    }

    /// A receiver's state cannot be read: the plan is the event that would be sent (without
    /// any password).
    async fn plan(&self, req: &OperationRequest) -> Result<TargetPlan, TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        Ok(TargetPlan {
            account_id: req.link.as_ref().map(|l| l.account_id.clone()),
            exists: req.link.is_some(),
            changes: vec![self.delivery_change(req)],
            detail: json!({"url": self.shown_url, "event": self.event(req, false)}),
        })
    }

    async fn apply(&self, req: &OperationRequest) -> Result<TargetOutcome, TargetError> {
        if !self.handles(req.operation) {
            return Err(unhandled(&self.name, req.operation));
        }
        self.deliver(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
