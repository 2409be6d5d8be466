//! Rate limits: fixed one-minute windows per client address, per principal, and (stricter) for
//! login attempts per address. Counted in memory on one instance, or in Redis when `redis_url`
//! is set so that every replica shares the counts.
//!
//! When Redis cannot be reached, limits fall back to this instance's in-memory counts (each
//! replica then allows up to the limit on its own) rather than failing open entirely or
//! refusing every request: the API stays up and still bounded. The fallback is logged as a
//! warning (at most every 30 seconds) and Redis is retried every few seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cc_domain::ValidationErrors;

use super::client_addr::ClientAddr;
use super::redis_limit::RedisLimiter;
use crate::error::ApiError;
use crate::AppState;

/// The window every limit counts over.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Limits per minute; 0 turns one off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    pub enabled: bool,
    /// Requests per client address.
    pub per_address_per_minute: u32,
    /// Requests per authenticated operator or API token.
    pub per_principal_per_minute: u32,
    /// Login attempts per client address.
    pub login_per_address_per_minute: u32,
    /// Redis URL for counts shared across replicas; empty for in-memory counts.
    pub redis_url: String,
    /// Prefix of the Redis keys.
    pub redis_key_prefix: String,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            per_address_per_minute: 600,
            per_principal_per_minute: 1200,
            login_per_address_per_minute: 10,
            redis_url: String::new(),
            redis_key_prefix: "cc:ratelimit:".into(),
        }
    }
}

/// Counts requests per key and window.
pub struct RateLimiter {
    enabled: bool,
    local: Mutex<HashMap<String, (Instant, u32)>>,
    redis: Option<RedisLimiter>,
}

impl RateLimiter {
    /// # Errors
    /// The Redis URL does not parse.
    pub fn new(cfg: &RateLimitConfig) -> Result<Self, cc_service::ServiceError> {
        let redis = if cfg.redis_url.is_empty() {
            None
        } else {
            Some(
                RedisLimiter::new(&cfg.redis_url, &cfg.redis_key_prefix).map_err(|e| {
                    cc_service::ServiceError::Validation(ValidationErrors::single("redis_url", e))
                })?,
            )
        };
        Ok(Self {
            enabled: cfg.enabled,
            local: Mutex::new(HashMap::new()),
            redis,
        })
    }

    /// Counts one request against `key`; `Err(seconds)` when over `limit` in this window.
    ///
    /// # Errors
    /// Over the limit: the seconds until the window ends.
    pub async fn hit(&self, key: &str, limit: u32) -> Result<(), u64> {
        if !self.enabled || limit == 0 {
            return Ok(());
        }
        let counted = match &self.redis {
            Some(r) => r.hit(key, WINDOW).await,
            None => None,
        };
        let (count, remaining) = counted.unwrap_or_else(|| self.hit_local(key));
        if count > u64::from(limit) {
            Err(remaining.as_secs().max(1))
        } else {
            Ok(())
        }
    }

    fn hit_local(&self, key: &str) -> (u64, Duration) {
        let now = Instant::now();
        let mut map = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 50_000 {
            map.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = map.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        (
            u64::from(entry.1),
            WINDOW.saturating_sub(now.duration_since(entry.0)),
        )
    }
}

/// The 429 answer.
#[must_use]
pub fn too_many(retry_after: u64, what: &str) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("Too many {what}; retry after {retry_after} seconds."),
    );
    e.retry_after = Some(retry_after);
    e
}

/// Middleware: the per-address limit on every request but the health probes.
pub async fn per_address(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/health/live" || path == "/health/ready" {
        return next.run(req).await;
    }
    let addr = req.extensions().get::<ClientAddr>().and_then(|a| a.0);
    if let Some(ip) = addr {
        let limit = app.config.rate_limit.per_address_per_minute;
        if let Err(secs) = app.limiter.hit(&format!("addr:{ip}"), limit).await {
            tracing::info!(client = %ip, "rate limited (address)");
            return too_many(secs, "requests from this address").into_response();
        }
    }
    next.run(req).await
}
