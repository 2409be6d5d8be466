//! Target health: each target's own check ([`cc_connectors::Target::check`]: bind, base,
//! schema for a directory) run at start-up and then periodically, kept as a snapshot that
//! readiness and `command-center check` show, and exported as `cc_target_up{target}`.
//!
//! A failing target never makes the server unready: the target is a remote system whose
//! outage jobs ride out by retrying; readiness shows it as detail.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use cc_connectors::Target;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::Engine;

/// Gauge per target: 1 when its last check passed, 0 otherwise (also before the first check).
pub const TARGET_UP_METRIC: &str = "cc_target_up";

/// Gauge: people per sync state (`in_sync`, `pending`, `failed`), refreshed with the target
/// checks.
pub const SYNC_METRIC: &str = "cc_users_sync";

/// How long one target's check may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One target's last check.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetHealth {
    pub target: String,
    pub kind: String,
    /// `ok`, `fail`, or `unknown` (not checked yet).
    pub status: String,
    /// How long the last check took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// What the last passing check verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Why the last check failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last check ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl TargetHealth {
    fn unknown(t: &dyn Target) -> Self {
        Self {
            target: t.name().to_owned(),
            kind: t.kind().to_owned(),
            status: "unknown".into(),
            latency_ms: None,
            detail: None,
            last_error: None,
            checked_at: None,
        }
    }

    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

/// The latest check of every target, in configuration order.
pub(crate) type Snapshot = Arc<RwLock<Vec<TargetHealth>>>;

pub(crate) fn initial(targets: &[Arc<dyn Target>]) -> Snapshot {
    for t in targets {
        metrics::gauge!(TARGET_UP_METRIC, "target" => t.name().to_owned()).set(0.0);
    }
    Arc::new(RwLock::new(
        targets
            .iter()
            .map(|t| TargetHealth::unknown(t.as_ref()))
            .collect(),
    ))
}

/// Registers the gauge's description.
pub(crate) fn describe() {
    metrics::describe_gauge!(
        TARGET_UP_METRIC,
        "1 when the target's last check (bind, base, schema capabilities) passed, else 0."
    );
    metrics::describe_gauge!(
        SYNC_METRIC,
        "People by sync state: whether their targets caught up with the directory."
    );
}

async fn check_one(t: &dyn Target) -> TargetHealth {
    let started = Instant::now();
    let result = tokio::time::timeout(CHECK_TIMEOUT, t.check()).await;
    let latency_ms = Some(started.elapsed().as_secs_f64() * 1000.0);
    let (status, detail, last_error) = match result {
        Ok(Ok(d)) => ("ok", Some(d), None),
        Ok(Err(e)) => ("fail", None, Some(e.message().to_owned())),
        Err(_) => (
            "fail",
            None,
            Some(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
        ),
    };
    TargetHealth {
        target: t.name().to_owned(),
        kind: t.kind().to_owned(),
        status: status.into(),
        latency_ms,
        detail,
        last_error,
        checked_at: Some(cc_domain::now()),
    }
}

impl Engine {
    /// Sets `cc_target_up` for every target from the last checks (0 before the first), so the
    /// gauge is on the first scrape; call once the metrics recorder is installed.
    pub fn export_target_health(&self) {
        for h in self.target_health() {
            metrics::gauge!(TARGET_UP_METRIC, "target" => h.target.clone()).set(if h.is_ok() {
                1.0
            } else {
                0.0
            });
        }
    }

    /// Every target's last check, without checking again.
    #[must_use]
    pub fn target_health(&self) -> Vec<TargetHealth> {
        self.health.read().map(|h| h.clone()).unwrap_or_default()
    }

    /// Checks every target now (concurrently), records the results for
    /// [`Engine::target_health`] and the gauge, logs each target whose state changed (a
    /// failure at the first check is a start-up warning), and returns them.
    pub async fn check_targets(&self) -> Vec<TargetHealth> {
        let fresh =
            futures::future::join_all(self.targets.iter().map(|t| check_one(t.as_ref()))).await;
        let previous = self.target_health();
        for h in &fresh {
            metrics::gauge!(TARGET_UP_METRIC, "target" => h.target.clone()).set(if h.is_ok() {
                1.0
            } else {
                0.0
            });
            let before = previous.iter().find(|p| p.target == h.target);
            let was = before.map_or("unknown", |p| p.status.as_str());
            match (was, h.status.as_str()) {
                (_, "fail") if was != "fail" => tracing::warn!(
                    target_name = %h.target,
                    error = h.last_error.as_deref().unwrap_or_default(),
                    "target check failed: jobs for this target will fail until it is fixed"
                ),
                ("fail", "ok") => {
                    tracing::info!(target_name = %h.target, "target check passes again");
                }
                _ => {}
            }
        }
        if let Ok(mut h) = self.health.write() {
            h.clone_from(&fresh);
        }
        fresh
    }

    /// Counts people per sync state into [`SYNC_METRIC`].
    pub async fn record_sync_counts(&self) {
        match self.store.count_sync_states().await {
            Ok(counts) => {
                for (state, n) in counts {
                    #[allow(clippy::cast_precision_loss)] // people, far below 2^52
                    metrics::gauge!(SYNC_METRIC, "state" => state.as_str()).set(n as f64);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not count people by sync state"),
        }
    }

    /// Checks every target now and then every `every` until `stop` is cancelled, counting
    /// people per sync state each time.
    pub fn spawn_health_monitor(&self, every: Duration, stop: CancellationToken) {
        if self.targets.is_empty() {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            loop {
                engine.check_targets().await;
                engine.record_sync_counts().await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
            }
        });
    }
}
