//! Verifying the audit chain for API callers: one verification at a time per process, its
//! result shared by every caller while the chain has not grown (and for at most
//! [`AuditVerifier::MAX_AGE`]), so many concurrent `GET /audit/verify` cost one walk of the
//! chain instead of one each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_store::Store;
use tokio::sync::Mutex;

use crate::audit::{verify_chain, VerifyReport};
use crate::Result;

/// The last result, with the head it was computed for.
struct Verified {
    head: (i64, String),
    at: Instant,
    report: VerifyReport,
}

/// Single-flight, cached audit-chain verification.
pub struct AuditVerifier {
    store: Arc<dyn Store>,
    last: Mutex<Option<Verified>>,
    runs: AtomicU64,
}

impl AuditVerifier {
    /// A cached result is reused for at most this long even when the chain has not grown, so
    /// tampering with old events in place is still found within this delay.
    pub const MAX_AGE: Duration = Duration::from_secs(60);

    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            last: Mutex::new(None),
            runs: AtomicU64::new(0),
        }
    }

    /// The chain's verification: the running one when another caller started it, the last
    /// one while the head is unchanged and it is recent, or a new one.
    ///
    /// # Errors
    /// The store could not be read.
    pub async fn verify(&self) -> Result<VerifyReport> {
        // Callers queue here while a verification runs, then find its result.
        let mut last = self.last.lock().await;
        let head = self.store.audit_head().await?;
        if let Some(v) = last.as_ref() {
            if v.head == head && v.at.elapsed() < Self::MAX_AGE {
                return Ok(v.report.clone());
            }
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let report = verify_chain(self.store.as_ref()).await?;
        *last = Some(Verified {
            head,
            at: Instant::now(),
            report: report.clone(),
        });
        Ok(report)
    }

    /// How many verifications actually walked the chain (for tests and metrics).
    #[must_use]
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }
}
