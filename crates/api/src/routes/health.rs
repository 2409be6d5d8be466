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
    pub checks: BTreeMap<String, Check>,
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
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(HealthReport {
            status: if ok { "ok" } else { "fail" }.into(),
            checks,
        }),
    )
}
