//! The queue under injected faults (a store that fails or stalls chosen calls, clocks that
//! disagree, handlers that ignore cancellation): a success is never lost, no two workers run
//! one job at once, and neither a snooze nor a missing handler costs an attempt.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cc_domain::{Actor, Job, JobState, NewJob};
use cc_queue::{handler_fn, JobError, Registry, Worker};
use cc_store::Store;
use cc_tests::faults::{Call, FaultStore};
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestDb};
use chrono::Duration as ChronoDuration;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn enqueue(store: &Arc<dyn Store>, job: NewJob) -> i64 {
    cc_queue::ops::enqueue(store.as_ref(), &job)
        .await
        .unwrap()
        .id
}

/// Waits until the job is in a final state and returns it.
async fn wait_final(store: &Arc<dyn Store>, id: i64) -> Job {
    wait_for(&format!("job {id} to finish"), WAIT, || {
        let store = store.clone();
        async move {
            store.get_job(id).await.unwrap().filter(|j| {
                matches!(
                    j.state,
                    JobState::Completed | JobState::Discarded | JobState::Cancelled
                )
            })
        }
    })
    .await
}

/// Waits until `worker` runs the job.
async fn wait_running_on(store: &Arc<dyn Store>, id: i64, worker: &str) -> Job {
    wait_for(&format!("job {id} to run on {worker}"), WAIT, || {
        let store = store.clone();
        async move {
            store
                .get_job(id)
                .await
                .unwrap()
                .filter(|j| j.state == JobState::Running && j.worker_id.as_deref() == Some(worker))
        }
    })
    .await
}

async fn notes(store: &Arc<dyn Store>, id: i64) -> Vec<String> {
    store
        .job_history(id)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| e.note)
        .collect()
}

/// How many handlers run one job at once, across workers: `peak` must stay 1.
#[derive(Default)]
struct Overlap {
    active: AtomicUsize,
    peak: AtomicUsize,
}

struct Inside(Arc<Overlap>);

impl Overlap {
    fn enter(self: &Arc<Self>) -> Inside {
        let now = self.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        Inside(self.clone())
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A handler that succeeds at once, counted in `overlap`.
fn quick(kind: &str, overlap: &Arc<Overlap>) -> Registry {
    let overlap = overlap.clone();
    let mut r = Registry::new();
    r.register(handler_fn(kind.to_owned(), move |ctx, _| {
        let inside = overlap.enter();
        async move {
            drop(inside);
            Ok(json!({"attempt": ctx.attempt}))
        }
    }));
    r
}

/// The outcome write fails for twice the lease: the lease stays renewed meanwhile, so the
/// job is not rescued (and, on its only attempt, not discarded) — it ends `completed`.
async fn a_success_outlives_a_store_refusing_it_for_twice_the_lease(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let config = fast_config(&[("default", 2)]);
    let (faulty, faults) = FaultStore::wrap(store.clone());
    faults.fail_for(Call::Complete, config.lease_ttl * 2);
    let worker = RunningWorker::start(faulty, Registry::with_builtins(), config);
    let id = enqueue(
        &store,
        NewJob::new("system.noop", json!({})).with_max_attempts(1),
    )
    .await;
    let job = wait_final(&store, id).await;
    worker.stop().await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.errors);
    assert_eq!(job.attempt, 1);
    assert!(job.errors.is_empty(), "{:?}", job.errors);
    assert!(faults.failures(Call::Complete) >= 2, "the fault was hit");
    assert!(!notes(&store, id).await.contains(&"lease expired".into()));
}

/// A worker whose heartbeats fail stops the handler before its lease can expire, so the
/// worker that takes the job over never runs it alongside.
async fn failing_heartbeats_stop_the_handler_before_another_worker_runs_it(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let overlap = Arc::new(Overlap::default());
    let saw_cancel = Arc::new(AtomicBool::new(false));
    let mut patient = Registry::new();
    {
        let (overlap, saw_cancel) = (overlap.clone(), saw_cancel.clone());
        patient.register(handler_fn("test.long", move |ctx, _| {
            let inside = overlap.enter();
            let saw_cancel = saw_cancel.clone();
            async move {
                ctx.cancelled().await;
                saw_cancel.store(true, Ordering::SeqCst);
                drop(inside);
                Err::<Value, _>(JobError::Cancelled)
            }
        }));
    }
    let (faulty, faults) = FaultStore::wrap(db.open().await);
    let a = RunningWorker::start(faulty, patient, fast_config(&[("default", 1)]));
    let id = enqueue(
        &store,
        NewJob::new("test.long", json!({})).with_max_attempts(3),
    )
    .await;
    wait_running_on(&store, id, &a.id).await;
    // A partition: this worker can no longer renew its lease, nor claim again.
    faults.fail(Call::Heartbeat);
    faults.fail(Call::Claim);
    let b = RunningWorker::start(
        store.clone(),
        quick("test.long", &overlap),
        fast_config(&[("default", 1)]),
    );
    let job = wait_final(&store, id).await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.errors);
    assert_eq!(job.attempt, 2);
    assert!(
        saw_cancel.load(Ordering::SeqCst),
        "the handler was told to stop"
    );
    assert_eq!(
        overlap.peak.load(Ordering::SeqCst),
        1,
        "the job ran on two workers at once"
    );
    assert!(faults.failures(Call::Heartbeat) >= 1);
    assert!(job.errors[0].error.contains("lease"), "{:?}", job.errors);
    b.stop().await;
    a.stop().await;
}

/// At shutdown, a handler that ignores cancellation is never released under itself: its job
/// waits for the lease to lapse, and only then does the other worker run it.
async fn shutdown_never_releases_a_job_whose_handler_still_runs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let overlap = Arc::new(Overlap::default());
    let mut stubborn = Registry::new();
    {
        let overlap = overlap.clone();
        stubborn.register(handler_fn("test.stubborn", move |_, _| {
            let inside = overlap.enter();
            async move {
                std::future::pending::<()>().await;
                drop(inside);
                Ok(Value::Null)
            }
        }));
    }
    let mut config = fast_config(&[("default", 1)]);
    config.shutdown_timeout = Duration::from_millis(300);
    let a = RunningWorker::start(db.open().await, stubborn, config);
    let id = enqueue(
        &store,
        NewJob::new("test.stubborn", json!({})).with_max_attempts(3),
    )
    .await;
    wait_running_on(&store, id, &a.id).await;
    let b = RunningWorker::start(
        store.clone(),
        quick("test.stubborn", &overlap),
        fast_config(&[("default", 1)]),
    );
    a.stop().await;
    let job = wait_final(&store, id).await;
    b.stop().await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.errors);
    assert_eq!(
        overlap.peak.load(Ordering::SeqCst),
        1,
        "the job ran on two workers at once"
    );
    let notes = notes(&store, id).await;
    assert!(!notes.contains(&"released at shutdown".into()), "{notes:?}");
    assert!(notes.contains(&"lease expired".into()), "{notes:?}");
    assert_eq!(job.attempt, 2);
}

/// Leases are counted on the database's clock: a worker whose clock falls an hour behind
/// keeps renewing its lease, and a rescuer whose clock is an hour ahead does not take it.
async fn host_clocks_do_not_decide_when_a_lease_expires(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let cancelled = Arc::new(AtomicBool::new(false));
    let mut long = Registry::new();
    {
        let cancelled = cancelled.clone();
        long.register(handler_fn("test.long", move |ctx, _| {
            let cancelled = cancelled.clone();
            async move {
                ctx.cancelled().await;
                cancelled.store(true, Ordering::SeqCst);
                Err::<Value, _>(JobError::Cancelled)
            }
        }));
    }
    let config = fast_config(&[("default", 1)]);
    let offset = Arc::new(AtomicI64::new(0));
    let skewed = {
        let offset = offset.clone();
        move || cc_domain::now() + ChronoDuration::seconds(offset.load(Ordering::SeqCst))
    };
    let a = RunningWorker::run(
        Worker::new(db.open().await, long, config.clone()).with_clock(Arc::new(skewed)),
    );
    let id = enqueue(&store, NewJob::new("test.long", json!({}))).await;
    wait_running_on(&store, id, &a.id).await;
    offset.store(-3600, Ordering::SeqCst);
    let (counted, faults) = FaultStore::wrap(db.open().await);
    let ahead = Worker::new(counted, Registry::new(), config.clone())
        .with_clock(Arc::new(|| cc_domain::now() + ChronoDuration::hours(1)));
    let b = RunningWorker::run(ahead);
    // Rescue passes spanning more than a lease: the lease must be renewed and never rescued.
    let passes =
        u64::try_from(2 * config.lease_ttl.as_millis() / config.rescue_interval.as_millis())
            .unwrap();
    wait_for("the fast-clock rescuer to run", WAIT, || {
        let n = faults.calls(Call::Rescue);
        async move { (n >= passes).then_some(()) }
    })
    .await;
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.attempt, job.worker_id.as_deref()),
        (JobState::Running, 1, Some(a.id.as_str())),
        "{:?}",
        job.errors
    );
    assert!(job.errors.is_empty(), "{:?}", job.errors);
    assert!(
        !cancelled.load(Ordering::SeqCst),
        "the handler kept running"
    );
    cc_queue::ops::cancel(store.as_ref(), &Actor::system("test"), id)
        .await
        .unwrap();
    assert_eq!(wait_final(&store, id).await.state, JobState::Cancelled);
    b.stop().await;
    a.stop().await;
}

/// A snooze the store refuses for twice the lease is retried with the lease kept: the job
/// runs again later on the same attempt (its only one) and completes.
async fn a_snooze_that_cannot_be_written_costs_no_attempt(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    {
        let runs = runs.clone();
        registry.register(handler_fn("test.patient", move |ctx, _| {
            let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
            async move {
                if first {
                    return Err(JobError::Snooze {
                        delay: Duration::from_millis(50),
                        reason: "not yet".into(),
                    });
                }
                Ok(json!({"attempt": ctx.attempt}))
            }
        }));
    }
    let config = fast_config(&[("default", 2)]);
    let (faulty, faults) = FaultStore::wrap(store.clone());
    faults.fail_for(Call::Snooze, config.lease_ttl * 2);
    let worker = RunningWorker::start(faulty, registry, config);
    let id = enqueue(
        &store,
        NewJob::new("test.patient", json!({})).with_max_attempts(1),
    )
    .await;
    let job = wait_final(&store, id).await;
    worker.stop().await;
    assert_eq!(job.state, JobState::Completed, "{:?}", job.errors);
    assert_eq!((job.attempt, runs.load(Ordering::SeqCst)), (1, 2));
    assert!(job.errors.is_empty(), "{:?}", job.errors);
    assert!(faults.failures(Call::Snooze) >= 2, "the fault was hit");
    assert!(notes(&store, id).await.contains(&"snoozed: not yet".into()));
}

/// During a rolling deploy a worker without the handler for a kind leaves its jobs alone
/// (no attempt spent, no error) until a worker that has it runs them.
async fn a_kind_without_a_handler_here_waits_for_a_worker_that_has_one(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (counted, faults) = FaultStore::wrap(db.open().await);
    let old = RunningWorker::start(
        counted,
        Registry::with_builtins(),
        fast_config(&[("default", 4)]),
    );
    let id = enqueue(
        &store,
        NewJob::new("test.new_kind", json!({})).with_max_attempts(1),
    )
    .await;
    let noop = enqueue(&store, NewJob::new("system.noop", json!({}))).await;
    assert_eq!(wait_final(&store, noop).await.state, JobState::Completed);
    let seen = faults.calls(Call::Claim);
    wait_for("more claims by the old worker", WAIT, || {
        let n = faults.calls(Call::Claim);
        async move { (n >= seen + 3).then_some(()) }
    })
    .await;
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Available, 0));
    assert!(job.errors.is_empty(), "{:?}", job.errors);

    let overlap = Arc::new(Overlap::default());
    let new = RunningWorker::start(
        store.clone(),
        quick("test.new_kind", &overlap),
        fast_config(&[("default", 4)]),
    );
    let job = wait_final(&store, id).await;
    assert_eq!((job.state, job.attempt), (JobState::Completed, 1));
    assert_eq!(job.result, Some(json!({"attempt": 1})));
    new.stop().await;
    old.stop().await;
}

backend_tests!(
    a_success_outlives_a_store_refusing_it_for_twice_the_lease,
    failing_heartbeats_stop_the_handler_before_another_worker_runs_it,
    shutdown_never_releases_a_job_whose_handler_still_runs,
    host_clocks_do_not_decide_when_a_lease_expires,
    a_snooze_that_cannot_be_written_costs_no_attempt,
    a_kind_without_a_handler_here_waits_for_a_worker_that_has_one,
);
