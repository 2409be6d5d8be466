//! The worker runtime: running, history, progress, retries and dead letters, timeouts,
//! concurrency limits, cancellation, fencing, shutdown, retention, cron, registration.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_domain::{Actor, JobState, NewJob};
use cc_queue::{handler_fn, with_policy, JobError, KindPolicy, QueueConfig, Registry, RetryPolicy};
use cc_store::jobs::{ClaimRequest, Completion, CompletionWrites, Failure, Finish, Heartbeat};
use cc_store::Store;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestDb};
use chrono::Duration as ChronoDuration;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(15);

async fn enqueue(store: &Arc<dyn Store>, job: NewJob) -> i64 {
    cc_queue::ops::enqueue(store.as_ref(), &job)
        .await
        .unwrap()
        .id
}

/// Enqueues `n` jobs of `kind` in one transaction: a worker sees all of them at once.
async fn enqueue_together(store: &Arc<dyn Store>, kind: &str, n: usize) -> Vec<i64> {
    let mut tx = store.begin().await.unwrap();
    let ids = tx
        .enqueue_many(&vec![NewJob::new(kind, json!({})); n])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ids
}

async fn wait_state(store: &Arc<dyn Store>, id: i64, state: JobState) -> cc_domain::Job {
    wait_for(&format!("job {id} to be {state}"), WAIT, || {
        let store = store.clone();
        async move {
            store
                .get_job(id)
                .await
                .unwrap()
                .filter(|j| j.state == state)
        }
    })
    .await
}

fn quick_retries(h: impl cc_queue::JobHandler) -> impl cc_queue::JobHandler {
    with_policy(
        h,
        KindPolicy {
            retry: RetryPolicy {
                base: Duration::from_millis(10),
                max: Duration::from_millis(50),
                jitter: 0.5,
            },
            ..KindPolicy::default()
        },
    )
}

async fn runs_jobs_and_records_history(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut registry = Registry::with_builtins();
    registry.register(handler_fn("test.echo", |ctx, args: Value| async move {
        assert!(ctx.report_progress(json!({"done": 1, "total": 2})).await?);
        Ok(json!({"echo": args, "attempt": ctx.attempt}))
    }));
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 10)]));
    let since = cc_domain::now() - ChronoDuration::seconds(5);
    let registered = wait_for("the worker to register", WAIT, || {
        let store = store.clone();
        async move {
            store
                .list_workers(since)
                .await
                .unwrap()
                .into_iter()
                .find(|w| !w.queues.is_empty())
        }
    })
    .await;
    assert_eq!(registered.id, worker.id);
    assert_eq!(registered.queues, ["default"]);
    wait_for("the worker to heartbeat", WAIT, || {
        let store = store.clone();
        let started = registered.started_at;
        async move {
            store
                .list_workers(since)
                .await
                .unwrap()
                .into_iter()
                .find(|w| w.heartbeat_at > started)
        }
    })
    .await;

    let mut tx = store.begin().await.unwrap();
    let noops = tx
        .enqueue_many(&vec![NewJob::new("system.noop", json!({})); 50])
        .await
        .unwrap();
    let echo = tx
        .enqueue(&NewJob::new("test.echo", json!({"hello": "world"})))
        .await
        .unwrap()
        .id;
    tx.commit().await.unwrap();

    let job = wait_state(&store, echo, JobState::Completed).await;
    assert_eq!(
        job.result,
        Some(json!({"echo": {"hello": "world"}, "attempt": 1}))
    );
    assert_eq!(job.progress, Some(json!({"done": 1, "total": 2})));
    assert_eq!(job.attempt, 1);
    assert!(job.errors.is_empty());
    assert!(job.finalized_at.is_some() && job.attempted_at.is_some());
    let states: Vec<JobState> = store
        .job_history(echo)
        .await
        .unwrap()
        .iter()
        .map(|e| e.state)
        .collect();
    assert_eq!(
        states,
        [JobState::Available, JobState::Running, JobState::Completed]
    );
    let history = store.job_history(echo).await.unwrap();
    assert_eq!(history[1].worker_id.as_deref(), Some(worker.id.as_str()));
    assert_eq!(history[2].kind.as_deref(), Some("test.echo"));
    for id in noops {
        wait_state(&store, id, JobState::Completed).await;
    }
    worker.stop().await;
    assert!(
        store.list_workers(since).await.unwrap().is_empty(),
        "deregistered on shutdown"
    );
}

async fn retries_with_backoff_then_dead_letters_and_redrives(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut registry = Registry::with_builtins();
    registry.register(quick_retries(handler_fn(
        "test.flaky",
        |ctx, _| async move {
            if ctx.attempt < 3 {
                Err(JobError::retryable(format!(
                    "target unreachable on attempt {}",
                    ctx.attempt
                )))
            } else {
                Ok(json!("ok"))
            }
        },
    )));
    registry.register(quick_retries(handler_fn(
        "test.broken",
        |_, _| async move { Err(JobError::retryable("always down")) },
    )));
    registry.register(handler_fn("test.refused", |_, _| async move {
        Err(JobError::permanent("no such account"))
    }));
    registry.register(handler_fn(
        "test.panics",
        |_, _| async move { panic!("boom") },
    ));
    // Nothing here is about leases: a lease that outlives a loaded machine's scheduling
    // delays keeps every recorded error the handler's own.
    let config = QueueConfig {
        lease_ttl: Duration::from_secs(15),
        heartbeat_interval: Duration::from_secs(1),
        ..fast_config(&[("default", 10)])
    };
    let worker = RunningWorker::start(store.clone(), registry, config);

    let flaky = enqueue(&store, NewJob::new("test.flaky", json!({}))).await;
    let broken = enqueue(
        &store,
        NewJob::new("test.broken", json!({})).with_max_attempts(3),
    )
    .await;
    let refused = enqueue(&store, NewJob::new("test.refused", json!({}))).await;
    let panics = enqueue(
        &store,
        NewJob::new("test.panics", json!({})).with_max_attempts(1),
    )
    .await;

    let job = wait_state(&store, flaky, JobState::Completed).await;
    assert_eq!(job.attempt, 3);
    assert_eq!(job.errors.len(), 2);
    assert_eq!(job.errors[0].attempt, 1);
    assert_eq!(job.errors[1].error, "target unreachable on attempt 2");
    assert_eq!(job.errors[1].worker.as_deref(), Some(worker.id.as_str()));
    let states: Vec<JobState> = store
        .job_history(flaky)
        .await
        .unwrap()
        .iter()
        .map(|e| e.state)
        .collect();
    use JobState::{Available, Completed, Discarded, Retryable, Running};
    assert_eq!(
        states,
        [Available, Running, Retryable, Running, Retryable, Running, Completed]
    );

    let job = wait_state(&store, broken, Discarded).await;
    assert_eq!((job.attempt, job.errors.len()), (3, 3));
    assert!(job.finalized_at.is_some());
    let job = wait_state(&store, refused, Discarded).await;
    assert_eq!(
        (job.attempt, job.errors.len()),
        (1, 1),
        "a permanent failure is not retried"
    );
    let job = wait_state(&store, panics, Discarded).await;
    assert!(
        job.errors[0].error.contains("panicked: boom"),
        "{:?}",
        job.errors
    );

    // An operator re-drives the dead letter; it gets a fresh set of attempts.
    let actor = Actor {
        name: "operator:admin".into(),
        request_id: Some("req-1".into()),
    };
    let again = cc_queue::ops::retry(store.as_ref(), &actor, broken)
        .await
        .unwrap();
    assert_eq!((again.state, again.attempt), (Available, 0));
    let job = wait_state(&store, broken, Discarded).await;
    assert_eq!(job.errors.len(), 6, "history of errors is kept");
    let err = cc_queue::ops::retry(store.as_ref(), &actor, flaky)
        .await
        .unwrap_err();
    assert!(
        matches!(err, cc_queue::ops::OpError::InvalidState(_)),
        "{err:?}"
    );
    let audit = store
        .list_audit(&cc_domain::AuditQuery {
            action: Some("job.retry".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].target_id.as_deref(),
        Some(broken.to_string().as_str())
    );
    assert_eq!(audit[0].request_id.as_deref(), Some("req-1"));
    worker.stop().await;
}

async fn timeouts_fail_the_attempt(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut registry = Registry::new();
    registry.register(with_policy(
        handler_fn("test.slow", |_, _| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Value::Null)
        }),
        KindPolicy {
            timeout: Duration::from_millis(200),
            ..KindPolicy::default()
        },
    ));
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 2)]));
    let id = enqueue(
        &store,
        NewJob::new("test.slow", json!({})).with_max_attempts(1),
    )
    .await;
    let job = wait_state(&store, id, JobState::Discarded).await;
    assert!(
        job.errors[0].error.starts_with("timed out"),
        "{:?}",
        job.errors
    );
    worker.stop().await;
}

async fn concurrency_is_limited_per_queue(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut registry = Registry::new();
    let (r, p, g) = (running.clone(), peak.clone(), gate.clone());
    registry.register(handler_fn("test.gated", move |_, _| {
        let (r, p, g) = (r.clone(), p.clone(), g.clone());
        async move {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            let permit = g.acquire().await.map_err(JobError::permanent)?;
            permit.forget();
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(Value::Null)
        }
    }));
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 2)]));
    let ids = enqueue_together(&store, "test.gated", 6).await;
    let stats = |store: Arc<dyn Store>| async move { store.queue_stats("default").await.unwrap() };
    wait_for("two jobs running", WAIT, || {
        let s = stats(store.clone());
        let running = running.clone();
        async move {
            (s.await.count(JobState::Running) == 2 && running.load(Ordering::SeqCst) == 2)
                .then_some(())
        }
    })
    .await;
    assert_eq!(stats(store.clone()).await.count(JobState::Available), 4);
    gate.add_permits(6);
    for id in ids {
        wait_state(&store, id, JobState::Completed).await;
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    worker.stop().await;
}

/// A busy queue with a backlog claims freed slots together (`claim_gather`): with 16 slots it
/// gathers two. The first freed slot waits (its job's completion is recorded meanwhile); when
/// a second frees, both are claimed in one statement — the two jobs started next carry the
/// same claim time. Claimed one by one, they would carry two.
async fn a_busy_queue_claims_freed_slots_together(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let running = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let mut registry = Registry::new();
    let (r, g) = (running.clone(), gate.clone());
    registry.register(handler_fn("test.held", move |_, _| {
        let (r, g) = (r.clone(), g.clone());
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            let permit = g.acquire().await.map_err(JobError::permanent)?;
            permit.forget();
            r.fetch_sub(1, Ordering::SeqCst);
            Ok(Value::Null)
        }
    }));
    let ids = enqueue_together(&store, "test.held", 40).await;
    let config = QueueConfig {
        // The longest allowed: long enough that only the second freed slot ends the gathering.
        claim_gather: Duration::from_secs(10),
        ..fast_config(&[("default", 16)])
    };
    let worker = RunningWorker::start(store.clone(), registry, config);
    wait_for("16 jobs running", WAIT, || {
        let running = running.clone();
        async move { (running.load(Ordering::SeqCst) == 16).then_some(()) }
    })
    .await;
    let running_jobs = || async {
        let page = store
            .list_jobs(&cc_domain::JobQuery {
                state: Some(JobState::Running),
                limit: 100,
                ..cc_domain::JobQuery::default()
            })
            .await
            .unwrap();
        page.items
    };
    let first: Vec<i64> = running_jobs().await.iter().map(|j| j.id).collect();
    assert_eq!(first.len(), 16);

    // One job ends; its completion is recorded, and its slot waits for a second.
    gate.add_permits(1);
    wait_for("a job to complete", WAIT, || {
        let store = store.clone();
        let ids = ids.clone();
        async move {
            let mut done = 0;
            for id in &ids {
                if store.get_job(*id).await.unwrap()?.state == JobState::Completed {
                    done += 1;
                }
            }
            (done == 1).then_some(())
        }
    })
    .await;
    // A second ends: both slots are claimed together.
    gate.add_permits(1);
    let new = wait_for("two more jobs running", WAIT, || {
        let first = first.clone();
        async move {
            let new: Vec<_> = running_jobs()
                .await
                .into_iter()
                .filter(|j| !first.contains(&j.id))
                .collect();
            (new.len() == 2).then_some(new)
        }
    })
    .await;
    assert!(new[0].attempted_at.is_some());
    assert_eq!(
        new[0].attempted_at, new[1].attempted_at,
        "the two freed slots were claimed in one statement"
    );
    gate.add_permits(40);
    for id in ids {
        wait_state(&store, id, JobState::Completed).await;
    }
    worker.stop().await;
}

async fn cancellation_of_waiting_and_running_jobs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<i64>();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel::<(i64, Instant)>();
    let mut registry = Registry::new();
    registry.register(handler_fn("test.block", move |ctx, _| {
        let (started, seen) = (started_tx.clone(), seen_tx.clone());
        async move {
            let _ = started.send(ctx.job_id);
            ctx.cancelled().await;
            let _ = seen.send((ctx.job_id, Instant::now()));
            Err(JobError::Cancelled)
        }
    }));
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 4)]));
    let actor = Actor::system("test");

    let waiting = enqueue(
        &store,
        NewJob::new("test.block", json!({}))
            .with_run_at(cc_domain::now() + ChronoDuration::hours(1)),
    )
    .await;
    let job = cc_queue::ops::cancel(store.as_ref(), &actor, waiting)
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.finalized_at.is_some());

    let running = enqueue(&store, NewJob::new("test.block", json!({}))).await;
    let started = tokio::time::timeout(WAIT, started_rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(started, running);
    let asked = Instant::now();
    let job = cc_queue::ops::cancel(store.as_ref(), &actor, running)
        .await
        .unwrap();
    assert_eq!(job.state, JobState::Running);
    assert!(job.cancel_requested);
    let (id, seen_at) = tokio::time::timeout(Duration::from_secs(1), seen_rx.recv())
        .await
        .expect("the handler saw the cancellation within a second")
        .unwrap();
    assert_eq!(id, running);
    assert!(seen_at.duration_since(asked) < Duration::from_secs(1));
    let job = wait_state(&store, running, JobState::Cancelled).await;
    assert!(job.errors.is_empty());
    let notes: Vec<Option<String>> = store
        .job_history(running)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.note)
        .collect();
    assert!(
        notes.contains(&Some("cancel requested".into())),
        "{notes:?}"
    );
    // Cancelling a finished job changes nothing.
    let again = cc_queue::ops::cancel(store.as_ref(), &actor, running)
        .await
        .unwrap();
    assert_eq!(again.state, JobState::Cancelled);
    worker.stop().await;
}

async fn a_worker_that_lost_its_lease_cannot_finish_the_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let id = enqueue(&store, NewJob::new("system.noop", json!({}))).await;
    let claim = |worker: &'static str, ttl_ms: u64| {
        let store = store.clone();
        async move {
            let now = cc_domain::now();
            store
                .claim_jobs(&ClaimRequest {
                    worker_id: worker,
                    queue: "default",
                    kinds: None,
                    limit: 10,
                    now,
                    lease_ttl: Duration::from_millis(ttl_ms),
                })
                .await
                .unwrap()
        }
    };
    let old = claim("worker-a", 100).await[0].lease;
    // The lease expires and the rescuer returns the job; worker B takes it over.
    wait_for("the expired lease to be rescued", WAIT, || {
        let store = store.clone();
        async move { (store.rescue_expired(cc_domain::now(), 100).await.unwrap() == 1).then_some(()) }
    })
    .await;
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Retryable);
    assert!(job.errors[0].error.contains("lease expired"));
    let new = claim("worker-b", 30_000).await[0].lease;
    assert_eq!(new.job_id, old.job_id);
    assert!(
        new.token > old.token,
        "each claim gets a newer fencing token"
    );

    // Every write by the old holder is refused.
    let now = cc_domain::now();
    let fin = |items| Finish {
        worker_id: "worker-a",
        now,
        items,
    };
    assert!(store
        .complete_jobs(fin(&[Completion::new(old, Some(json!("stale")))]))
        .await
        .unwrap()
        .is_empty());
    let failure = Failure {
        lease: old,
        error: "stale".into(),
        retry_at: None,
    };
    assert!(store
        .fail_jobs(Finish {
            worker_id: "worker-a",
            now,
            items: &[failure]
        })
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .cancel_running(Finish {
            worker_id: "worker-a",
            now,
            items: &[old]
        })
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .release_jobs(Finish {
            worker_id: "worker-a",
            now,
            items: &[old]
        })
        .await
        .unwrap()
        .is_empty());
    assert!(!store.report_progress(old, &json!(1)).await.unwrap());
    let hb = store
        .heartbeat(&Heartbeat {
            worker_id: "worker-a",
            now,
            lease_ttl: Duration::from_secs(30),
            leases: &[old],
        })
        .await
        .unwrap();
    assert_eq!(hb.lost, [old]);

    // The new holder completes it, once.
    let done = store
        .complete_jobs(Finish {
            worker_id: "worker-b",
            now,
            items: &[Completion::new(new, Some(json!("fresh")))],
        })
        .await
        .unwrap();
    assert_eq!(done, [id]);
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.result.clone(), job.attempt),
        (JobState::Completed, Some(json!("fresh")), 2)
    );
    let history = store.job_history(id).await.unwrap();
    let completed: Vec<_> = history
        .iter()
        .filter(|e| e.state == JobState::Completed)
        .collect();
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0].worker_id.as_deref(), Some("worker-b"));
}

fn test_link(user_id: uuid::Uuid, job_id: i64) -> cc_domain::TargetLinkRecord {
    let now = cc_domain::now();
    cc_domain::TargetLinkRecord {
        user_id,
        target: "directory".into(),
        account_id: Some(format!("acct-{job_id}")),
        status: cc_domain::LinkStatus::Ok,
        last_operation: cc_domain::LifecycleOperation::Provision,
        last_job_id: Some(job_id),
        last_error: None,
        synced_at: Some(now),
        updated_at: now,
    }
}

fn test_writes(user_id: uuid::Uuid, job_id: i64, action: &str) -> CompletionWrites {
    CompletionWrites {
        progress: Some(json!({"job": job_id})),
        links: vec![test_link(user_id, job_id)],
        audit: vec![cc_domain::NewAuditEvent {
            actor: "worker:test".into(),
            action: action.into(),
            target_type: "user".into(),
            target_id: Some(user_id.to_string()),
            request_id: None,
            before: None,
            after: Some(json!({"job_id": job_id})),
        }],
    }
}

async fn audited_jobs(store: &Arc<dyn Store>, action: &str) -> Vec<i64> {
    let events = store
        .list_audit(&cc_domain::AuditQuery {
            action: Some(action.into()),
            limit: 100,
            ..cc_domain::AuditQuery::default()
        })
        .await
        .unwrap();
    let mut jobs: Vec<i64> = events
        .iter()
        .map(|e| e.after.as_ref().unwrap()["job_id"].as_i64().unwrap())
        .collect();
    jobs.sort_unstable();
    jobs
}

/// What a handler asks to write with its completion (progress, a person's link to a target,
/// an audit event) is there once the job is completed, and only for a completion that is
/// recorded: not for an attempt that fails, not for a completion by a worker that lost the
/// lease, not for a person who is gone.
async fn writes_commit_with_the_completion_only(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let ada = cc_tests::student("ada")
        .into_user(cc_domain::new_id(), cc_domain::now())
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&ada).await.unwrap();
    tx.commit().await.unwrap();
    let ada_id = ada.id;

    let mut registry = Registry::new();
    registry.register(handler_fn("test.linked", move |ctx, _| async move {
        ctx.on_completion(test_writes(ada_id, ctx.job_id, "test.linked"));
        Ok(json!("linked"))
    }));
    registry.register(handler_fn("test.unlinked", move |ctx, _| async move {
        ctx.on_completion(test_writes(ada_id, ctx.job_id, "test.linked"));
        Err::<Value, _>(JobError::Permanent("the target refused".into()))
    }));
    let failing = enqueue(&store, NewJob::new("test.unlinked", json!({}))).await;
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 4)]));
    let failed = wait_state(&store, failing, JobState::Discarded).await;
    assert_eq!(failed.progress, None, "a failed attempt writes none of it");
    assert!(store.list_target_links(ada_id).await.unwrap().is_empty());
    assert!(audited_jobs(&store, "test.linked").await.is_empty());

    let linked = enqueue(&store, NewJob::new("test.linked", json!({}))).await;
    let done = wait_state(&store, linked, JobState::Completed).await;
    assert_eq!(done.result, Some(json!("linked")));
    assert_eq!(done.progress, Some(json!({"job": linked})));
    let links = store.list_target_links(ada_id).await.unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].last_job_id, Some(linked));
    assert_eq!(
        links[0].account_id.as_deref(),
        Some(&*format!("acct-{linked}"))
    );
    assert_eq!(audited_jobs(&store, "test.linked").await, [linked]);
    worker.stop().await;

    // Through the store: a completion whose lease was lost writes nothing; the holder's does.
    let id = enqueue(&store, NewJob::new("system.noop", json!({}))).await;
    let claim = |worker: &'static str, ttl_ms: u64| {
        let store = store.clone();
        async move {
            store
                .claim_jobs(&ClaimRequest {
                    worker_id: worker,
                    queue: "default",
                    kinds: None,
                    limit: 10,
                    now: cc_domain::now(),
                    lease_ttl: Duration::from_millis(ttl_ms),
                })
                .await
                .unwrap()
        }
    };
    let old = claim("worker-a", 100).await[0].lease;
    wait_for("the expired lease to be rescued", WAIT, || {
        let store = store.clone();
        async move { (store.rescue_expired(cc_domain::now(), 100).await.unwrap() == 1).then_some(()) }
    })
    .await;
    let new = claim("worker-b", 30_000).await[0].lease;
    assert_eq!(new.job_id, id);
    let complete = |worker_id: &'static str, lease, writes| {
        let store = store.clone();
        async move {
            store
                .complete_jobs(Finish {
                    worker_id,
                    now: cc_domain::now(),
                    items: &[Completion {
                        lease,
                        result: None,
                        writes,
                    }],
                })
                .await
                .unwrap()
        }
    };
    let stale = complete("worker-a", old, test_writes(ada_id, id, "test.linked")).await;
    assert!(stale.is_empty());
    assert_eq!(
        store.list_target_links(ada_id).await.unwrap()[0].last_job_id,
        Some(linked)
    );
    assert_eq!(audited_jobs(&store, "test.linked").await, [linked]);
    // A person deleted meanwhile gets no link; the rest is written.
    let mut writes = test_writes(ada_id, id, "test.linked");
    writes.links.push(test_link(cc_domain::new_id(), id));
    assert_eq!(complete("worker-b", new, writes).await, [id]);
    let links = store.list_target_links(ada_id).await.unwrap();
    assert_eq!(links[0].last_job_id, Some(id));
    assert_eq!(audited_jobs(&store, "test.linked").await, [linked, id]);
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(
        (job.state, job.progress),
        (JobState::Completed, Some(json!({"job": id})))
    );
    // The events joined the audit chain as every other write does.
    let report = cc_service::verify_chain(store.as_ref()).await.unwrap();
    assert!(report.first_break.is_none(), "{report:?}");
    assert_eq!(report.checked, 2);
}

async fn shutdown_releases_unfinished_jobs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut slow = Registry::new();
    // Stops only when asked: shutdown must ask, wait for it to return, then release it.
    slow.register(handler_fn("test.slow", |ctx, _| async move {
        ctx.cancelled().await;
        Err::<Value, _>(JobError::Cancelled)
    }));
    // Finishes its work although asked to stop: the success is recorded, not released.
    slow.register(handler_fn("test.finisher", |ctx, _| async move {
        ctx.cancelled().await;
        Ok(json!("finished anyway"))
    }));
    let mut config = fast_config(&[("default", 2)]);
    config.shutdown_timeout = Duration::from_millis(300);
    let worker = RunningWorker::start(store.clone(), slow, config);
    let id = enqueue(&store, NewJob::new("test.slow", json!({}))).await;
    let finisher = enqueue(&store, NewJob::new("test.finisher", json!({}))).await;
    let job = wait_state(&store, id, JobState::Running).await;
    assert_eq!(job.attempt, 1);
    wait_state(&store, finisher, JobState::Running).await;
    worker.stop().await;
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Available);
    assert_eq!(job.attempt, 0, "a released job keeps its attempts");
    assert!(job.worker_id.is_none());
    let last = store.job_history(id).await.unwrap().pop().unwrap();
    assert_eq!(last.note.as_deref(), Some("released at shutdown"));
    let done = store.get_job(finisher).await.unwrap().unwrap();
    assert_eq!(
        (done.state, done.result),
        (JobState::Completed, Some(json!("finished anyway")))
    );

    let mut quick = Registry::new();
    quick.register(handler_fn(
        "test.slow",
        |_, _| async move { Ok(json!("done")) },
    ));
    let worker = RunningWorker::start(store.clone(), quick, fast_config(&[("default", 2)]));
    let job = wait_state(&store, id, JobState::Completed).await;
    assert_eq!(job.attempt, 1);
    worker.stop().await;
}

async fn finished_jobs_are_pruned_after_retention(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut config = fast_config(&[("default", 2)]);
    config.retention = Duration::from_millis(300);
    config.prune_interval = Duration::from_millis(100);
    let pending = enqueue(
        &store,
        NewJob::new("system.noop", json!({}))
            .with_run_at(cc_domain::now() + ChronoDuration::hours(1)),
    )
    .await;
    let worker = RunningWorker::start(store.clone(), Registry::with_builtins(), config);
    let done = enqueue(&store, NewJob::new("system.noop", json!({}))).await;
    wait_state(&store, done, JobState::Completed).await;
    wait_for("the finished job to be pruned", WAIT, || {
        let store = store.clone();
        async move { store.get_job(done).await.unwrap().is_none().then_some(()) }
    })
    .await;
    assert!(
        store.job_history(done).await.unwrap().is_empty(),
        "history goes with the job"
    );
    assert!(
        store.get_job(pending).await.unwrap().is_some(),
        "unfinished jobs are kept"
    );
    worker.stop().await;
}

async fn cron_fires_once_per_tick_across_instances(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut config = fast_config(&[("cron", 4)]);
    config.cron = vec![cc_queue::CronEntry {
        name: "every-second".into(),
        schedule: "* * * * * *".into(),
        kind: "system.noop".into(),
        args: json!({"from": "cron"}),
        queue: "cron".into(),
    }];
    // Two instances, each with its own connection pool, racing for every tick.
    let a = RunningWorker::start(db.open().await, Registry::with_builtins(), config.clone());
    let b = RunningWorker::start(db.open().await, Registry::with_builtins(), config);
    let started = cc_domain::now();
    wait_for("three cron ticks", WAIT, || {
        let store = store.clone();
        async move {
            (store
                .queue_stats("cron")
                .await
                .unwrap()
                .count(JobState::Completed)
                >= 3)
                .then_some(())
        }
    })
    .await;
    a.stop().await;
    b.stop().await;
    let elapsed = (cc_domain::now() - started).num_milliseconds();
    let jobs = store
        .list_jobs(&cc_domain::JobQuery {
            queue: Some("cron".into()),
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .items;
    let mut seconds: Vec<i64> = jobs.iter().map(|j| j.created_at.timestamp()).collect();
    seconds.sort_unstable();
    let n = seconds.len();
    seconds.dedup();
    assert_eq!(seconds.len(), n, "one job per tick: {jobs:#?}");
    assert!(
        i64::try_from(n).unwrap() <= elapsed / 1000 + 1,
        "{n} jobs in {elapsed} ms"
    );
    assert!(jobs.iter().all(
        |j| j.created_by.as_deref() == Some("system:cron:every-second")
            && j.args == json!({"from": "cron"})
    ));
}

async fn poll_only_workers_still_run_jobs(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut config = fast_config(&[("default", 4)]);
    config.poll_only = true;
    let worker = RunningWorker::start(store.clone(), Registry::with_builtins(), config);
    let id = enqueue(&store, NewJob::new("system.noop", json!({}))).await;
    wait_state(&store, id, JobState::Completed).await;
    worker.stop().await;
}

/// A snoozed attempt is neither a failure nor spent: the job runs again later with the same
/// attempt number and no error, and its history says why it waited.
async fn a_snoozed_job_runs_again_without_spending_an_attempt(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = runs.clone();
    let mut registry = Registry::new();
    registry.register(handler_fn("test.patient", move |ctx, _| {
        let seen = seen.clone();
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err(JobError::Snooze {
                    delay: Duration::from_millis(50),
                    reason: "not yet".into(),
                });
            }
            Ok(json!({"attempt": ctx.attempt}))
        }
    }));
    let id = enqueue(
        &store,
        NewJob {
            max_attempts: 1,
            ..NewJob::new("test.patient", json!({}))
        },
    )
    .await;
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 2)]));
    let job = wait_state(&store, id, JobState::Completed).await;
    worker.stop().await;
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    assert_eq!(
        job.attempt, 1,
        "snoozes spend no attempt (max_attempts is 1)"
    );
    assert!(job.errors.is_empty(), "{:?}", job.errors);
    assert_eq!(job.result, Some(json!({"attempt": 1})));
    let history = store.job_history(id).await.unwrap();
    let snoozes = history
        .iter()
        .filter(|e| e.state == JobState::Scheduled && e.note.as_deref() == Some("snoozed: not yet"))
        .count();
    assert_eq!(snoozes, 2, "{history:?}");
}

/// Outcomes and heartbeats written in many batches on the same store (more than the five
/// executions after which PostgreSQL may switch a prepared statement to a generic plan) are
/// each recorded once, and `queue_unfinished` follows the queue from waiting through running
/// to drained.
async fn batched_outcomes_drain_the_queue(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    assert!(
        !store.queue_unfinished("drain").await.unwrap(),
        "empty queue"
    );
    let mut tx = store.begin().await.unwrap();
    let mut ids = tx
        .enqueue_many(&vec![
            NewJob::new("system.noop", json!({}))
                .with_queue("drain");
            400
        ])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        store.queue_unfinished("drain").await.unwrap(),
        "waiting jobs"
    );
    assert!(
        !store.queue_unfinished("default").await.unwrap(),
        "another queue"
    );
    let ttl = Duration::from_secs(30);
    let mut completed = Vec::new();
    for round in 0..8 {
        let now = cc_domain::now();
        let claimed = store
            .claim_jobs(&ClaimRequest {
                worker_id: "w1",
                queue: "drain",
                kinds: None,
                limit: 50,
                now,
                lease_ttl: ttl,
            })
            .await
            .unwrap();
        assert_eq!(claimed.len(), 50, "round {round}");
        assert!(
            store.queue_unfinished("drain").await.unwrap(),
            "running jobs"
        );
        let leases: Vec<_> = claimed.iter().map(|j| j.lease).collect();
        let reply = store
            .heartbeat(&Heartbeat {
                worker_id: "w1",
                now,
                lease_ttl: ttl,
                leases: &leases,
            })
            .await
            .unwrap();
        assert!(reply.lost.is_empty(), "round {round}: {:?}", reply.lost);
        let items: Vec<Completion> = leases
            .iter()
            .map(|&lease| Completion::new(lease, None))
            .collect();
        let fin = || Finish {
            worker_id: "w1",
            now,
            items: &items,
        };
        let done = store.complete_jobs(fin()).await.unwrap();
        assert_eq!(done.len(), 50, "round {round}");
        assert!(
            store.complete_jobs(fin()).await.unwrap().is_empty(),
            "a second write of the same outcomes is refused"
        );
        completed.extend(done);
    }
    completed.sort_unstable();
    ids.sort_unstable();
    assert_eq!(completed, ids);
    assert!(!store.queue_unfinished("drain").await.unwrap(), "drained");
    let stats = store.queue_stats("drain").await.unwrap();
    assert_eq!(stats.count(JobState::Completed), 400);
    assert_eq!(stats.completed_events, 400);
}

backend_tests!(
    batched_outcomes_drain_the_queue,
    a_snoozed_job_runs_again_without_spending_an_attempt,
    poll_only_workers_still_run_jobs,
    runs_jobs_and_records_history,
    retries_with_backoff_then_dead_letters_and_redrives,
    timeouts_fail_the_attempt,
    concurrency_is_limited_per_queue,
    a_busy_queue_claims_freed_slots_together,
    cancellation_of_waiting_and_running_jobs,
    a_worker_that_lost_its_lease_cannot_finish_the_job,
    writes_commit_with_the_completion_only,
    shutdown_releases_unfinished_jobs,
    finished_jobs_are_pruned_after_retention,
    cron_fires_once_per_tick_across_instances,
);
