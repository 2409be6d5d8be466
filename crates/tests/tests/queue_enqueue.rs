//! Enqueueing: transactional with the write that causes it, bulk, unique keys, scheduling,
//! priority.

use cc_domain::{JobQuery, JobState, NewJob};
use cc_store::jobs::ClaimRequest;
use cc_tests::{backend_tests, student, wait_for, Backend, TestDb};
use chrono::Duration as ChronoDuration;
use serde_json::json;
use std::time::Duration;

fn all() -> JobQuery {
    JobQuery {
        limit: 500,
        ..JobQuery::default()
    }
}

async fn rolled_back_transaction_leaves_no_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let user = student("ada")
        .into_user(cc_domain::new_id(), cc_domain::now())
        .unwrap();

    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&user).await.unwrap();
    let one = tx
        .enqueue(&NewJob::new("user.provision", json!({"user_id": user.id})))
        .await
        .unwrap();
    let many = tx
        .enqueue_many(&[
            NewJob::new("system.noop", json!({})),
            NewJob::new("system.noop", json!({})),
        ])
        .await
        .unwrap();
    drop(tx); // rolled back

    assert!(store.get_user(user.id).await.unwrap().is_none());
    assert!(store.get_job(one.id).await.unwrap().is_none());
    for id in many {
        assert!(store.get_job(id).await.unwrap().is_none());
    }
    assert!(store.list_jobs(&all()).await.unwrap().items.is_empty());
    assert!(store.job_history(one.id).await.unwrap().is_empty());

    // The same write committed: the user and its job both exist.
    let mut tx = store.begin().await.unwrap();
    tx.insert_user(&user).await.unwrap();
    let e = tx
        .enqueue(&NewJob::new("user.provision", json!({"user_id": user.id})))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(store.get_user(user.id).await.unwrap().is_some());
    let job = store.get_job(e.id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Available);
    assert_eq!((job.attempt, job.max_attempts), (0, 5));
    assert_eq!(job.args, json!({"user_id": user.id}));
    let history = store.job_history(e.id).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].state, JobState::Available);
}

async fn bulk_enqueue_keeps_order_and_fields(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let batch = uuid::Uuid::now_v7();
    let jobs: Vec<NewJob> = (0..1200)
        .map(|i| {
            let mut j = NewJob::new("system.noop", json!({"i": i}))
                .with_batch(batch)
                .with_queue("bulk")
                .with_priority(i16::try_from(i % 3).unwrap());
            j.created_by = Some("system:test".into());
            if i == 7 {
                j = j.with_unique_key("bulk-unique");
            }
            j
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    let ids = tx.enqueue_many(&jobs).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids.len(), 1200);
    let mut distinct = ids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 1200);
    for (i, id) in ids.iter().enumerate().step_by(97) {
        let job = store.get_job(*id).await.unwrap().unwrap();
        assert_eq!(job.args, json!({"i": i}));
        assert_eq!(job.batch_id, Some(batch));
        assert_eq!(job.queue, "bulk");
        assert_eq!(job.created_by.as_deref(), Some("system:test"));
        assert_eq!(job.state, JobState::Available);
    }
    let counts = store.batch_counts(batch).await.unwrap();
    assert_eq!(counts, vec![(JobState::Available, 1200)]);
    assert_eq!(
        store
            .get_job(ids[7])
            .await
            .unwrap()
            .unwrap()
            .unique_key
            .as_deref(),
        Some("bulk-unique")
    );
}

async fn duplicate_unique_key_returns_the_existing_job(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let job =
        NewJob::new("user.provision", json!({"user": "ada"})).with_unique_key("provision:ada");
    let first = cc_queue::ops::enqueue(store.as_ref(), &job).await.unwrap();
    assert!(!first.duplicate);
    let second = cc_queue::ops::enqueue(store.as_ref(), &job).await.unwrap();
    assert_eq!(second.id, first.id);
    assert!(second.duplicate);
    let mut tx = store.begin().await.unwrap();
    let ids = tx
        .enqueue_many(&[job.clone(), NewJob::new("system.noop", json!({}))])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(ids[0], first.id);
    assert_eq!(store.list_jobs(&all()).await.unwrap().items.len(), 2);

    // Once the holder finishes, the key is free again.
    let now = cc_domain::now();
    let claimed = store
        .claim_jobs(&ClaimRequest {
            worker_id: "w",
            queue: "default",
            kinds: None,
            limit: 10,
            now,
            lease_ttl: std::time::Duration::from_secs(30),
        })
        .await
        .unwrap();
    let lease = claimed
        .iter()
        .find(|c| c.lease.job_id == first.id)
        .unwrap()
        .lease;
    let done = store
        .complete_jobs(cc_store::jobs::Finish {
            worker_id: "w",
            now,
            items: &[cc_store::jobs::Completion::new(lease, None)],
        })
        .await
        .unwrap();
    assert_eq!(done, vec![first.id]);
    let third = cc_queue::ops::enqueue(store.as_ref(), &job).await.unwrap();
    assert!(!third.duplicate);
    assert_ne!(third.id, first.id);
}

async fn scheduled_jobs_wait_for_run_at_and_priority_orders_claims(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let now = cc_domain::now();
    let later = cc_queue::ops::enqueue(
        store.as_ref(),
        &NewJob::new("system.noop", json!({})).with_run_at(now + ChronoDuration::hours(1)),
    )
    .await
    .unwrap();
    let soon = cc_queue::ops::enqueue(
        store.as_ref(),
        &NewJob::new("system.noop", json!({})).with_run_at(now + ChronoDuration::milliseconds(400)),
    )
    .await
    .unwrap();
    assert_eq!(
        store.get_job(later.id).await.unwrap().unwrap().state,
        JobState::Scheduled
    );
    let low = cc_queue::ops::enqueue(
        store.as_ref(),
        &NewJob::new("system.noop", json!({"p": "low"})),
    )
    .await
    .unwrap();
    let high = cc_queue::ops::enqueue(
        store.as_ref(),
        &NewJob::new("system.noop", json!({"p": "high"})).with_priority(5),
    )
    .await
    .unwrap();

    let claim = |limit: u32| {
        let store = store.clone();
        async move {
            let now = cc_domain::now();
            store
                .claim_jobs(&ClaimRequest {
                    worker_id: "w",
                    queue: "default",
                    kinds: None,
                    limit,
                    now,
                    lease_ttl: std::time::Duration::from_secs(30),
                })
                .await
                .unwrap()
        }
    };
    let first = claim(1).await;
    assert_eq!(first[0].lease.job_id, high.id, "higher priority first");
    let second = claim(1).await;
    assert_eq!(second[0].lease.job_id, low.id);
    // The scheduled job is not claimable until its time, then it is.
    let claimed_soon = wait_for(
        "the scheduled job to become due",
        Duration::from_secs(5),
        || async move {
            let got = claim(10).await;
            (!got.is_empty()).then_some(got)
        },
    )
    .await;
    assert_eq!(claimed_soon.len(), 1);
    assert_eq!(claimed_soon[0].lease.job_id, soon.id);
    let job = store.get_job(soon.id).await.unwrap().unwrap();
    assert!(job.attempted_at.unwrap() >= job.run_at);
    assert_eq!(
        store.get_job(later.id).await.unwrap().unwrap().state,
        JobState::Scheduled
    );
}

async fn invalid_jobs_are_rejected(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let mut tx = store.begin().await.unwrap();
    let err = tx
        .enqueue(&NewJob::new("", json!({})).with_max_attempts(0))
        .await
        .unwrap_err();
    let cc_store::StoreError::Invalid(v) = err else {
        panic!("expected a validation error, got {err:?}")
    };
    let fields: Vec<&str> = v.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["kind", "max_attempts"]);
}

backend_tests!(
    rolled_back_transaction_leaves_no_job,
    bulk_enqueue_keeps_order_and_fields,
    duplicate_unique_key_returns_the_existing_job,
    scheduled_jobs_wait_for_run_at_and_priority_orders_claims,
    invalid_jobs_are_rejected,
);
