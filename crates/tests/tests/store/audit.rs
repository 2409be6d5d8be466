//! The audit chain: sequence numbers, hashes, filters.

use super::*;

async fn audit_append_assigns_gapless_seq_and_chains_hashes(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let events = append(
        &store,
        (1..=5)
            .map(|i| event("user.update", &format!("u{i}")))
            .collect(),
    )
    .await;

    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(events[0].prev_hash, GENESIS_HASH);
    for pair in events.windows(2) {
        assert_eq!(
            pair[1].prev_hash, pair[0].hash,
            "event {} links to its predecessor",
            pair[1].seq
        );
    }
    let stored = store.audit_after(0, 100).await.expect("events");
    assert_eq!(stored, events, "what was appended is what is read back");
    for e in &stored {
        assert_eq!(
            e.content_hash(),
            e.hash,
            "event {} hashes to its stored hash",
            e.seq
        );
    }
    assert_eq!(
        store.audit_head().await.expect("head"),
        (5, events[4].hash.clone())
    );
    let window: Vec<i64> = store
        .audit_after(2, 2)
        .await
        .expect("window")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(window, [3, 4]);
    let report = cc_service::verify_chain(store.as_ref())
        .await
        .expect("verify");
    assert_eq!(
        (report.checked, report.head_seq, report.first_break),
        (5, 5, None)
    );
}

async fn audit_events_keep_json_values_exactly(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let tricky = json!({
        "negative_zero": -0.0, "float": 0.1, "big": 12_345_678_901_234_567_u64, "neg": -42,
        "exp": 1e300, "huge_float": 1e16, "negative_huge_float": -1e16, "nested": {"b": [1, 2.5, null, true], "a": "ünïcode ✓"}, "empty": {}
    });
    let events = append(
        &store,
        vec![NewAuditEvent {
            before: Some(tricky.clone()),
            after: Some(tricky),
            ..event("device.update", "d1")
        }],
    )
    .await;
    let report = cc_service::verify_chain(store.as_ref())
        .await
        .expect("verify");
    assert_eq!(
        report.first_break, None,
        "stored JSON must hash like the JSON that was sealed"
    );
    assert_eq!(report.checked, 1);
    let stored = store.audit_after(0, 1).await.expect("events");
    assert_eq!(stored[0].hash, events[0].hash);
}

async fn list_audit_applies_every_filter_newest_first(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let with = |actor: &str, action: &str, target: &str, request: Option<&str>| NewAuditEvent {
        actor: actor.into(),
        request_id: request.map(Into::into),
        ..event(action, target)
    };
    let events = append(
        &store,
        vec![
            with("operator:admin", "user.create", "u1", Some("req-1")),
            with("operator:admin", "user.update", "u1", Some("req-2")),
            with("system:seed", "group.create", "g1", None),
            with("operator:ops", "user.delete", "u2", Some("req-2")),
            with("operator:admin", "device.update", "d1", Some("req-3")),
            with("operator:admin", "user_sync.run", "u1", None),
        ],
    )
    .await;
    let list = |q: AuditQuery| {
        let store = store.clone();
        async move {
            let q = AuditQuery {
                limit: if q.limit == 0 { 100 } else { q.limit },
                ..q
            };
            store
                .list_audit(&q)
                .await
                .expect("list")
                .iter()
                .map(|e| e.seq)
                .collect::<Vec<_>>()
        }
    };
    let q = AuditQuery::default;

    assert_eq!(list(q()).await, [6, 5, 4, 3, 2, 1], "newest first");
    assert_eq!(
        list(AuditQuery {
            actor: Some("operator:admin".into()),
            ..q()
        })
        .await,
        [6, 5, 2, 1]
    );
    assert_eq!(
        list(AuditQuery {
            action: Some("user.update".into()),
            ..q()
        })
        .await,
        [2]
    );
    assert_eq!(
        list(AuditQuery {
            action: Some("user.".into()),
            ..q()
        })
        .await,
        [4, 2, 1],
        "prefix"
    );
    assert!(
        list(AuditQuery {
            action: Some("user".into()),
            ..q()
        })
        .await
        .is_empty(),
        "exact"
    );
    assert_eq!(
        list(AuditQuery {
            target_type: Some("user".into()),
            target_id: Some("u1".into()),
            ..q()
        })
        .await,
        [2, 1]
    );
    assert_eq!(
        list(AuditQuery {
            target_id: Some("u1".into()),
            ..q()
        })
        .await,
        [6, 2, 1]
    );
    assert_eq!(
        list(AuditQuery {
            request_id: Some("req-2".into()),
            ..q()
        })
        .await,
        [4, 2]
    );
    assert_eq!(
        list(AuditQuery {
            before_seq: Some(4),
            ..q()
        })
        .await,
        [3, 2, 1]
    );
    assert_eq!(list(AuditQuery { limit: 2, ..q() }).await, [6, 5]);
    assert_eq!(
        list(AuditQuery {
            before_seq: Some(5),
            limit: 2,
            ..q()
        })
        .await,
        [4, 3]
    );

    // since is inclusive, until exclusive; compare with what the events recorded.
    let pivot = events[3].occurred_at;
    let at_or_after: Vec<i64> = events
        .iter()
        .rev()
        .filter(|e| e.occurred_at >= pivot)
        .map(|e| e.seq)
        .collect();
    let before: Vec<i64> = events
        .iter()
        .rev()
        .filter(|e| e.occurred_at < pivot)
        .map(|e| e.seq)
        .collect();
    assert!(at_or_after.contains(&4) && !before.contains(&4));
    assert_eq!(
        list(AuditQuery {
            since: Some(pivot),
            ..q()
        })
        .await,
        at_or_after
    );
    assert_eq!(
        list(AuditQuery {
            until: Some(pivot),
            ..q()
        })
        .await,
        before
    );
    assert_eq!(
        list(AuditQuery {
            since: Some(events[0].occurred_at),
            until: Some(pivot),
            actor: Some("system:seed".into()),
            ..q()
        })
        .await,
        [3]
    );
    let later = events[5].occurred_at + chrono::Duration::seconds(1);
    assert!(list(AuditQuery {
        since: Some(later),
        ..q()
    })
    .await
    .is_empty());
}

backend_tests!(
    audit_append_assigns_gapless_seq_and_chains_hashes,
    audit_events_keep_json_values_exactly,
    list_audit_applies_every_filter_newest_first,
);
