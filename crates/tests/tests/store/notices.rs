//! Notices on the event log (in sequence with job events), and one-time request keys.

use super::*;
use std::time::Duration;

use cc_domain::{NewNotice, NoticeTopic, StreamEvent};
use cc_tests::wait_for;

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

fn notice(subject: &str) -> NewNotice {
    NewNotice {
        topic: NoticeTopic::Target,
        subject: subject.into(),
        state: "failing".into(),
        note: None,
    }
}

/// A number taken by a transaction still open leaves a gap in the event log; readers wait for
/// it. On PostgreSQL the store says when such a gap is final: every transaction open when the
/// gap was seen has ended (one that began later cannot hold a number below what was seen).
/// SQLite cannot tell (`None`): readers wait their fixed time there.
async fn a_gap_in_event_numbers_is_final_once_the_transactions_open_at_its_mark_end(
    backend: Backend,
) {
    let (_db, store) = fresh(backend).await;
    let before = store.last_job_event().await.expect("last");
    if backend == Backend::Sqlite {
        assert_eq!(store.event_gap_mark().await.expect("mark"), None);
        assert!(!store
            .event_gap_settled(cc_domain::now())
            .await
            .expect("settled"));
        return;
    }
    // A transaction takes a number and stays open; a later number commits.
    let mut open = store.begin().await.expect("begin");
    open.append_notice(&notice("held")).await.expect("notice");
    let mut tx = store.begin().await.expect("begin");
    tx.append_notice(&notice("committed"))
        .await
        .expect("notice");
    tx.commit().await.expect("commit");
    let seen = store.job_events_after(before, 100).await.expect("events");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].seq(),
        before + 2,
        "the open transaction holds {}",
        before + 1
    );
    let mark = store
        .event_gap_mark()
        .await
        .expect("mark")
        .expect("PostgreSQL can tell");
    assert!(
        !store.event_gap_settled(mark).await.expect("settled"),
        "the transaction holding the missing number is still open"
    );
    drop(open);
    // One that begins after the mark does not hold it back.
    let mut later = store.begin().await.expect("begin");
    later.append_notice(&notice("later")).await.expect("notice");
    wait_for(
        "the gap to be final once the holder rolled back",
        Duration::from_secs(15),
        || {
            let store = store.clone();
            async move {
                store
                    .event_gap_settled(mark)
                    .await
                    .expect("settled")
                    .then_some(())
            }
        },
    )
    .await;
    let after = store.job_events_after(before, 100).await.expect("events");
    assert_eq!(
        seqs(&after),
        [before + 2],
        "the rolled-back number never appears"
    );
    later.commit().await.expect("commit");
}

fn seqs(events: &[StreamEvent]) -> Vec<i64> {
    events.iter().map(StreamEvent::seq).collect()
}

backend_tests!(
    a_gap_in_event_numbers_is_final_once_the_transactions_open_at_its_mark_end,
    notices_follow_job_events_in_one_sequence,
    a_request_key_is_taken_once,
);
