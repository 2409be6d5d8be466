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
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cc_domain::client::client_block;
use cc_domain::ValidationErrors;

use super::client_addr::ClientAddr;
use super::redis_limit::RedisLimiter;
use crate::error::{ApiError, ProblemType};
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

/// Keys counted in memory at most. Past it, the windows closest to their end are dropped
/// first (those keys start a fresh count), so a flood of distinct addresses costs a bounded
/// amount of memory.
pub const MAX_LOCAL_KEYS: usize = 50_000;

/// Counts requests per key and window.
pub struct RateLimiter {
    enabled: bool,
    local: Mutex<LocalCounts>,
    redis: Option<RedisLimiter>,
}

/// In-memory counts: `key -> (window start, count)`, swept of ended windows once a window.
struct LocalCounts {
    map: HashMap<String, (Instant, u32)>,
    swept_at: Instant,
    cap: usize,
}

impl LocalCounts {
    fn new(cap: usize) -> Self {
        Self {
            map: HashMap::new(),
            swept_at: Instant::now(),
            cap: cap.max(1),
        }
    }

    /// Counts one hit of `key` at `now`: the count in its window and the time left.
    fn hit(&mut self, key: &str, now: Instant) -> (u64, Duration) {
        if now.duration_since(self.swept_at) >= WINDOW {
            self.sweep(now);
        }
        if !self.map.contains_key(key) && self.map.len() >= self.cap {
            self.sweep(now);
            self.evict_oldest();
        }
        let entry = self.map.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        (
            u64::from(entry.1),
            WINDOW.saturating_sub(now.duration_since(entry.0)),
        )
    }

    fn sweep(&mut self, now: Instant) {
        self.map
            .retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        self.swept_at = now;
    }

    /// Drops the oldest tenth of the windows (at least one) while the map is full.
    fn evict_oldest(&mut self) {
        if self.map.len() < self.cap {
            return;
        }
        let mut starts: Vec<Instant> = self.map.values().map(|(s, _)| *s).collect();
        let drop = (self.cap / 10).clamp(1, starts.len());
        let (_, cutoff, _) = starts.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut left = drop;
        self.map.retain(|_, (start, _)| {
            if left > 0 && *start <= cutoff {
                left -= 1;
                false
            } else {
                true
            }
        });
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
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
            local: Mutex::new(LocalCounts::new(MAX_LOCAL_KEYS)),
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

    /// Pings the shared Redis; `None` when none is configured.
    pub async fn ping_redis(&self) -> Option<Result<(), String>> {
        match &self.redis {
            Some(r) => Some(r.ping().await),
            None => None,
        }
    }

    fn hit_local(&self, key: &str) -> (u64, Duration) {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .hit(key, Instant::now())
    }
}

/// The 429 answer.
#[must_use]
pub fn too_many(retry_after: u64, what: &str) -> ApiError {
    let mut e = ApiError::new(
        ProblemType::RateLimited,
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
        if let Err(secs) = app
            .limiter
            .hit(&format!("addr:{}", client_block(ip)), limit)
            .await
        {
            tracing::info!(client = %ip, "rate limited (address)");
            return too_many(secs, "requests from this address").into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_memory_counts_stay_bounded_and_forget_ended_windows() {
        let mut c = LocalCounts::new(100);
        let t0 = Instant::now();
        for i in 0..1000 {
            c.hit(&format!("addr:{i}"), t0);
            assert!(c.len() <= 100, "{} keys", c.len());
        }
        // The newest keys are still counted.
        assert_eq!(c.hit("addr:999", t0).0, 2);
        // Once their window ended, a sweep forgets them all.
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(c.hit("addr:new", later).0, 1);
        assert_eq!(c.len(), 1);
    }

    #[tokio::test]
    async fn ipv6_addresses_of_one_64_share_a_count() {
        let limiter = RateLimiter::new(&RateLimitConfig::default()).unwrap();
        let block = |s: &str| client_block(s.parse().unwrap());
        for host in 1..=3 {
            let key = format!("addr:{}", block(&format!("2001:db8:7:7::{host}")));
            let over = limiter.hit(&key, 2).await;
            assert_eq!(over.is_err(), host == 3, "host {host}");
        }
        let other = format!("addr:{}", block("2001:db8:7:8::1"));
        assert!(limiter.hit(&other, 2).await.is_ok());
    }
}
