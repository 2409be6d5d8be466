//! Readiness and lease heartbeats under the service's own load: a roster of tens of thousands
//! of people applied through the API, with operators listing people meanwhile (on PostgreSQL a
//! first load locks the directory tables, so those requests wait and fill the main pool).
//! `/health/ready` must answer 200 throughout, and a worker's heartbeats must keep its lease:
//! no heartbeat may fail and the running job keeps its first attempt.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use cc_domain::{ImportStatus, JobState, NewJob};
use cc_queue::{QueueConfig, Registry};
use cc_store::PoolConfig;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::json;

/// People in the roster: enough for an apply that takes seconds.
const PEOPLE: u64 = 30_000;
/// Concurrent loops listing people while the roster is applied.
const READERS: usize = 6;

static WARNINGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        WARNINGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Collects this test process's warnings (each test runs in a process of its own).
fn capture_warnings() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_ansi(false)
            .with_writer(|| Capture)
            .init();
    });
}

fn warnings() -> String {
    String::from_utf8_lossy(
        &WARNINGS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    )
    .into_owned()
}

fn roster_csv() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("roster.csv");
    let gen = cc_roster::generate::GenOptions {
        rows: PEOPLE,
        format: cc_roster::generate::GenFormat::Csv,
        ..Default::default()
    };
    cc_roster::generate::generate(&gen, &file).unwrap();
    std::fs::read(&file).unwrap()
}

async fn readiness_and_heartbeats_hold_during_a_large_apply(backend: Backend) {
    capture_warnings();
    // A small main pool that gives up waiting soon, so that a starved probe or heartbeat
    // would show within the apply. The apply answers at once (202) and runs in the background.
    let mut config = cc_tests::test_config();
    config.import.sync_wait = Duration::ZERO;
    let app = TestApp::spawn_with_pool(
        backend,
        config,
        &PoolConfig {
            max_connections: 3,
            acquire_timeout: Duration::from_secs(1),
            ..PoolConfig::default()
        },
    )
    .await;
    let observer = app.db.open().await;
    // On SQLite a heartbeat waits for the import's write lock up to half the lease: the lease
    // is sized for the slowest (unoptimised, shared-machine) apply of this roster.
    let config = QueueConfig {
        lease_ttl: Duration::from_secs(300),
        heartbeat_interval: Duration::from_millis(200),
        ..fast_config(&[("default", 2)])
    };
    let worker = RunningWorker::start(app.store.clone(), Registry::with_builtins(), config);
    let job = cc_queue::ops::enqueue(
        app.store.as_ref(),
        &NewJob::new("system.sleep", json!({"ms": 600_000})),
    )
    .await
    .unwrap()
    .id;
    wait_for("the job to run", Duration::from_secs(20), || {
        let store = observer.clone();
        async move {
            store
                .get_job(job)
                .await
                .unwrap()
                .filter(|j| j.state == JobState::Running)
        }
    })
    .await;

    let (_, run) = app
        .client
        .upload_import("roster.csv", roster_csv(), &[])
        .await
        .unwrap();
    let client = app.client.clone();
    wait_for("the plan", Duration::from_secs(300), || {
        let c = client.clone();
        async move {
            c.get_import(run.id)
                .await
                .ok()
                .filter(|r| r.status == ImportStatus::Planned)
        }
    })
    .await;

    let (status, _) = app.client.apply_import(run.id, &[]).await.unwrap();
    assert_eq!(status, 202);
    // The readers start once the apply is under way.
    let applying = Arc::new(AtomicBool::new(true));
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (client, applying) = (app.client.clone(), applying.clone());
            tokio::spawn(async move {
                while applying.load(Ordering::Relaxed) {
                    let _ = client.list_users(&[("limit", "500")]).await;
                }
            })
        })
        .collect();
    let started = Instant::now();
    let prober = tokio::spawn(probe_readiness(
        format!("{}/health/ready", app.base_url),
        applying.clone(),
    ));
    let watcher = tokio::spawn(watch_heartbeats(
        observer.clone(),
        worker.id.clone(),
        applying.clone(),
    ));
    // The API may be slow to answer this under the load; only readiness must stay prompt.
    let client = app.client.clone();
    let done = wait_for("the apply", Duration::from_secs(600), || {
        let c = client.clone();
        async move {
            c.get_import(run.id)
                .await
                .ok()
                .filter(|r| r.status != ImportStatus::Applying)
        }
    })
    .await;
    assert_eq!(done.status, ImportStatus::Applied, "{done:?}");
    let applied_in = started.elapsed();
    applying.store(false, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let (polls, not_ready) = prober.await.unwrap();
    let heartbeats = watcher.await.unwrap();
    eprintln!(
        "{backend:?}: applied {PEOPLE} people in {applied_in:?}; readiness polled {polls} times; \
         {} heartbeats seen during the apply",
        heartbeats.len()
    );
    assert!(
        not_ready.is_empty(),
        "readiness failed during the apply: {not_ready:?}"
    );
    assert!(
        polls >= 5,
        "readiness was polled only {polls} times during the apply"
    );
    if backend == Backend::Postgres {
        // PostgreSQL writes heartbeats beside the import; SQLite has one writer at a time, so
        // there they wait for the import's commit (below: they did not fail, the lease held).
        assert!(
            heartbeats.len() >= 3,
            "heartbeats during the apply: {heartbeats:?}"
        );
    }

    // The heartbeat after the apply lands, and the running job never lost its lease.
    let beat = cc_domain::now();
    wait_for(
        "a heartbeat after the apply",
        Duration::from_secs(20),
        || {
            let store = observer.clone();
            let id = worker.id.clone();
            async move {
                let workers = store.list_workers(beat).await.unwrap();
                workers.iter().any(|w| w.id == id).then_some(())
            }
        },
    )
    .await;
    let j = observer.get_job(job).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempt, j.worker_id.as_deref()),
        (JobState::Running, 1, Some(worker.id.as_str())),
        "{j:?}"
    );
    assert!(j.errors.is_empty(), "{:?}", j.errors);
    let logged = warnings();
    for symptom in ["heartbeat failed", "lease lost"] {
        assert!(
            !logged.contains(symptom),
            "`{symptom}` was logged:\n{logged}"
        );
    }
    // Clean-up, not part of what is checked: through the observer's pool, which waits for a
    // connection as long as a server would, not the second the app's starved pool allows
    // (under a full parallel test run the one SQLite writer can stay busy that long).
    cc_queue::ops::cancel(observer.as_ref(), &cc_domain::Actor::system("test"), job)
        .await
        .unwrap();
    worker.stop().await;
}

/// Polls readiness every 100 ms while `running`; returns the polls and the failed answers.
async fn probe_readiness(url: String, running: Arc<AtomicBool>) -> (u32, Vec<String>) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    let (mut polls, mut failed) = (0, Vec::new());
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        let answer = http.get(&url).send().await.unwrap();
        polls += 1;
        if answer.status() != StatusCode::OK {
            let at = started.elapsed();
            failed.push(format!(
                "{at:?}: {}",
                answer.text().await.unwrap_or_default()
            ));
        }
    }
    (polls, failed)
}

/// The heartbeat times of worker `id` seen while `running`, read every 100 ms.
async fn watch_heartbeats(
    store: Arc<dyn cc_store::Store>,
    id: String,
    running: Arc<AtomicBool>,
) -> BTreeSet<chrono::DateTime<chrono::Utc>> {
    let mut seen = BTreeSet::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while running.load(Ordering::Relaxed) {
        tick.tick().await;
        let since = cc_domain::now() - chrono::Duration::minutes(5);
        if let Ok(workers) = store.list_workers(since).await {
            seen.extend(
                workers
                    .iter()
                    .filter(|w| w.id == id)
                    .map(|w| w.heartbeat_at),
            );
        }
    }
    seen
}

backend_tests!(readiness_and_heartbeats_hold_during_a_large_apply);
