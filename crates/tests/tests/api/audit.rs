//! The audit trail over HTTP: one event per mutation, listing, and verification.

use super::*;

async fn every_mutation_writes_exactly_one_audit_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user_json = student_json("ada");

    let (ada, e) = audited(
        &app,
        "req-user-create",
        api(&app, Method::POST, "/users").json(&user_json),
    )
    .await;
    let user = format!("/users/{}", ada.id());
    assert_eq!(
        (e.action.as_str(), e.target_type.as_str()),
        ("user.create", "user")
    );
    assert_eq!(e.target_id, Some(ada.id().to_string()));
    // The record as created; the sync state in the answer is derived, not recorded.
    let mut record = ada.body.clone();
    if let Some(u) = record.as_object_mut() {
        u.remove("sync");
    }
    assert_eq!(
        (e.before, e.after),
        (None, Some(record)),
        "a create records the whole record"
    );

    let (_, e) = audited(
        &app,
        "req-user-update",
        api(&app, Method::PATCH, &user).json(&json!({"grade": 10})),
    )
    .await;
    assert_eq!(e.action, "user.update");
    assert_eq!(
        e.before,
        Some(json!({"grade": 9, "version": 1})),
        "only what changed, and the version"
    );
    assert_eq!(e.after, Some(json!({"grade": 10, "version": 2})));

    let (g, e) = audited(
        &app,
        "req-group-create",
        api(&app, Method::POST, "/groups").json(&group_json("algebra")),
    )
    .await;
    let group = format!("/groups/{}", g.id());
    assert_eq!(
        (e.action.as_str(), e.target_id),
        ("group.create", Some(g.id().to_string()))
    );

    let (_, e) = audited(
        &app,
        "req-group-update",
        api(&app, Method::PATCH, &group).json(&json!({"display_name": "Algebra"})),
    )
    .await;
    assert_eq!(e.action, "group.update");
    assert_eq!(
        e.after,
        Some(json!({"display_name": "Algebra", "version": 2}))
    );

    let member = format!("{group}/members/{}", ada.id());
    let (_, e) = audited(&app, "req-member-add", api(&app, Method::PUT, &member)).await;
    assert_eq!(
        (e.action.as_str(), e.target_type.as_str()),
        ("group.member_add", "group")
    );
    assert_eq!(
        e.after,
        Some(json!({"user_id": ada.id(), "group": "algebra"}))
    );
    let (_, e) = audited(
        &app,
        "req-member-remove",
        api(&app, Method::DELETE, &member),
    )
    .await;
    assert_eq!((e.action.as_str(), e.after), ("group.member_remove", None));
    assert_eq!(
        e.before,
        Some(json!({"user_id": ada.id(), "group": "algebra"}))
    );

    let (d, e) = audited(
        &app,
        "req-device-create",
        api(&app, Method::POST, "/devices").json(&device_json("SN-1")),
    )
    .await;
    let device = format!("/devices/{}", d.id());
    assert_eq!(e.action, "device.create");
    let (_, e) = audited(
        &app,
        "req-device-update",
        api(&app, Method::PATCH, &device).json(&json!({"name": "LAB-1"})),
    )
    .await;
    assert_eq!(
        (e.action.as_str(), e.after),
        (
            "device.update",
            Some(json!({"name": "LAB-1", "version": 2}))
        )
    );

    let (p, e) = audited(
        &app,
        "req-policy-create",
        api(&app, Method::POST, "/policies").json(&policy_json("encryption")),
    )
    .await;
    let policy = format!("/policies/{}", p.id());
    assert_eq!(e.action, "policy.create");
    let (_, e) = audited(
        &app,
        "req-policy-update",
        api(&app, Method::PATCH, &policy).json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(
        (e.action.as_str(), e.after),
        (
            "policy.update",
            Some(json!({"enabled": false, "version": 2}))
        )
    );

    let current_device = get(&app, &device).await.body;
    let (_, e) = audited(
        &app,
        "req-device-delete",
        api(&app, Method::DELETE, &device),
    )
    .await;
    assert_eq!(
        (e.action.as_str(), e.before, e.after),
        ("device.delete", Some(current_device), None)
    );
    let (_, e) = audited(
        &app,
        "req-policy-delete",
        api(&app, Method::DELETE, &policy),
    )
    .await;
    assert_eq!(e.action, "policy.delete");
    let (_, e) = audited(&app, "req-group-delete", api(&app, Method::DELETE, &group)).await;
    assert_eq!(e.action, "group.delete");
    let mut current_user = get(&app, &user).await.body;
    // The audit trail records the person, not the sync state derived from their jobs.
    if let Some(u) = current_user.as_object_mut() {
        u.remove("sync");
    }
    let (_, e) = audited(&app, "req-user-delete", api(&app, Method::DELETE, &user)).await;
    assert_eq!(
        (e.action.as_str(), e.before, e.after),
        ("user.delete", Some(current_user), None)
    );

    let report = app.client.verify_audit().await.expect("verify");
    assert_eq!(
        (report["intact"].as_bool(), report["checked"].as_i64()),
        (Some(true), Some(14))
    );
    app.stop().await;
}

async fn a_generated_request_id_is_the_one_recorded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = post(&app, "/users", &student_json("ada")).await;
    let events = app.store.audit_after(0, 1).await.expect("events");
    assert_eq!(events[0].request_id.as_deref(), Some(r.request_id()));
    app.stop().await;
}

/// Six users created and two updated: eight events, the updates carrying request id `upd`.
async fn eight_events(app: &TestApp) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for name in ["u1", "u2", "u3", "u4", "u5", "u6"] {
        ids.push(create(app, "/users", &student_json(name)).await.id());
    }
    for id in &ids[..2] {
        let rb = api(app, Method::PATCH, &format!("/users/{id}"))
            .header("x-request-id", "upd")
            .json(&json!({"grade": 12}));
        assert_eq!(call(rb).await.status, StatusCode::OK);
    }
    ids
}

fn seqs(page: &cc_domain::Page<AuditEvent>) -> Vec<i64> {
    page.items.iter().map(|e| e.seq).collect()
}

async fn audit_list_filters_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = eight_events(&app).await;
    create(&app, "/groups", &group_json("algebra")).await;
    let list = |query: Vec<(&'static str, String)>| {
        let client = app.client.clone();
        async move {
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            seqs(&client.list_audit(&q).await.expect("list audit"))
        }
    };
    let s = |v: &str| v.to_owned();

    assert_eq!(list(vec![]).await, [9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert_eq!(list(vec![("action", s("user.update"))]).await, [8, 7]);
    assert_eq!(
        list(vec![("action", s("user."))]).await,
        [8, 7, 6, 5, 4, 3, 2, 1]
    );
    assert_eq!(list(vec![("action", s("group.create"))]).await, [9]);
    assert_eq!(list(vec![("actor", s(ANONYMOUS))]).await.len(), 9);
    assert!(list(vec![("actor", s("operator:nobody"))]).await.is_empty());
    assert_eq!(
        list(vec![
            ("target_type", s("user")),
            ("target_id", ids[0].to_string())
        ])
        .await,
        [7, 1]
    );
    assert_eq!(list(vec![("request_id", s("upd"))]).await, [8, 7]);

    let events = app.store.audit_after(0, 100).await.expect("events");
    let stamp = |e: &AuditEvent| {
        e.occurred_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let pivot = &events[6];
    let from: Vec<i64> = events
        .iter()
        .rev()
        .filter(|e| e.occurred_at >= pivot.occurred_at)
        .map(|e| e.seq)
        .collect();
    let before: Vec<i64> = events
        .iter()
        .rev()
        .filter(|e| e.occurred_at < pivot.occurred_at)
        .map(|e| e.seq)
        .collect();
    assert_eq!(list(vec![("since", stamp(pivot))]).await, from);
    assert_eq!(list(vec![("until", stamp(pivot))]).await, before);
    let upd_since = list(vec![("since", stamp(pivot)), ("request_id", s("upd"))]).await;
    assert_eq!(upd_since, [8, 7], "since is inclusive");
    let upd_until = list(vec![("until", stamp(pivot)), ("request_id", s("upd"))]).await;
    assert!(upd_until.is_empty(), "until is exclusive");
    app.stop().await;
}

async fn audit_pagination_visits_every_event_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    eight_events(&app).await;
    for (filter, expected) in [
        (None, (1..=8).rev().collect::<Vec<i64>>()),
        (Some("user.update"), vec![8, 7]),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q: Vec<(&str, &str)> = vec![("limit", "3")];
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            if let Some(a) = filter {
                q.push(("action", a));
            }
            let page = app.client.list_audit(&q).await.expect("page");
            assert!(page.items.len() <= 3);
            seen.extend(seqs(&page));
            pages += 1;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(pages < 10, "pagination does not terminate");
        }
        assert_eq!(seen, expected, "filter {filter:?}");
    }
    app.stop().await;
}

async fn verify_reports_intact_then_tampered_then_missing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    eight_events(&app).await;
    let report = app.client.verify_audit().await.expect("verify");
    assert_eq!(
        report,
        json!({"intact": true, "checked": 8, "head_seq": 8, "first_break": null})
    );

    exec_sql(
        &app.db,
        r#"UPDATE audit_events SET after = '{"grade": 1}' WHERE seq = 5"#,
    )
    .await;
    let report = app.client.verify_audit().await.expect("verify");
    assert_eq!(report["intact"], false);
    assert_eq!(report["checked"], 4);
    assert_eq!(
        (
            report["first_break"]["seq"].as_i64(),
            report["first_break"]["kind"].as_str()
        ),
        (Some(5), Some("tampered"))
    );

    exec_sql(&app.db, "DELETE FROM audit_events WHERE seq = 3").await;
    let report = app.client.verify_audit().await.expect("verify");
    assert_eq!(report["intact"], false);
    assert_eq!(
        (
            report["first_break"]["seq"].as_i64(),
            report["first_break"]["kind"].as_str()
        ),
        (Some(3), Some("missing"))
    );
    app.stop().await;
}

async fn verify_reports_a_truncated_chain(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    eight_events(&app).await;
    exec_sql(&app.db, "DELETE FROM audit_events WHERE seq >= 7").await;
    let report = app.client.verify_audit().await.expect("verify");
    assert_eq!(report["intact"], false);
    assert_eq!(report["checked"], 6);
    assert_eq!(
        (
            report["first_break"]["seq"].as_i64(),
            report["first_break"]["kind"].as_str()
        ),
        (Some(7), Some("truncated"))
    );
    app.stop().await;
}

backend_tests!(
    every_mutation_writes_exactly_one_audit_event,
    a_generated_request_id_is_the_one_recorded,
    audit_list_filters_newest_first,
    audit_pagination_visits_every_event_once,
    verify_reports_intact_then_tampered_then_missing,
    verify_reports_a_truncated_chain,
);
