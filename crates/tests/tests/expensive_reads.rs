//! Expensive reads cannot slow everyone: audit verification is single-flight and cached,
//! expensive requests are bounded per principal, and searches are indexed.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use cc_domain::OperatorRole;
use cc_service::AuditVerifier;
use cc_tests::{backend_tests, student, Backend, TestApp};
use sqlx::Connection;

async fn concurrent_verifications_share_one_run(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["ada", "grace", "alan"] {
        app.client.create_user(&student(name)).await.unwrap();
    }
    let verifier = Arc::new(AuditVerifier::new(app.store.clone()));
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let v = verifier.clone();
            tokio::spawn(async move { v.verify().await.unwrap() })
        })
        .collect();
    let mut reports = Vec::new();
    for c in calls {
        reports.push(c.await.unwrap());
    }
    assert!(reports.iter().all(|r| r == &reports[0]));
    assert_eq!(reports[0].checked, 3);
    assert_eq!(verifier.runs(), 1, "eight callers, one walk of the chain");

    // The chain grew: the next caller gets a new verification that covers it.
    app.client.create_user(&student("edsger")).await.unwrap();
    let r = verifier.verify().await.unwrap();
    assert_eq!((r.checked, verifier.runs()), (4, 2));
    app.stop().await;
}

async fn expensive_requests_are_bounded_per_principal(backend: Backend) {
    let mut config = cc_tests::test_config();
    config.limits.expensive_per_principal = 1;
    let slots = Arc::new(Mutex::new(None));
    let grab = slots.clone();
    let app = TestApp::spawn_customized(backend, config, None, move |state| {
        *grab.lock().unwrap() = Some(state.expensive_slots.clone());
        state
    })
    .await;
    let slots = slots.lock().unwrap().clone().unwrap();
    // admin already has an expensive request in flight.
    let held = slots.try_take("principal:operator:admin", 1).unwrap();

    let e = app.client.verify_audit().await.unwrap_err();
    let p = e.problem().unwrap();
    assert_eq!((p.status, p.code.as_str()), (429, "too_many_concurrent"));
    let e = app.client.list_users(&[("q", "ada")]).await.unwrap_err();
    assert_eq!(e.status(), Some(429));
    // Cheap reads and other callers are not held back.
    app.client.list_users(&[]).await.unwrap();
    let auditor = app.client_as(OperatorRole::Auditor).await;
    auditor.verify_audit().await.unwrap();
    auditor.list_users(&[("q", "ada")]).await.unwrap();

    drop(held);
    app.client.verify_audit().await.unwrap();
    app.client.list_users(&[("q", "ada")]).await.unwrap();
    app.stop().await;
}

backend_tests!(
    concurrent_verifications_share_one_run,
    expensive_requests_are_bounded_per_principal,
);

/// PostgreSQL answers `?q=` from trigram indexes rather than by reading every person.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_searches_use_the_trigram_indexes() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let mut conn = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: Vec<(String,)> = sqlx::query_as(
        "EXPLAIN SELECT id FROM users u WHERE lower(u.username) LIKE '%zzq%' \
         OR lower(u.email) LIKE '%zzq%' OR lower(u.family_name) LIKE '%zzq%'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let plan: String = plan.into_iter().map(|r| r.0 + "\n").collect();
    for index in [
        "users_username_trgm",
        "users_email_trgm",
        "users_family_name_trgm",
    ] {
        assert!(plan.contains(index), "{index} not used:\n{plan}");
    }
    app.stop().await;
}
