//! Bounds on what one caller may hold at once: open event streams (per principal and per
//! address) and expensive requests in flight (per principal). A slot is taken for as long as
//! its [`Slot`] lives and given back when it drops, so a stream that ends for any reason
//! frees its place.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::{ApiError, ProblemType};

/// Limits on concurrent use (`[limits]` in the configuration).
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// Open `/api/v1/events` streams one operator or API token may hold.
    pub streams_per_principal: usize,
    /// Open `/api/v1/events` streams from one client address.
    pub streams_per_address: usize,
    /// How often an open stream re-checks its credentials (revoked token, disabled operator,
    /// ended session); it also ends at the access token's expiry.
    pub stream_recheck: Duration,
    /// Expensive requests (audit verification, searches, exports) one principal may have in
    /// flight at once.
    pub expensive_per_principal: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            streams_per_principal: 8,
            streams_per_address: 32,
            stream_recheck: Duration::from_secs(5),
            expensive_per_principal: 2,
        }
    }
}

/// Counts of slots in use, by key.
#[derive(Debug, Default)]
pub struct SlotCounter {
    in_use: Mutex<HashMap<String, usize>>,
}

/// One slot held; released on drop.
#[derive(Debug)]
pub struct Slot {
    counter: Arc<SlotCounter>,
    key: String,
}

impl SlotCounter {
    /// Takes a slot for `key` when fewer than `max` are held.
    #[must_use]
    pub fn try_take(self: &Arc<Self>, key: &str, max: usize) -> Option<Slot> {
        let mut in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        let n = in_use.entry(key.to_owned()).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            counter: self.clone(),
            key: key.to_owned(),
        })
    }

    /// Slots held for `key`.
    #[must_use]
    pub fn held(&self, key: &str) -> usize {
        let in_use = self.in_use.lock().unwrap_or_else(PoisonError::into_inner);
        in_use.get(key).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_use = self
            .counter
            .in_use
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = in_use.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_use.remove(&self.key);
            }
        }
    }
}

/// Takes one of the principal's places for an expensive request, or answers 429.
///
/// # Errors
/// `429 too_many_concurrent` when the principal already has as many in flight as allowed.
pub fn expensive(
    app: &crate::AppState,
    principal: &cc_service::Principal,
) -> Result<Slot, ApiError> {
    let max = app.config.limits.expensive_per_principal;
    app.expensive_slots
        .try_take(&format!("principal:{}", principal.name), max)
        .ok_or_else(|| {
            too_many_at_once(
                ProblemType::TooManyConcurrent,
                format!(
                    "This operator or token already has {max} expensive requests (audit \
                     verification, searches) running; wait for one to finish."
                ),
            )
        })
}

/// The 429 answer when a concurrency bound is reached.
#[must_use]
pub fn too_many_at_once(kind: ProblemType, detail: impl Into<String>) -> ApiError {
    ApiError::new(kind, detail).retry_after(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_given_back() {
        let c = Arc::new(SlotCounter::default());
        let a = c.try_take("k", 2).unwrap();
        let _b = c.try_take("k", 2).unwrap();
        assert!(c.try_take("k", 2).is_none());
        assert!(c.try_take("other", 2).is_some());
        drop(a);
        assert_eq!(c.held("k"), 1);
        assert!(c.try_take("k", 2).is_some());
    }
}
