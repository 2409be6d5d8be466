//! The Overview's figures (`cc_service::overview`) on both backends: jobs by state, jobs
//! finished per minute, failures, the oldest due job.

use std::time::Duration;

use cc_domain::{JobState, NewJob};
use cc_queue::{handler_fn, JobError, Registry};
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};
use serde_json::json;

async fn overview_counts_finished_and_failing_jobs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.store.clone();
    let empty = cc_service::overview::overview(&store, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(empty.completed_per_minute.len(), 60);
    assert!(empty.completed_per_minute.iter().all(|n| *n == 0));
    assert_eq!(empty.oldest_due, None);

    let mut registry = Registry::with_builtins();
    registry.register(handler_fn("test.doomed", |_, _| async move {
        Err::<serde_json::Value, _>(JobError::Permanent("never".into()))
    }));
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 2)]));
    for kind in ["system.noop", "system.noop", "test.doomed"] {
        let mut job = NewJob::new(kind, json!({}));
        job.max_attempts = 1;
        cc_queue::ops::enqueue(store.as_ref(), &job).await.unwrap();
    }
    let figures = wait_for("the jobs to finish", Duration::from_secs(20), || {
        let store = store.clone();
        async move {
            let o = cc_service::overview::overview(&store, chrono::Utc::now())
                .await
                .unwrap();
            // The figures are separate reads run at once: wait until every one has seen the
            // three jobs finish, not only the counts by state.
            let series = |v: &[i64]| v.iter().sum::<i64>();
            (o.count(JobState::Completed) == 2
                && o.count(JobState::Discarded) == 1
                && series(&o.completed_per_minute) == 2
                && series(&o.discarded_per_minute) == 1
                && o.discarded_jobs.len() == 1
                && o.recent_jobs.len() == 3)
                .then_some(o)
        }
    })
    .await;
    worker.stop().await;
    assert_eq!(figures.completed_per_minute.iter().sum::<i64>(), 2);
    assert_eq!(figures.discarded_per_minute.iter().sum::<i64>(), 1);
    assert!(
        figures.completed_per_minute[58..].iter().sum::<i64>() == 2,
        "in the last minute or two of the series: {:?}",
        figures.completed_per_minute
    );
    assert_eq!(figures.discarded_jobs.len(), 1);
    assert_eq!(figures.discarded_jobs[0].kind, "test.doomed");
    assert_eq!(figures.recent_jobs.len(), 3);

    // A job waiting with no worker: counted, with its age.
    cc_queue::ops::enqueue(store.as_ref(), &NewJob::new("system.noop", json!({})))
        .await
        .unwrap();
    let o = cc_service::overview::overview(&store, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(o.count(JobState::Available), 1);
    assert!(o.oldest_due.is_some());
    app.stop().await;
}

backend_tests!(overview_counts_finished_and_failing_jobs);
