//! The jobs API: listing, detail with history, cancel/retry with audit, batches, and the
//! server-sent event stream.

use std::time::Duration;

use cc_domain::{JobState, NewJob};
use cc_queue::Registry;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, Backend, TestApp};
use serde_json::json;

async fn lists_filters_pages_and_shows_jobs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let batch = uuid::Uuid::now_v7();
    let mut jobs: Vec<NewJob> = (0..5)
        .map(|i| NewJob::new("demo.a", json!({"i": i})).with_batch(batch))
        .collect();
    jobs.extend((0..2).map(|i| NewJob::new("demo.b", json!({"i": i})).with_queue("other")));
    let mut tx = app.store.begin().await.unwrap();
    let ids = tx.enqueue_many(&jobs).await.unwrap();
    tx.commit().await.unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("limit", "3")];
        if let Some(c) = &cursor {
            q.push(("cursor", c));
        }
        let page = app.client.list_jobs(&q).await.unwrap();
        seen.extend(page.items.iter().map(|j| j.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let by_kind = app.client.list_jobs(&[("kind", "demo.b")]).await.unwrap();
    assert_eq!(by_kind.items.len(), 2);
    let by_queue = app
        .client
        .list_jobs(&[("queue", "other"), ("state", "available")])
        .await
        .unwrap();
    assert_eq!(by_queue.items.len(), 2);
    let batch_s = batch.to_string();
    let by_batch = app
        .client
        .list_jobs(&[("batch_id", batch_s.as_str())])
        .await
        .unwrap();
    assert_eq!(by_batch.items.len(), 5);
    assert!(app
        .client
        .list_jobs(&[("state", "completed")])
        .await
        .unwrap()
        .items
        .is_empty());
    let err = app
        .client
        .list_jobs(&[("state", "exploded")])
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().code, "invalid_query");
    let err = app
        .client
        .list_jobs(&[("cursor", "garbage")])
        .await
        .unwrap_err();
    assert_eq!(err.problem().unwrap().code, "invalid_cursor");

    let detail = app.client.get_job(ids[0]).await.unwrap();
    assert_eq!(detail.job.kind, "demo.a");
    assert_eq!(detail.job.args, json!({"i": 0}));
    assert_eq!(detail.job.state, JobState::Available);
    assert_eq!(detail.history.len(), 1);
    let raw: serde_json::Value = app
        .client
        .request(reqwest::Method::GET, &format!("/api/v1/jobs/{}", ids[0]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for key in [
        "id",
        "queue",
        "kind",
        "state",
        "args",
        "attempt",
        "max_attempts",
        "run_at",
        "result",
        "errors",
        "batch_id",
        "created_at",
        "history",
    ] {
        assert!(raw.get(key).is_some(), "job JSON lacks {key}: {raw}");
    }
    assert_eq!(
        app.client.get_job(999_999).await.unwrap_err().status(),
        Some(404)
    );

    let progress = app.client.get_batch(batch).await.unwrap();
    assert_eq!(progress.total, 5);
    assert_eq!(progress.counts.get(&JobState::Available), Some(&5));
    assert!(!progress.finished);
    assert_eq!(
        app.client
            .get_batch(uuid::Uuid::now_v7())
            .await
            .unwrap_err()
            .status(),
        Some(404)
    );
    app.stop().await;
}

async fn cancel_and_retry_through_the_api_are_audited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let later = cc_domain::now() + chrono::Duration::hours(1);
    let id = cc_queue::ops::enqueue(
        app.store.as_ref(),
        &NewJob::new("demo.a", json!({})).with_run_at(later),
    )
    .await
    .unwrap()
    .id;
    let job = app.client.cancel_job(id).await.unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    let job = app.client.retry_job(id).await.unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Available, 0));
    let err = app.client.retry_job(id).await.unwrap_err();
    assert_eq!(err.status(), Some(409));
    assert_eq!(err.problem().unwrap().code, "invalid_state");
    assert_eq!(
        app.client.cancel_job(424_242).await.unwrap_err().status(),
        Some(404)
    );
    let audit = app
        .client
        .list_audit(&[("target_type", "job")])
        .await
        .unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["job.retry", "job.cancel"]);
    assert!(
        audit
            .items
            .iter()
            .all(|e| e.target_id.as_deref() == Some(id.to_string().as_str())
                && e.request_id.is_some())
    );
    let history = app.client.get_job(id).await.unwrap().history;
    let states: Vec<JobState> = history.iter().map(|e| e.state).collect();
    assert_eq!(
        states,
        [
            JobState::Scheduled,
            JobState::Cancelled,
            JobState::Available
        ]
    );
    app.stop().await;
}

async fn event_stream_resumes_and_outlives_the_request_timeout(backend: Backend) {
    let config = cc_api::ApiConfig {
        request_timeout: Duration::from_millis(500),
        ..cc_api::ApiConfig::default()
    };
    let app = TestApp::spawn_with(backend, config.clone(), None).await;
    // A second replica on the same database serves the stream.
    let replica_store = app.db.open().await;
    let replica = cc_api::Server::bind("127.0.0.1:0", cc_api::AppState::new(replica_store, config))
        .await
        .unwrap();
    let replica_url = format!("http://{}", replica.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { replica.run(async move { stopped.cancelled().await }).await });
    let replica_client = cc_client::Client::new(&replica_url).unwrap();

    let mut stream = replica_client.job_events(None).await.unwrap();
    let a = cc_queue::ops::enqueue(app.store.as_ref(), &NewJob::new("demo.a", json!({})))
        .await
        .unwrap()
        .id;
    let first = tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((first.job_id, first.state), (a, JobState::Available));
    assert_eq!(first.kind.as_deref(), Some("demo.a"));
    drop(stream);

    // Missed while disconnected: delivered on resume, in order.
    let b = cc_queue::ops::enqueue(app.store.as_ref(), &NewJob::new("demo.b", json!({})))
        .await
        .unwrap()
        .id;
    let c = cc_queue::ops::enqueue(
        app.store.as_ref(),
        &NewJob::new("system.sleep", json!({"ms": 1200})),
    )
    .await
    .unwrap()
    .id;
    let mut stream = replica_client.job_events(Some(first.seq)).await.unwrap();
    let e = next(&mut stream).await;
    assert_eq!((e.job_id, e.state), (b, JobState::Available));
    assert_eq!(e.seq, first.seq + 1);
    let e = next(&mut stream).await;
    assert_eq!((e.job_id, e.state), (c, JobState::Available));

    // A job that takes longer than the request timeout: its completion still arrives.
    let opened = std::time::Instant::now();
    let worker = RunningWorker::start(
        app.store.clone(),
        Registry::with_builtins(),
        fast_config(&[("default", 4)]),
    );
    let mut states = Vec::new();
    while states.last() != Some(&JobState::Completed) {
        let e = next(&mut stream).await;
        if e.job_id == c {
            states.push(e.state);
        }
    }
    assert_eq!(states, [JobState::Running, JobState::Completed]);
    assert!(opened.elapsed() > Duration::from_millis(1000));
    worker.stop().await;
    stop.cancel();
    app.stop().await;
}

async fn next(stream: &mut cc_client::JobEventStream) -> cc_domain::JobEvent {
    tokio::time::timeout(Duration::from_secs(10), stream.next())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .expect("the stream is open")
}

backend_tests!(
    lists_filters_pages_and_shows_jobs,
    cancel_and_retry_through_the_api_are_audited,
    event_stream_resumes_and_outlives_the_request_timeout,
);
