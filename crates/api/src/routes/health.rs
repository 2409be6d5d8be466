//! `/health/live` and `/health/ready`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::AppState;

/// How long the readiness database check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"status": "ok", "checks": {
    "database": {"status": "ok", "latency_ms": 0.41},
    "migrations": {"status": "ok", "latency_ms": 0.63, "detail": "1 applied, 0 pending"}}}))]
pub struct HealthReport {
    /// `ok` or `fail`.
    pub status: String,
    /// What readiness depends on: 503 when one fails.
    pub checks: BTreeMap<String, Check>,
    /// Reported for operators, never a reason for 503: lifecycle targets (remote systems
    /// whose outages jobs ride out by retrying; the last periodic check of each), the
    /// Cloudflare API token (its last periodic verification), job workers
    /// (they may run in other processes), Redis (rate limits fall back to per-instance
    /// counts) and the last backup check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ReadinessDetail>,
}

/// The parts of readiness that are shown but do not decide it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReadinessDetail {
    /// Each configured target's last check (bind, base, schema capabilities).
    #[serde(default)]
    pub targets: Vec<cc_lifecycle::TargetHealth>,
    /// Workers with a heartbeat in the last minute.
    pub workers: WorkersDetail,
    /// Redis, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<Check>,
    /// The Cloudflare API token's last verification (`GET /user/tokens/verify` and every
    /// configured zone looked up), when `[cloudflare]` is configured. Verified at start and
    /// every few minutes, never by the probe itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<cc_lifecycle::TargetHealth>,
    /// The last check of the backup directory (`[backups]`, checked by the workers every 15
    /// minutes), when one was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupsDetail>,
}

/// The last backup check, as the workers recorded it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackupsDetail {
    /// `ok`; `stale` (the newest backup is too old, or the directory cannot be read); or
    /// `empty` (no backup at all: stale too, but expected of a new deployment).
    pub status: String,
    #[schema(value_type = String, format = DateTime)]
    pub checked_at: chrono::DateTime<chrono::Utc>,
    /// The modification time of the newest backup.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub newest_backup_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How old the newest backup may be.
    pub max_age_hours: i64,
    /// Why the backups are stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl From<cc_store::backups::BackupCheck> for BackupsDetail {
    fn from(c: cc_store::backups::BackupCheck) -> Self {
        Self {
            status: match c.problem.as_deref() {
                None => "ok",
                Some(cc_notify::backups::NO_BACKUP) => "empty",
                Some(_) => "stale",
            }
            .into(),
            checked_at: c.checked_at,
            newest_backup_at: c.newest_at,
            max_age_hours: c.max_age_secs / 3600,
            detail: c.problem,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkersDetail {
    /// Workers with a heartbeat in the last minute.
    pub active: usize,
    /// The most recent heartbeat of any worker.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_heartbeat: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Check {
    /// `ok` or `fail`.
    pub status: String,
    pub latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "health",
    responses((status = 200, description = "Alive", body = HealthReport)))]
pub async fn live() -> Json<HealthReport> {
    Json(HealthReport {
        status: "ok".into(),
        checks: BTreeMap::new(),
        detail: None,
    })
}

async fn timed<F, T>(fut: F) -> (Result<T, String>, f64)
where
    F: std::future::Future<Output = Result<T, cc_store::StoreError>>,
{
    let start = Instant::now();
    let r = match tokio::time::timeout(CHECK_TIMEOUT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(match e {
            cc_store::StoreError::Unavailable(m) => m,
            _ => "database error (see the server log)".to_owned(),
        }),
        Err(_) => Err(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    (r, start.elapsed().as_secs_f64() * 1000.0)
}

/// Ready to serve: the database answers and its schema is current. 503 otherwise.
#[utoipa::path(get, path = "/health/ready", tag = "health",
    responses((status = 200, description = "Ready", body = HealthReport),
        (status = 503, description = "Not ready; `checks` says which check failed", body = HealthReport)))]
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let report = readiness(&app).await;
    let status = if report.status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// The readiness checks and their detail, as `/health/ready` answers them (the console's
/// Overview and Health pages show the same report).
pub async fn readiness(app: &AppState) -> HealthReport {
    let mut checks = BTreeMap::new();
    // Both on the store's control pool, at once: an outage answers within one check timeout.
    let ((db, db_ms), (mig, ms)) =
        tokio::join!(timed(app.store.ping()), timed(app.store.migration_status()));
    checks.insert(
        "database".to_owned(),
        Check {
            status: if db.is_ok() { "ok" } else { "fail" }.into(),
            latency_ms: db_ms,
            detail: db.err(),
        },
    );
    let check = match mig {
        Ok(s) if s.is_current() => Check {
            status: "ok".into(),
            latency_ms: ms,
            detail: Some(format!("{} applied, 0 pending", s.migrations.len())),
        },
        Ok(s) if !s.unknown_applied.is_empty() => Check {
            status: "fail".into(),
            latency_ms: ms,
            detail: Some(format!(
                "the database has migrations this binary does not know: {:?}",
                s.unknown_applied
            )),
        },
        Ok(s) => Check {
            status: "fail".into(),
            latency_ms: ms,
            detail: Some(format!(
                "{} pending; run `command-center migrate up`",
                s.pending()
            )),
        },
        Err(e) => Check {
            status: "fail".into(),
            latency_ms: ms,
            detail: Some(e),
        },
    };
    checks.insert("migrations".to_owned(), check);
    let ok = checks.values().all(|c| c.status == "ok");
    let detail = Some(readiness_detail(app).await);
    HealthReport {
        status: if ok { "ok" } else { "fail" }.into(),
        checks,
        detail,
    }
}

/// How recent a heartbeat counts as a live worker.
const WORKER_WINDOW: Duration = Duration::from_secs(60);

async fn readiness_detail(app: &AppState) -> ReadinessDetail {
    let since = cc_domain::now()
        - chrono::Duration::from_std(WORKER_WINDOW).unwrap_or_else(|_| chrono::Duration::zero());
    let ((workers, _), (backups, _)) = tokio::join!(
        timed(app.store.list_workers(since)),
        timed(app.store.notifications().latest_backup_check())
    );
    let workers = workers.unwrap_or_default();
    let start = Instant::now();
    let redis = app.limiter.ping_redis().await.map(|r| Check {
        status: if r.is_ok() { "ok" } else { "fail" }.into(),
        latency_ms: start.elapsed().as_secs_f64() * 1000.0,
        detail: r.err(),
    });
    ReadinessDetail {
        targets: app.lifecycle.target_health(),
        workers: WorkersDetail {
            active: workers.len(),
            last_heartbeat: workers.iter().map(|w| w.heartbeat_at).max(),
        },
        redis,
        cloudflare: app
            .cloudflare
            .as_ref()
            .map(cc_lifecycle::cloudflare::TokenHealth::last),
        backups: backups.ok().flatten().map(BackupsDetail::from),
    }
}

/// A readiness report shared by the console's pages for up to [`RecentReadiness::MAX_AGE`]:
/// a page drawn by many operators at once checks the dependencies once, not once per page.
/// The probes (`/health/ready`) always check afresh.
#[derive(Default)]
pub struct RecentReadiness {
    slot: tokio::sync::Mutex<Option<(Instant, HealthReport)>>,
}

impl RecentReadiness {
    /// How old a shared report may be.
    pub const MAX_AGE: Duration = Duration::from_secs(1);

    /// A report at most [`Self::MAX_AGE`] old; concurrent callers wait for one check.
    pub async fn get(&self, app: &AppState) -> HealthReport {
        let mut slot = self.slot.lock().await;
        if let Some((at, report)) = slot.as_ref() {
            if at.elapsed() <= Self::MAX_AGE {
                return report.clone();
            }
        }
        let report = readiness(app).await;
        *slot = Some((Instant::now(), report.clone()));
        report
    }
}
