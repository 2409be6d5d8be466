//! Notices on the event log (in sequence with job events), and one-time request keys.

use super::*;
use cc_domain::{NewNotice, NoticeTopic, StreamEvent};

async fn notices_follow_job_events_in_one_sequence(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let before = store.last_job_event().await.expect("last");
    let job = cc_queue::ops::enqueue(
        store.as_ref(),
        &cc_domain::NewJob::new("system.noop", json!({})),
    )
    .await
    .expect("enqueue");
    let mut tx = store.begin().await.expect("begin");
    tx.append_notice(&NewNotice {
        topic: NoticeTopic::Import,
        subject: "run-1".into(),
        state: "refused".into(),
        note: Some(format!("roster.csv: {}", "x".repeat(1000))),
    })
    .await
    .expect("notice");
    tx.commit().await.expect("commit");
    // A notice rolled back is never seen.
    let mut tx = store.begin().await.expect("begin");
    tx.append_notice(&NewNotice {
        topic: NoticeTopic::Target,
        subject: "ldap".into(),
        state: "failing".into(),
        note: None,
    })
    .await
    .expect("notice");
    drop(tx);

    let events = store.job_events_after(before, 100).await.expect("events");
    assert_eq!(events.len(), 2, "{events:?}");
    match &events[0] {
        StreamEvent::Job(e) => assert_eq!(e.job_id, job.id),
        other => panic!("a job event first: {other:?}"),
    }
    match &events[1] {
        StreamEvent::Notice(n) => {
            assert_eq!(n.topic, NoticeTopic::Import);
            assert_eq!(n.subject, "run-1");
            assert_eq!(n.state, "refused");
            assert_eq!(
                n.note.as_deref().map(str::len),
                Some(cc_domain::notice::MAX_NOTE)
            );
        }
        other => panic!("then the notice: {other:?}"),
    }
    assert!(events[1].seq() > events[0].seq());
    assert_eq!(store.last_job_event().await.expect("last"), events[1].seq());
    // A job's own history has no notices.
    assert_eq!(store.job_history(job.id).await.expect("history").len(), 1);
}

async fn a_request_key_is_taken_once(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.request_key_job("form:1").await.expect("read"), None);
    assert!(tx.insert_request_key("form:1", 7).await.expect("insert"));
    assert!(!tx.insert_request_key("form:1", 8).await.expect("again"));
    tx.commit().await.expect("commit");
    let mut tx = store.begin().await.expect("begin");
    assert_eq!(tx.request_key_job("form:1").await.expect("read"), Some(7));
    assert_eq!(tx.request_key_job("form:2").await.expect("read"), None);
    drop(tx);
}

backend_tests!(
    notices_follow_job_events_in_one_sequence,
    a_request_key_is_taken_once,
);
