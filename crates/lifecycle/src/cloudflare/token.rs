//! The API token's state (`GET /user/tokens/verify` and every zone looked up), verified at
//! start and then every [`TOKEN_CHECK_INTERVAL`], the last result kept for readiness and
//! `command-center check` so a probe never calls Cloudflare.
//!
//! A failing token does not make the server unready: readiness is about serving the API, and
//! Cloudflare jobs ride out an outage by retrying; readiness shows it as detail.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cc_connectors::cloudflare::Cloudflare;
use tokio_util::sync::CancellationToken;

use crate::TargetHealth;

/// How often the token is verified again.
pub const TOKEN_CHECK_INTERVAL: Duration = Duration::from_secs(300);

/// The name the token's state is reported under.
const NAME: &str = "cloudflare";

/// The last verification of the Cloudflare API token (shared; cheap to clone).
#[derive(Clone)]
pub struct TokenHealth {
    service: Arc<Cloudflare>,
    last: Arc<RwLock<TargetHealth>>,
}

impl TokenHealth {
    /// Not verified yet (`unknown`) until [`TokenHealth::check`] runs.
    #[must_use]
    pub fn new(service: Arc<Cloudflare>) -> Self {
        Self {
            service,
            last: Arc::new(RwLock::new(TargetHealth {
                target: NAME.into(),
                kind: NAME.into(),
                status: "unknown".into(),
                latency_ms: None,
                detail: None,
                last_error: None,
                checked_at: None,
            })),
        }
    }

    /// The service whose token this checks.
    #[must_use]
    pub fn service(&self) -> &Arc<Cloudflare> {
        &self.service
    }

    /// The last verification, without calling Cloudflare.
    #[must_use]
    pub fn last(&self) -> TargetHealth {
        self.last
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Verifies the token now, keeps and returns the result; logs a change of state.
    pub async fn check(&self) -> TargetHealth {
        let started = Instant::now();
        let result = tokio::time::timeout(crate::CHECK_TIMEOUT, self.service.check()).await;
        let (status, detail, last_error) = match result {
            Ok(Ok(d)) => ("ok", Some(d), None),
            Ok(Err(e)) => ("fail", None, Some(e.message().to_owned())),
            Err(_) => (
                "fail",
                None,
                Some(format!(
                    "no answer within {} s",
                    crate::CHECK_TIMEOUT.as_secs()
                )),
            ),
        };
        let fresh = TargetHealth {
            target: NAME.into(),
            kind: NAME.into(),
            status: status.into(),
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            detail,
            last_error,
            checked_at: Some(cc_domain::now()),
        };
        let was = self.last().status;
        match (was.as_str(), status) {
            (w, "fail") if w != "fail" => tracing::warn!(
                error = fresh.last_error.as_deref().unwrap_or_default(),
                "Cloudflare token check failed: Cloudflare jobs will fail until it is fixed"
            ),
            ("fail", "ok") => tracing::info!("Cloudflare token check passes again"),
            ("unknown", "ok") => {
                tracing::info!(
                    state = fresh.detail.as_deref().unwrap_or_default(),
                    "Cloudflare token verified"
                );
            }
            _ => {}
        }
        if let Ok(mut h) = self.last.write() {
            h.clone_from(&fresh);
        }
        fresh
    }

    /// Verifies now and then every `every` until `stop` is cancelled.
    pub fn spawn_monitor(&self, every: Duration, stop: CancellationToken) {
        let health = self.clone();
        tokio::spawn(async move {
            loop {
                health.check().await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}
