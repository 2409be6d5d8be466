//! Worker processes dying mid-job: `command-center worker` children killed with SIGKILL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_domain::{JobState, NewJob};
use cc_queue::{handler_fn, Registry};
use cc_store::Store;
use cc_tests::queue::{fast_config, RunningWorker, WorkerProcess};
use cc_tests::{backend_tests, wait_for, Backend, TestDb};
use rand::Rng;
use serde_json::json;

async fn a_killed_worker_process_has_its_job_rescued_and_completed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut victim = WorkerProcess::spawn(&db.url, "victim", "default", 4, &[]);
    let id = cc_queue::ops::enqueue(
        store.as_ref(),
        &NewJob::new("system.sleep", json!({"ms": 600_000})),
    )
    .await
    .unwrap()
    .id;
    wait_for(
        "the child worker to run the job",
        Duration::from_secs(30),
        || {
            let store = store.clone();
            async move {
                store.get_job(id).await.unwrap().filter(|j| {
                    j.state == JobState::Running && j.worker_id.as_deref() == Some("victim")
                })
            }
        },
    )
    .await;
    victim.kill9().await;

    // Another worker (here in-process, where `system.sleep` returns at once) picks it up once
    // the dead worker's lease expires.
    let mut registry = Registry::with_builtins();
    registry.register(handler_fn("system.sleep", |_, _| async move {
        Ok(json!("rescued"))
    }));
    let rescuer = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 4)]));
    let job = wait_for(
        "the job to be rescued and completed",
        Duration::from_secs(20),
        || {
            let store = store.clone();
            async move {
                store
                    .get_job(id)
                    .await
                    .unwrap()
                    .filter(|j| j.state == JobState::Completed)
            }
        },
    )
    .await;
    assert_eq!(job.attempt, 2);
    assert_eq!(job.result, Some(json!("rescued")));
    assert_eq!(job.errors.len(), 1);
    assert!(
        job.errors[0].error.contains("lease expired"),
        "{:?}",
        job.errors
    );
    assert_eq!(job.errors[0].worker.as_deref(), Some("victim"));
    let history: Vec<(JobState, Option<String>)> = store
        .job_history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.state, e.worker_id))
        .collect();
    assert_eq!(
        history,
        [
            (JobState::Available, None),
            (JobState::Running, Some("victim".into())),
            (JobState::Retryable, Some("victim".into())),
            (JobState::Running, Some(rescuer.id.clone())),
            (JobState::Completed, Some(rescuer.id.clone())),
        ]
    );
    rescuer.stop().await;
}

async fn a_worker_process_shuts_down_cleanly_on_sigterm(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut worker = WorkerProcess::spawn(
        &db.url,
        "polite",
        "default",
        4,
        &[("CC_QUEUE_SHUTDOWN_TIMEOUT_MS", "200")],
    );
    let id = cc_queue::ops::enqueue(
        store.as_ref(),
        &NewJob::new("system.sleep", json!({"ms": 600_000})),
    )
    .await
    .unwrap()
    .id;
    wait_for(
        "the child worker to run the job",
        Duration::from_secs(30),
        || {
            let store = store.clone();
            async move {
                store
                    .get_job(id)
                    .await
                    .unwrap()
                    .filter(|j| j.state == JobState::Running)
            }
        },
    )
    .await;
    assert!(worker.terminate().await, "the worker exits successfully");
    let job = store.get_job(id).await.unwrap().unwrap();
    // `system.sleep` stops when cancelled; at shutdown the job is released, not failed.
    assert_eq!(
        (job.state, job.attempt),
        (JobState::Available, 0),
        "{job:?}"
    );
    assert!(job.errors.is_empty());
}

backend_tests!(
    a_killed_worker_process_has_its_job_rescued_and_completed,
    a_worker_process_shuts_down_cleanly_on_sigterm,
);

async fn completed(store: &Arc<dyn Store>) -> i64 {
    store
        .queue_stats("crash")
        .await
        .unwrap()
        .count(JobState::Completed)
}

/// Several worker processes on PostgreSQL burn down 10,000 jobs while one of them is killed
/// with SIGKILL every few hundred completions (and replaced). Every job must end completed,
/// and the history must record exactly one completion per job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_test_ten_thousand_jobs_survive_repeated_kill_9() {
    const JOBS: usize = 10_000;
    const PROCESSES: usize = 3;
    const KILLS: usize = 8;
    let db = TestDb::new(Backend::Postgres).await;
    let store = db.store().await;
    let jobs: Vec<NewJob> = (0..JOBS)
        .map(|i| {
            NewJob::new("system.sleep", json!({"ms": 2, "i": i}))
                .with_queue("crash")
                .with_max_attempts(25)
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    tx.enqueue_many(&jobs).await.unwrap();
    tx.commit().await.unwrap();

    let env = [
        ("CC_QUEUE_LEASE_TTL_MS", "1000"),
        ("CC_QUEUE_HEARTBEAT_INTERVAL_MS", "200"),
    ];
    let spawn = |n: usize| WorkerProcess::spawn(&db.url, &format!("crash-{n}"), "crash", 50, &env);
    let mut workers: Vec<WorkerProcess> = (0..PROCESSES).map(spawn).collect();
    let mut spawned = PROCESSES;
    let started = Instant::now();
    let mut kills = 0;
    let mut last_kill_at = 0;
    while kills < KILLS {
        let done = completed(&store).await;
        if done >= i64::try_from(JOBS).unwrap() {
            break;
        }
        if done >= last_kill_at + 600 {
            let victim = rand::thread_rng().gen_range(0..workers.len());
            workers[victim].kill9().await;
            workers[victim] = spawn(spawned);
            spawned += 1;
            kills += 1;
            last_kill_at = done;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "crash test ran too long ({done} done)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_for("every job to complete", Duration::from_secs(90), || {
        let store = store.clone();
        async move { (completed(&store).await == i64::try_from(JOBS).unwrap()).then_some(()) }
    })
    .await;
    for w in &mut workers {
        w.terminate().await;
    }
    let stats = store.queue_stats("crash").await.unwrap();
    assert_eq!(
        stats.total(),
        i64::try_from(JOBS).unwrap(),
        "no job lost or added: {:?}",
        stats.counts
    );
    assert_eq!(
        stats.count(JobState::Completed),
        i64::try_from(JOBS).unwrap()
    );
    assert_eq!(
        stats.completed_events,
        i64::try_from(JOBS).unwrap(),
        "no job recorded completed twice"
    );
    assert!(
        kills >= 3,
        "only {kills} kills happened before the jobs ran out"
    );
    eprintln!(
        "crash test: {JOBS} jobs, {kills} kills, {:?}",
        started.elapsed()
    );
}
