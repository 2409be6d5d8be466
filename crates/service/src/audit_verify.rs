//! Verifying the audit chain for API callers, single-flight: a caller that arrives while a
//! verification is running waits for it and shares its result, so many concurrent
//! `GET /audit/verify` cost one walk of the chain. A caller arriving after it finished starts
//! a new one (no result is kept: tampering in place must show at the next call).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use cc_store::Store;
use tokio::sync::broadcast;

use crate::audit::{verify_chain_notifying, VerifyReport};
use crate::{Result, ServiceError};

type Outcome = std::result::Result<VerifyReport, String>;

/// Single-flight audit-chain verification.
pub struct AuditVerifier {
    store: Arc<dyn Store>,
    /// What the notification channels subscribe to (a break is told when one wants it).
    notify: cc_domain::Subscriptions,
    /// The running verification's result channel, when one runs.
    running: Mutex<Option<broadcast::Sender<Outcome>>>,
    runs: AtomicU64,
    callers: AtomicUsize,
}

/// Clears the running verification when its leader finishes or is dropped (the client went
/// away): waiting callers then see the channel close and start their own.
struct Leading<'a>(&'a AuditVerifier);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        self.0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// Counts a caller while it waits or verifies.
struct Calling<'a>(&'a AtomicUsize);

impl Drop for Calling<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AuditVerifier {
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            notify: cc_domain::Subscriptions::default(),
            running: Mutex::new(None),
            runs: AtomicU64::new(0),
            callers: AtomicUsize::new(0),
        }
    }

    /// A break found is an `audit.verification_failed` notification when one of these
    /// channels subscribes to it (none by default).
    #[must_use]
    pub fn with_notifications(mut self, subscriptions: cc_domain::Subscriptions) -> Self {
        self.notify = subscriptions;
        self
    }

    /// The chain's verification: the one running when there is one, else a new one.
    ///
    /// # Errors
    /// The store could not be read.
    pub async fn verify(&self) -> Result<VerifyReport> {
        self.callers.fetch_add(1, Ordering::SeqCst);
        let _calling = Calling(&self.callers);
        loop {
            let waiting = {
                let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
                match running.as_ref() {
                    Some(tx) => Some(tx.subscribe()),
                    None => {
                        *running = Some(broadcast::channel(1).0);
                        None
                    }
                }
            };
            if let Some(mut rx) = waiting {
                match rx.recv().await {
                    Ok(outcome) => return outcome.map_err(ServiceError::Unavailable),
                    // The leader went away without a result: try again.
                    Err(_) => continue,
                }
            }
            let leading = Leading(self);
            self.runs.fetch_add(1, Ordering::Relaxed);
            let result = verify_chain_notifying(self.store.as_ref(), &self.notify).await;
            let tx = self
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            drop(leading);
            let outcome: Outcome = match &result {
                Ok(r) => Ok(r.clone()),
                Err(e) => Err(e.to_string()),
            };
            if let Some(tx) = tx {
                // No one waiting is fine.
                let _ = tx.send(outcome);
            }
            return result;
        }
    }

    /// How many verifications actually walked the chain.
    #[must_use]
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Callers verifying or waiting right now.
    #[must_use]
    pub fn callers(&self) -> usize {
        self.callers.load(Ordering::SeqCst)
    }
}
