//! Expensive reads cannot slow everyone: audit verification is single-flight and cached,
//! expensive requests are bounded per principal, and searches are indexed.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_domain::OperatorRole;
use cc_service::AuditVerifier;
use cc_tests::{backend_tests, student, wait_for, Backend, TestApp};
use sqlx::Connection;

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

backend_tests!(expensive_requests_are_bounded_per_principal,);

/// Eight callers arriving while a verification runs share it. The verification is held at a
/// table lock (PostgreSQL blocks readers behind `ACCESS EXCLUSIVE`) until all have arrived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_verifications_share_one_run() {
    let app = TestApp::spawn(Backend::Postgres).await;
    for name in ["ada", "grace", "alan"] {
        app.client.create_user(&student(name)).await.unwrap();
    }
    let verifier = Arc::new(AuditVerifier::new(app.store.clone()));
    let mut lock = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut lock).await.unwrap();
    sqlx::query("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut lock)
        .await
        .unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let v = verifier.clone();
            tokio::spawn(async move { v.verify().await.unwrap() })
        })
        .collect();
    let v = verifier.clone();
    wait_for("eight callers", Duration::from_secs(15), || {
        let v = v.clone();
        async move { (v.callers() == 8).then_some(()) }
    })
    .await;
    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let mut reports = Vec::new();
    for c in calls {
        reports.push(c.await.unwrap());
    }
    assert!(reports.iter().all(|r| r == &reports[0]));
    assert_eq!(reports[0].checked, 3);
    assert_eq!(verifier.runs(), 1, "eight callers, one walk of the chain");

    // A caller after it finished gets a new verification (nothing stale is kept).
    app.client.create_user(&student("edsger")).await.unwrap();
    let r = verifier.verify().await.unwrap();
    assert_eq!((r.checked, verifier.runs()), (4, 2));
    app.stop().await;
}

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

/// A statement running past `statement_timeout` is cancelled by PostgreSQL and answered as a
/// plain 503 problem, without the SQL or the server's message; the connection it ran on (the
/// only one in the pool) serves the next request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cancels_a_statement_past_the_timeout() {
    let pool = cc_store::PoolConfig {
        max_connections: 1,
        statement_timeout: Some(Duration::from_millis(300)),
        ..cc_store::PoolConfig::default()
    };
    let app = TestApp::spawn_with_pool(Backend::Postgres, cc_tests::test_config(), &pool).await;
    // Another session holds the people table: the API's insert waits on it past the timeout.
    let mut blocker = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
    sqlx::query("BEGIN").execute(&mut blocker).await.unwrap();
    sqlx::query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let res = app
        .client
        .request(reqwest::Method::POST, "/api/v1/users")
        .json(&student("ada"))
        .send()
        .await
        .unwrap();
    let waited = started.elapsed();
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "problem+json"
    );
    let body = res.text().await.unwrap();
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["code"], "service_unavailable", "{body}");
    for leak in ["INSERT", "users", "statement", "canceling", "57014"] {
        assert!(!body.contains(leak), "the answer shows `{leak}`: {body}");
    }
    assert!(
        waited < Duration::from_secs(5),
        "cancelled by the statement timeout, not the request timeout ({waited:?})"
    );
    sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
    // The pool's one connection is usable again at once.
    let ada = app.client.create_user(&student("ada")).await.unwrap();
    assert_eq!(ada.username, "ada");
    app.stop().await;
}
