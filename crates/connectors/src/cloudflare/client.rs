//! The HTTP client: token auth, Cloudflare's response envelope, retries and pagination.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::Value;

use super::config::CloudflareConfig;
use crate::config::{expose, read_secret_file};
use crate::{ConfigError, TargetError};

/// Items per page when listing DNS records (Cloudflare allows up to 5 000).
pub const DNS_PER_PAGE: u32 = 100;
/// Items per page when listing zones (Cloudflare's maximum there is 50).
pub const ZONES_PER_PAGE: u32 = 50;
/// Pages followed before a listing is refused as runaway.
const MAX_PAGES: u32 = 1000;
/// Longest error text kept from a response that is not Cloudflare's envelope.
const BODY_KEEP: usize = 512;

/// Cloudflare's response envelope.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    /// Absent in some answers (e.g. a deletion's `{"result": {"id": …}}`): then the HTTP
    /// status and an empty `errors` decide.
    #[serde(default)]
    pub success: Option<bool>,
    #[serde(default)]
    pub errors: Vec<ApiMessage>,
    #[serde(default)]
    pub messages: Vec<ApiMessage>,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub result_info: Option<ResultInfo>,
}

/// One entry of `errors` or `messages`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiMessage {
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub message: String,
}

/// Pagination details of a list response.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ResultInfo {
    #[serde(default)]
    pub page: Option<f64>,
    #[serde(default)]
    pub per_page: Option<f64>,
    #[serde(default)]
    pub count: Option<f64>,
    #[serde(default)]
    pub total_count: Option<f64>,
    #[serde(default)]
    pub total_pages: Option<f64>,
}

/// A client for one API token. Clones share the connection pool.
#[derive(Clone)]
pub struct CloudflareClient {
    base: String,
    token: SecretString,
    http: reqwest::Client,
    max_attempts: u32,
    max_wait: Duration,
}

impl std::fmt::Debug for CloudflareClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudflareClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl CloudflareClient {
    /// Builds the client, reading the token file.
    ///
    /// # Errors
    /// An unreadable or empty token file, or an invalid configuration.
    pub fn new(c: &CloudflareConfig) -> Result<Self, ConfigError> {
        c.validate()?;
        let token = read_secret_file("cloudflare", "token", &c.token_file)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::new("cloudflare", format!("HTTP client: {e}")))?;
        Ok(Self {
            base: c.api_base.trim_end_matches('/').to_owned(),
            token,
            http,
            max_attempts: c.max_attempts,
            max_wait: Duration::from_secs(c.max_retry_wait_secs),
        })
    }

    /// Sends one request, retrying 429 and 5xx (honouring `Retry-After` up to the configured
    /// wait), and returns the envelope of a successful answer.
    ///
    /// # Errors
    /// [`TargetError::Retryable`] (with Cloudflare's `Retry-After`) when attempts ran out on
    /// 429/5xx or the network failed; [`TargetError::Permanent`] with Cloudflare's code and
    /// message on any other failure.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Envelope, TargetError> {
        let mut attempt = 1;
        loop {
            match self
                .send_once(method.clone(), path, query, body, false)
                .await
            {
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                    if wait > self.max_wait {
                        return Err(e);
                    }
                    tracing::info!(%method, path, attempt, wait_ms = wait.as_millis() as u64, "cloudflare asked to retry");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        missing_ok: bool,
    ) -> Result<Envelope, TargetError> {
        let what = format!("{method} {path}");
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(AUTHORIZATION, format!("Bearer {}", expose(&self.token)))
            .query(query);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| {
            // reqwest's message names the URL, never the header carrying the token.
            TargetError::retryable(format!("{what}: {}", e.without_url()))
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp
            .text()
            .await
            .map_err(|e| TargetError::retryable(format!("{what}: reading the answer: {e}")))?;
        let envelope: Option<Envelope> = serde_json::from_str(&text).ok();
        if status.is_success()
            && envelope
                .as_ref()
                .is_some_and(|e| e.success.unwrap_or(e.errors.is_empty()))
        {
            return Ok(envelope.unwrap_or_else(|| unreachable!("checked")));
        }
        if status.is_success() && status != StatusCode::NO_CONTENT && envelope.is_none() {
            return Err(TargetError::permanent(format!(
                "{what}: the answer is not Cloudflare's JSON envelope"
            )));
        }
        if status == StatusCode::NO_CONTENT || (missing_ok && status == StatusCode::NOT_FOUND) {
            return Ok(Envelope {
                success: Some(true),
                errors: vec![],
                messages: vec![],
                result: Value::Null,
                result_info: None,
            });
        }
        let detail = envelope.map_or_else(
            || text.chars().take(BODY_KEEP).collect::<String>(),
            |e| describe_errors(&e.errors),
        );
        let message = format!("{what}: HTTP {}: {detail}", status.as_u16());
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            Err(TargetError::Retryable {
                message,
                retry_after,
            })
        } else {
            Err(TargetError::permanent(message))
        }
    }

    /// `GET` returning the envelope's `result`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value, TargetError> {
        Ok(self.send(Method::GET, path, query, None).await?.result)
    }

    /// `GET` returning `None` when Cloudflare answers 404 (e.g. a phase without an
    /// entrypoint ruleset yet).
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn get_optional(&self, path: &str) -> Result<Option<Value>, TargetError> {
        let mut attempt = 1;
        loop {
            match self.send_once(Method::GET, path, &[], None, true).await {
                Ok(env) => return Ok(Some(env.result).filter(|r| !r.is_null())),
                Err(e) if e.is_retryable() && attempt < self.max_attempts => {
                    let wait = e.retry_after().unwrap_or(Duration::from_secs(1));
                    if wait > self.max_wait {
                        return Err(e);
                    }
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Every item of a paginated list, following `result_info` page by page.
    ///
    /// # Errors
    /// As [`send`](Self::send); a list that does not end within a thousand pages.
    pub async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        per_page: u32,
    ) -> Result<Vec<Value>, TargetError> {
        let mut items = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut q = query.to_vec();
            q.push(("page", page.to_string()));
            q.push(("per_page", per_page.to_string()));
            let env = self.send(Method::GET, path, &q, None).await?;
            let batch = match env.result {
                Value::Array(a) => a,
                Value::Null => Vec::new(),
                _ => {
                    return Err(TargetError::permanent(format!(
                        "GET {path}: `result` is not a list"
                    )))
                }
            };
            let got = batch.len();
            items.extend(batch);
            if !has_more(env.result_info.as_ref(), page, got, items.len(), per_page) {
                return Ok(items);
            }
        }
        Err(TargetError::permanent(format!(
            "GET {path}: more than {MAX_PAGES} pages"
        )))
    }

    /// Checks the token (`GET /user/tokens/verify`): `Ok(status)` when Cloudflare knows it.
    ///
    /// # Errors
    /// A rejected token (permanent) or an unreachable API (retryable).
    pub async fn verify_token(&self) -> Result<String, TargetError> {
        let result = self.get("/user/tokens/verify", &[]).await?;
        let status = result
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        if status == "active" {
            Ok(status)
        } else {
            Err(TargetError::permanent(format!("the API token is {status}")))
        }
    }

    /// Looks a zone's id up by name.
    ///
    /// # Errors
    /// No such zone for this token (permanent), or the request failing.
    pub async fn zone_id(&self, name: &str) -> Result<String, TargetError> {
        let zones = self
            .list_all("/zones", &[("name", name.to_owned())], ZONES_PER_PAGE)
            .await?;
        zones
            .iter()
            .find(|z| z.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|z| z.get("id").and_then(Value::as_str))
            .map(str::to_owned)
            .ok_or_else(|| {
                TargetError::permanent(format!("zone `{name}` is not visible to the API token"))
            })
    }
}

/// Whether another page should be requested.
fn has_more(
    info: Option<&ResultInfo>,
    page: u32,
    got: usize,
    so_far: usize,
    per_page: u32,
) -> bool {
    if got == 0 {
        return false;
    }
    match info {
        Some(ResultInfo {
            total_pages: Some(total),
            ..
        }) => f64::from(page) < *total,
        Some(ResultInfo {
            total_count: Some(total),
            ..
        }) => (so_far as f64) < *total,
        _ => got >= per_page as usize,
    }
}

/// `code 81057: Record already exists.; code …` from an envelope's errors.
fn describe_errors(errors: &[ApiMessage]) -> String {
    if errors.is_empty() {
        return "Cloudflare gave no error details".into();
    }
    errors
        .iter()
        .map(|e| {
            format!(
                "code {}: {}",
                e.code,
                e.message.chars().take(300).collect::<String>()
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_stops_at_the_total() {
        let info = |count: f64, pages: Option<f64>| ResultInfo {
            page: None,
            per_page: None,
            count: None,
            total_count: Some(count),
            total_pages: pages,
        };
        assert!(has_more(Some(&info(250.0, Some(3.0))), 2, 100, 200, 100));
        assert!(!has_more(Some(&info(250.0, Some(3.0))), 3, 50, 250, 100));
        assert!(has_more(Some(&info(250.0, None)), 1, 100, 100, 100));
        assert!(!has_more(Some(&info(100.0, None)), 1, 100, 100, 100));
        assert!(!has_more(None, 1, 0, 0, 100));
    }

    #[test]
    fn errors_keep_cloudflare_code_and_message() {
        let e = [ApiMessage {
            code: 81057,
            message: "Record already exists.".into(),
        }];
        assert_eq!(describe_errors(&e), "code 81057: Record already exists.");
    }
}
