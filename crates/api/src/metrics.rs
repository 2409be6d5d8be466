//! Prometheus metrics: the recorder, HTTP instrumentation, and `/metrics`.
//!
//! Counters and histograms are recorded where things happen (HTTP here, the pool in the store,
//! jobs in the queue). Gauges that describe state — pool occupancy, database readiness,
//! directory counts, process figures — are sampled when `/metrics` is scraped.

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// Latency buckets in seconds, 1 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often the directory gauges (two `GROUP BY` counts) may be recomputed.
const DIRECTORY_REFRESH: Duration = Duration::from_secs(10);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (when embedded); then this handle renders
        // only what this recorder sees.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics may be incomplete");
        }
        describe();
        register_series();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    cc_lifecycle::describe_metrics();
    cc_service::auth::describe_metrics();
    cc_notify::describe_metrics();
    metrics_process::Collector::default().describe();
    describe_counter!(
        "cc_http_requests_total",
        "HTTP requests by method, route template and status."
    );
    describe_histogram!(
        "cc_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency."
    );
    describe_gauge!("cc_http_requests_in_flight", "HTTP requests being served.");
    describe_gauge!(
        "cc_db_pool_connections",
        "Database pool connections by state (idle, in_use)."
    );
    describe_gauge!("cc_db_pool_max_connections", "Database pool size limit.");
    describe_histogram!(
        "cc_db_pool_acquire_duration_seconds",
        Unit::Seconds,
        "Wait for a pooled connection."
    );
    describe_gauge!(
        "cc_db_ready",
        "1 when the database answered the last check, else 0."
    );
    describe_gauge!("cc_directory_users", "People in the directory by status.");
    describe_gauge!("cc_directory_devices", "Devices by compliance.");
    describe_gauge!("cc_build_info", "Build information; always 1.");
    describe_gauge!("cc_jobs", "Jobs in the database by queue and state.");
    describe_gauge!("cc_queue_depth", "Jobs available to run now, by queue.");
    describe_gauge!(
        "cc_queue_oldest_available_age_seconds",
        "How long the oldest due job of each queue has been waiting (0 when none)."
    );
    describe_gauge!(
        "cc_workers_active",
        "Worker processes that sent a heartbeat in the last 30 seconds."
    );
    describe_gauge!(
        "cc_jobs_unhandled",
        "Due jobs of a kind that no active worker serving their queue has a handler for, by queue and kind (they wait for one)."
    );
    describe_counter!(
        "cc_import_rows_total",
        "Roster rows read by imports, by file format and outcome (valid, error)."
    );
}

/// Routes every deployment calls (the scraper and the probes): their request series exist
/// from the first scrape, which renders before its own request is counted.
const ALWAYS_CALLED: [&str; 3] = ["/metrics", "/health/live", "/health/ready"];

/// Creates counters at 0 (and histograms empty) for their known label sets, as Prometheus's
/// instrumentation guide asks, so a fresh server's dashboards and `increase()` alerts have a
/// series to work on.
fn register_series() {
    for route in ALWAYS_CALLED {
        metrics::counter!("cc_http_requests_total", "method" => "GET", "route" => route, "status" => "200")
            .increment(0);
        let _ = metrics::histogram!("cc_http_request_duration_seconds", "method" => "GET", "route" => route);
    }
    metrics::gauge!("cc_http_requests_in_flight").set(0.0);
    cc_service::imports::register_metrics();
}

struct InFlight;

impl InFlight {
    fn enter() -> Self {
        metrics::gauge!("cc_http_requests_in_flight").increment(1.0);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("cc_http_requests_in_flight").decrement(1.0);
    }
}

/// Middleware: counts and times every request by its route template (never the raw path,
/// which would explode cardinality with ids).
pub(crate) async fn track_http(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().as_str().to_owned();
    let _guard = InFlight::enter();
    let start = Instant::now();
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    metrics::histogram!("cc_http_request_duration_seconds", "method" => method.clone(), "route" => route.clone())
        .record(start.elapsed().as_secs_f64());
    metrics::counter!("cc_http_requests_total", "method" => method, "route" => route, "status" => status).increment(1);
    res
}

/// When the directory gauges were last computed.
static DIRECTORY_SAMPLED: Mutex<Option<Instant>> = Mutex::new(None);

/// Refreshes the sampled gauges.
pub(crate) async fn sample(app: &AppState) {
    for p in app.store.pool_stats() {
        let pool = p.name;
        metrics::gauge!("cc_db_pool_connections", "pool" => pool, "state" => "idle")
            .set(f64::from(p.idle));
        metrics::gauge!("cc_db_pool_connections", "pool" => pool, "state" => "in_use")
            .set(f64::from(p.size.saturating_sub(p.idle)));
        metrics::gauge!("cc_db_pool_max_connections", "pool" => pool).set(f64::from(p.max));
    }
    let ready = tokio::time::timeout(Duration::from_secs(2), app.store.ping())
        .await
        .is_ok_and(|r| r.is_ok());
    metrics::gauge!("cc_db_ready").set(if ready { 1.0 } else { 0.0 });
    metrics::gauge!("cc_build_info", "version" => env!("CARGO_PKG_VERSION"), "backend" => app.store.backend().as_str())
        .set(1.0);
    metrics_process::Collector::default().collect();

    let due = {
        let mut last = DIRECTORY_SAMPLED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let due = last.is_none_or(|t| t.elapsed() >= DIRECTORY_REFRESH);
        if due {
            *last = Some(Instant::now());
        }
        due
    };
    if due && ready {
        sample_queues(app).await;
        if let Ok(counts) = app.store.directory_counts().await {
            for s in cc_domain::UserStatus::ALL {
                let n = counts
                    .users_by_status
                    .iter()
                    .find(|(k, _)| k == s.as_str())
                    .map_or(0, |(_, n)| *n);
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("cc_directory_users", "status" => s.as_str()).set(n as f64);
            }
            for c in cc_domain::Compliance::ALL {
                let n = counts
                    .devices_by_compliance
                    .iter()
                    .find(|(k, _)| k == c.as_str())
                    .map_or(0, |(_, n)| *n);
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("cc_directory_devices", "compliance" => c.as_str()).set(n as f64);
            }
        }
    }
}

/// Workers whose last heartbeat is older than this are not counted as active (heartbeats
/// come every 5 s by default).
const WORKER_STALE: Duration = Duration::from_secs(30);

/// Jobs per queue and state, queue depth and the age of its oldest due job, active workers:
/// read from the shared database, so every replica reports the same figures.
async fn sample_queues(app: &AppState) {
    let now = cc_domain::now();
    let since = now - chrono::Duration::from_std(WORKER_STALE).unwrap_or_default();
    let workers = app.store.list_workers(since).await;
    if let Ok(workers) = &workers {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("cc_workers_active").set(workers.len() as f64);
    }
    let Ok(mut gauges) = app.store.queue_gauges(now).await else {
        return;
    };
    // The default queue is reported from the first scrape, before any job exists.
    if !gauges
        .iter()
        .any(|g| g.queue == cc_domain::job::DEFAULT_QUEUE)
    {
        gauges.push(cc_store::jobs::QueueGauge {
            queue: cc_domain::job::DEFAULT_QUEUE.to_owned(),
            ..Default::default()
        });
    }
    for g in &gauges {
        for state in cc_domain::JobState::ALL {
            let n = g
                .counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            #[allow(clippy::cast_precision_loss)]
            metrics::gauge!("cc_jobs", "queue" => g.queue.clone(), "state" => state.as_str())
                .set(n as f64);
        }
        let depth: i64 = g
            .counts
            .iter()
            .filter(|(s, _)| *s == cc_domain::JobState::Available)
            .map(|(_, n)| n)
            .sum();
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("cc_queue_depth", "queue" => g.queue.clone()).set(depth as f64);
        let age = g
            .oldest_due
            .map_or(0.0, |t| (now - t).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("cc_queue_oldest_available_age_seconds", "queue" => g.queue.clone())
            .set(age);
    }
    if let Ok(workers) = &workers {
        sample_unhandled(&gauges, workers);
    }
}

/// `cc_jobs_unhandled{queue,kind}`: due jobs no active worker can run (during a rolling
/// deploy, or when a worker with a new handler is missing). Workers claim only the kinds they
/// have handlers for, so such jobs wait rather than fail; this makes the wait visible. Label
/// sets reported before and resolved since drop back to 0.
fn sample_unhandled(gauges: &[cc_store::jobs::QueueGauge], workers: &[cc_domain::WorkerInfo]) {
    static REPORTED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());
    let handled = |queue: &str, kind: &str| {
        workers.iter().any(|w| {
            w.queues.iter().any(|q| q == queue)
                && w.kinds.as_ref().is_none_or(|k| k.iter().any(|k| k == kind))
        })
    };
    let mut now_unhandled = Vec::new();
    for g in gauges {
        for (kind, n) in &g.due_kinds {
            if !handled(&g.queue, kind) {
                #[allow(clippy::cast_precision_loss)]
                metrics::gauge!("cc_jobs_unhandled", "queue" => g.queue.clone(), "kind" => kind.clone())
                    .set(*n as f64);
                now_unhandled.push((g.queue.clone(), kind.clone()));
            }
        }
    }
    let mut reported = REPORTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (queue, kind) in reported.iter().filter(|l| !now_unhandled.contains(l)) {
        metrics::gauge!("cc_jobs_unhandled", "queue" => queue.clone(), "kind" => kind.clone())
            .set(0.0);
    }
    for l in now_unhandled {
        if !reported.contains(&l) {
            reported.push(l);
        }
    }
}

/// `GET /metrics` in the Prometheus text format.
pub(crate) async fn scrape(State(app): State<AppState>) -> Response {
    sample(&app).await;
    let body = handle().render();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
