//! PostgreSQL restarted under load: two `command-center worker` processes burn down 5,000
//! jobs while a server's readiness is polled, and the database (a private server, never the
//! shared one) is stopped and started again mid-run.
//!
//! Readiness must answer 503 while the database is down and 200 again within 5 s of its return,
//! jobs must flow again within the same bound, and at the end every job is `completed` with
//! exactly one recorded completion. Handlers run at least once: a job whose lease expired
//! during the outage may run again (its first run's late outcome is refused by the fencing
//! token); such re-runs are counted and printed, never hidden.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_domain::{JobState, NewJob};
use cc_store::{PoolConfig, Store};
use cc_tests::postgres_server::PostgresServer;
use cc_tests::queue::WorkerProcess;
use cc_tests::wait_for;
use reqwest::StatusCode;
use serde_json::json;

const JOBS: i64 = 5_000;
const QUEUE: &str = "restart";
/// How soon after PostgreSQL accepts connections again the service must be ready and working.
const RECOVERY: Duration = Duration::from_secs(5);

async fn completed(store: &Arc<dyn Store>) -> Option<i64> {
    let stats = store.queue_stats(QUEUE).await.ok()?;
    Some(stats.count(JobState::Completed))
}

async fn readiness(http: &reqwest::Client, url: &str) -> Option<StatusCode> {
    http.get(url).send().await.ok().map(|r| r.status())
}

/// Starts the API (no workers) on the store; returns its readiness URL.
async fn serve(store: Arc<dyn Store>) -> String {
    let state = cc_api::AppState::new(store, cc_tests::test_config());
    let server = cc_api::Server::bind_with("127.0.0.1:0", state, cc_tests::axum::Router::default())
        .await
        .expect("bind");
    let addr = server.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = server.run(std::future::pending::<()>()).await;
    });
    format!("http://{addr}/health/ready")
}

/// Runs `f` (a blocking `pg_ctl` call) off the runtime's threads.
async fn blocking(server: &Arc<PostgresServer>, f: fn(&PostgresServer)) {
    let s = server.clone();
    tokio::task::spawn_blocking(move || f(&s))
        .await
        .expect("pg_ctl");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_under_load_loses_and_duplicates_nothing() {
    let pg = Arc::new(
        tokio::task::spawn_blocking(PostgresServer::start)
            .await
            .unwrap(),
    );
    let url = pg.admin_url();
    let pool = PoolConfig {
        max_connections: 5,
        acquire_timeout: Duration::from_secs(2),
        ..PoolConfig::default()
    };
    let store = cc_store::connect(&url, &pool).await.expect("connect");
    store.migrate_up().await.expect("migrate");
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| {
            NewJob::new("system.sleep", json!({"ms": 5, "i": i}))
                .with_queue(QUEUE)
                .with_max_attempts(25)
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_many(&jobs).await.unwrap();
    tx.commit().await.unwrap();

    let ready_url = serve(store.clone()).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    assert_eq!(readiness(&http, &ready_url).await, Some(StatusCode::OK));

    let env = [
        ("CC_QUEUE_LEASE_TTL_MS", "3000"),
        ("CC_QUEUE_HEARTBEAT_INTERVAL_MS", "300"),
    ];
    let mut workers: Vec<WorkerProcess> = (0..2)
        .map(|n| WorkerProcess::spawn(&url, &format!("restart-{n}"), QUEUE, 25, &env))
        .collect();
    wait_for(
        "a fifth of the jobs to complete",
        Duration::from_secs(120),
        || {
            let store = store.clone();
            async move { completed(&store).await.filter(|&n| n >= JOBS / 5) }
        },
    )
    .await;

    blocking(&pg, PostgresServer::stop).await;
    let down = Instant::now();
    wait_for("readiness to answer 503", Duration::from_secs(15), || {
        let (http, url) = (http.clone(), ready_url.clone());
        async move {
            (readiness(&http, &url).await == Some(StatusCode::SERVICE_UNAVAILABLE)).then_some(())
        }
    })
    .await;
    eprintln!("readiness answered 503 {:?} after the stop", down.elapsed());
    // And keeps answering 503, naming the database, while it stays down (nothing cached says
    // "ready").
    for _ in 0..3 {
        let answer = http.get(&ready_url).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["checks"]["database"]["status"], "fail", "{body}");
    }

    blocking(&pg, PostgresServer::resume).await;
    let back = Instant::now();
    eprintln!("PostgreSQL was down for {:?}", down.elapsed());
    let before = wait_for("the first count after the restart", RECOVERY, || {
        let store = store.clone();
        async move { completed(&store).await }
    })
    .await;
    wait_for(
        "readiness to answer 200 again",
        RECOVERY.saturating_sub(back.elapsed()),
        || {
            let (http, url) = (http.clone(), ready_url.clone());
            async move { (readiness(&http, &url).await == Some(StatusCode::OK)).then_some(()) }
        },
    )
    .await;
    let ready_after = back.elapsed();
    wait_for(
        "jobs to complete again",
        RECOVERY.saturating_sub(back.elapsed()),
        || {
            let store = store.clone();
            async move { completed(&store).await.filter(|&n| n > before) }
        },
    )
    .await;
    eprintln!(
        "after PostgreSQL returned: ready in {ready_after:?}, jobs completing in {:?}",
        back.elapsed()
    );

    wait_for("every job to complete", Duration::from_secs(180), || {
        let store = store.clone();
        async move { completed(&store).await.filter(|&n| n == JOBS) }
    })
    .await;
    for w in &mut workers {
        assert!(w.terminate().await, "worker {} exits cleanly", w.id);
    }
    let stats = store.queue_stats(QUEUE).await.unwrap();
    assert_eq!(
        stats.total(),
        JOBS,
        "no job lost or added: {:?}",
        stats.counts
    );
    assert_eq!(stats.count(JobState::Completed), JOBS, "{:?}", stats.counts);
    assert_eq!(
        stats.completed_events, JOBS,
        "every job recorded completed exactly once"
    );
    let runs = executions(&url).await;
    eprintln!(
        "postgres restart: {JOBS} jobs completed once each; {runs} executions ({} re-runs after the outage)",
        runs - JOBS
    );
    store.close().await;
}

/// Handler starts, as the claims recorded them (one `running` event per execution).
async fn executions(url: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar(
        "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id \
         WHERE j.queue = $1 AND e.state = 'running'",
    )
    .bind(QUEUE)
    .fetch_one(&mut conn)
    .await
    .unwrap()
}
