//! Per-kind execution policy: timeout and retry backoff.

use std::time::Duration;

use rand::Rng;

/// How a kind's attempts are bounded and retried.
#[derive(Debug, Clone, PartialEq)]
pub struct KindPolicy {
    /// An attempt running longer fails (retryably) and its handler is dropped.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl Default for KindPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            retry: RetryPolicy::default(),
        }
    }
}

/// Exponential backoff with jitter: attempt `n` waits `base · 2^(n-1)`, capped at `max`, then
/// scaled by a random factor in `[1 - jitter, 1 + jitter]` so retries of many jobs spread out.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    /// 0.0 to 1.0.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            max: Duration::from_secs(3600),
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// The wait before the attempt after `attempt` (1-based) failed.
    #[must_use]
    pub fn delay(&self, attempt: i32) -> Duration {
        let exp = u32::try_from(attempt.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let raw = self.base.saturating_mul(1_u32 << exp).min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return raw;
        }
        let factor = rand::thread_rng().gen_range((1.0 - jitter)..=(1.0 + jitter));
        raw.mul_f64(factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
            jitter: 0.0,
        };
        assert_eq!(p.delay(1), Duration::from_secs(1));
        assert_eq!(p.delay(3), Duration::from_secs(4));
        assert_eq!(p.delay(10), Duration::from_secs(10));
        let j = RetryPolicy { jitter: 0.5, ..p };
        for _ in 0..100 {
            let d = j.delay(2);
            assert!(
                d >= Duration::from_secs(1) && d <= Duration::from_secs(3),
                "{d:?}"
            );
        }
    }
}
