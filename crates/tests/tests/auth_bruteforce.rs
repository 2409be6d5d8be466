//! Login throttling and lockout, and that a login answer never tells whether a name exists.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use cc_domain::{NewOperator, OperatorRole};
use cc_tests::{backend_tests, test_config, wait_for, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

struct Answer {
    status: u16,
    code: String,
    detail: String,
    retry_after: Option<u64>,
}

async fn attempt(app: &TestApp, username: &str, password: &str) -> Answer {
    attempt_from(app, None, username, password).await
}

/// A login attempt from `client` (sent as `X-Forwarded-For`, which apps made by
/// [`app_behind_proxy`] believe).
async fn attempt_from(
    app: &TestApp,
    client: Option<&str>,
    username: &str,
    password: &str,
) -> Answer {
    let mut req = app
        .anonymous()
        .request(Method::POST, "/api/v1/auth/login")
        .json(&json!({"username": username, "password": password}));
    if let Some(ip) = client {
        req = req.header("x-forwarded-for", ip);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body: Value = res.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        code: body["code"].as_str().unwrap_or("").to_owned(),
        detail: body["detail"].as_str().unwrap_or("").to_owned(),
        retry_after,
    }
}

async fn app_with_lockout(backend: Backend, lockout_secs: i64) -> TestApp {
    let mut config = test_config();
    let t = &mut config.auth.throttle;
    t.name_throttle_after = 3;
    t.name_lockout_after = 5;
    t.lockout_secs = lockout_secs;
    t.address_throttle_after = 1000;
    t.address_lockout_after = 1000;
    TestApp::spawn_with(backend, config, None).await
}

/// Locks after 5 failures (slowed down after 3), with the loopback peer a trusted proxy so
/// tests can speak from several client addresses.
async fn app_behind_proxy(backend: Backend) -> TestApp {
    let mut config = test_config();
    let t = &mut config.auth.throttle;
    t.name_throttle_after = 3;
    t.name_lockout_after = 5;
    t.lockout_secs = 600;
    t.address_throttle_after = 1000;
    t.address_lockout_after = 1000;
    config.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
    TestApp::spawn_with(backend, config, None).await
}

async fn create(app: &TestApp, username: &str, password: &str) {
    create_with_role(app, username, password, OperatorRole::Operator).await;
}

async fn create_with_role(app: &TestApp, username: &str, password: &str, role: OperatorRole) {
    app.client
        .create_operator(&NewOperator {
            username: username.into(),
            password: password.into(),
            role,
        })
        .await
        .unwrap();
}

/// Waits out a throttle, then makes one counted (wrong) attempt.
async fn failed_attempt_after_waiting(app: &TestApp, username: &str) {
    let a = wait_for(
        "the throttle to let an attempt through",
        Duration::from_secs(20),
        || async {
            let a = attempt(app, username, "wrong password 123").await;
            (a.code != "login_throttled").then_some(a)
        },
    )
    .await;
    assert_eq!((a.status, a.code.as_str()), (401, "invalid_credentials"));
}

async fn failures_slow_down_then_lock_even_the_right_password(backend: Backend) {
    let app = app_with_lockout(backend, 3).await;
    let password = "violet kettle ocean 42";
    create(&app, "mallory-target", password).await;

    for _ in 0..3 {
        let a = attempt(&app, "mallory-target", "wrong password 123").await;
        assert_eq!((a.status, a.code.as_str()), (401, "invalid_credentials"));
    }
    // Slowed down: refused before the password is checked, with Retry-After.
    let a = attempt(&app, "mallory-target", password).await;
    assert_eq!(
        (a.status, a.code.as_str()),
        (429, "login_throttled"),
        "{}",
        a.detail
    );
    assert!(
        matches!(a.retry_after, Some(1..=2)),
        "Retry-After {:?}",
        a.retry_after
    );

    failed_attempt_after_waiting(&app, "mallory-target").await;
    failed_attempt_after_waiting(&app, "mallory-target").await;

    // Five failures: locked. The right password is refused too.
    let a = wait_for("the lock", Duration::from_secs(20), || async {
        let a = attempt(&app, "mallory-target", password).await;
        (a.code != "login_throttled").then_some(a)
    })
    .await;
    assert_eq!(
        (a.status, a.code.as_str()),
        (429, "login_locked"),
        "{}",
        a.detail
    );
    assert!(
        matches!(a.retry_after, Some(1..=3)),
        "Retry-After {:?}",
        a.retry_after
    );

    let locks = app
        .client
        .list_audit(&[("action", "auth.lockout")])
        .await
        .unwrap();
    assert_eq!(locks.items.len(), 1);
    assert_eq!(
        locks.items[0].target_id.as_deref(),
        Some("operator:mallory-target")
    );
    let failures = app
        .client
        .list_audit(&[("action", "auth.login_failed")])
        .await
        .unwrap();
    assert_eq!(
        failures.items.len(),
        5,
        "throttled and locked attempts are not counted as failures"
    );
    assert!(failures
        .items
        .iter()
        .all(|e| e.actor == "operator:mallory-target"));

    // After the lock the right password works, and the end of the lock is audited.
    let started = Instant::now();
    let ok = wait_for("the lock to end", Duration::from_secs(20), || async {
        let a = attempt(&app, "mallory-target", password).await;
        (a.status == 200).then_some(a)
    })
    .await;
    assert_eq!(ok.status, 200);
    assert!(started.elapsed() < Duration::from_secs(15));
    let ended = app
        .client
        .list_audit(&[("action", "auth.lockout_ended")])
        .await
        .unwrap();
    assert_eq!(ended.items.len(), 1);
    assert_eq!(
        ended.items[0].target_id.as_deref(),
        Some("operator:mallory-target")
    );
    // A success forgets earlier failures.
    let a = attempt(&app, "mallory-target", "wrong password 123").await;
    assert_eq!(a.status, 401);
    app.stop().await;
}

async fn unknown_names_are_throttled_and_locked_alike(backend: Backend) {
    let app = app_with_lockout(backend, 600).await;
    create(&app, "known-op", "violet kettle ocean 42").await;
    for name in ["known-op", "no-such-op"] {
        for _ in 0..3 {
            let a = attempt(&app, name, "wrong password 123").await;
            assert_eq!(
                (a.status, a.code.as_str()),
                (401, "invalid_credentials"),
                "{name}"
            );
            assert_eq!(a.detail, "The username or password is wrong.");
        }
        let a = attempt(&app, name, "wrong password 123").await;
        assert_eq!(
            (a.status, a.code.as_str()),
            (429, "login_throttled"),
            "{name}"
        );
        failed_attempt_after_waiting(&app, name).await;
        failed_attempt_after_waiting(&app, name).await;
        let a = wait_for("the lock", Duration::from_secs(20), || async {
            let a = attempt(&app, name, "x").await;
            (a.code != "login_throttled").then_some(a)
        })
        .await;
        assert_eq!(a.code, "login_locked", "{name}");
    }
    // The unknown name is recorded only as a digest (it might be a mistyped password).
    let events = app.client.list_audit(&[("limit", "500")]).await.unwrap();
    let text = serde_json::to_string(&events.items).unwrap();
    assert!(!text.contains("no-such-op"), "{text}");
    let locks = app
        .client
        .list_audit(&[("action", "auth.lockout")])
        .await
        .unwrap();
    assert_eq!(locks.items.len(), 2);
    assert!(locks.items[0]
        .target_id
        .as_deref()
        .unwrap()
        .starts_with("unknown:"));
    app.stop().await;
}

async fn expired_locks_end_without_another_attempt(backend: Backend) {
    let app = app_with_lockout(backend, 1).await;
    for _ in 0..3 {
        attempt(&app, "ghost", "wrong password 123").await;
    }
    failed_attempt_after_waiting(&app, "ghost").await;
    failed_attempt_after_waiting(&app, "ghost").await;
    let ended = wait_for(
        "the sweeper to end the lock",
        Duration::from_secs(20),
        || async {
            let n = app.auth.end_expired_lockouts().await.unwrap();
            (n > 0).then_some(n)
        },
    )
    .await;
    assert_eq!(ended, 1);
    let events = app
        .client
        .list_audit(&[("action", "auth.lockout_ended")])
        .await
        .unwrap();
    assert_eq!(events.items.len(), 1);
    assert_eq!(events.items[0].actor, "system:auth");
    app.stop().await;
}

async fn an_admin_password_reset_lifts_the_lock(backend: Backend) {
    let app = app_with_lockout(backend, 600).await;
    create(&app, "locked-out", "violet kettle ocean 42").await;
    for _ in 0..3 {
        attempt(&app, "locked-out", "wrong password 123").await;
    }
    failed_attempt_after_waiting(&app, "locked-out").await;
    failed_attempt_after_waiting(&app, "locked-out").await;
    let a = wait_for("the lock", Duration::from_secs(20), || async {
        let a = attempt(&app, "locked-out", "violet kettle ocean 42").await;
        (a.code != "login_throttled").then_some(a)
    })
    .await;
    assert_eq!(a.code, "login_locked");
    let id = app
        .client
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.username == "locked-out")
        .unwrap()
        .id;
    app.client
        .reset_operator_password(id, "a fresh start passphrase")
        .await
        .unwrap();
    assert_eq!(
        attempt(&app, "locked-out", "a fresh start passphrase")
            .await
            .status,
        200
    );
    let ended = app
        .client
        .list_audit(&[("action", "auth.lockout_ended")])
        .await
        .unwrap();
    assert_eq!(ended.items.len(), 1);
    assert_eq!(ended.items[0].actor, "operator:admin");
    app.stop().await;
}

/// Unknown names cost a password verification too (against a dummy hash), so they are not
/// measurably faster to refuse. The bound is loose: it only catches a skipped verification,
/// which is tens of times faster.
async fn unknown_names_take_as_long_as_wrong_passwords(backend: Backend) {
    let mut config = test_config();
    config.auth.throttle.name_throttle_after = 1000;
    config.auth.throttle.name_lockout_after = 1000;
    config.auth.throttle.address_throttle_after = 1000;
    config.auth.throttle.address_lockout_after = 1000;
    let app = TestApp::spawn_with(backend, config, None).await;
    create(&app, "timing-op", "violet kettle ocean 42").await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for i in 0..7 {
        let t = Instant::now();
        assert_eq!(
            attempt(&app, "timing-op", "wrong password 123")
                .await
                .status,
            401
        );
        known.push(t.elapsed());
        let t = Instant::now();
        assert_eq!(
            attempt(&app, &format!("nobody-{i}"), "wrong password 123")
                .await
                .status,
            401
        );
        unknown.push(t.elapsed());
    }
    known.sort();
    unknown.sort();
    let (k, u) = (known[3], unknown[3]);
    assert!(
        u * 4 >= k,
        "unknown names answered in {u:?}, wrong passwords in {k:?}"
    );
    app.stop().await;
}

/// Guessing from one address locks the name only there: the operator still logs in from the
/// address they use, and the lock of an admin is audited with its role, logged and counted.
async fn a_lockout_from_one_address_leaves_the_operator_in(backend: Backend) {
    let app = app_behind_proxy(backend).await;
    let password = "violet kettle ocean 42";
    create_with_role(&app, "head-admin", password, OperatorRole::Admin).await;
    let (home, attacker, elsewhere) = ("198.51.100.20", "203.0.113.66", "2001:db8:5:5::9");
    assert_eq!(
        attempt_from(&app, Some(home), "head-admin", password)
            .await
            .status,
        200
    );

    for _ in 0..3 {
        let a = attempt_from(&app, Some(attacker), "head-admin", "wrong password 123").await;
        assert_eq!(a.status, 401);
    }
    for _ in 0..2 {
        let a = wait_for("the throttle", Duration::from_secs(20), || async {
            let a = attempt_from(&app, Some(attacker), "head-admin", "wrong password 123").await;
            (a.code != "login_throttled").then_some(a)
        })
        .await;
        assert_eq!((a.status, a.code.as_str()), (401, "invalid_credentials"));
    }
    let a = attempt_from(&app, Some(attacker), "head-admin", password).await;
    assert_eq!(
        (a.status, a.code.as_str()),
        (429, "login_locked"),
        "{}",
        a.detail
    );

    // From the address the admin logged in from before: no lock and no wait.
    let a = attempt_from(&app, Some(home), "head-admin", password).await;
    assert_eq!(a.status, 200, "{} {}", a.code, a.detail);
    // From a new address: never locked (at most a short wait while failures are recent).
    let a = wait_for(
        "a login from elsewhere",
        Duration::from_secs(20),
        || async {
            let a = attempt_from(&app, Some(elsewhere), "head-admin", password).await;
            (a.code != "login_throttled").then_some(a)
        },
    )
    .await;
    assert_eq!(a.status, 200, "{} {}", a.code, a.detail);
    // The attacker's address stays locked.
    let a = attempt_from(&app, Some(attacker), "head-admin", password).await;
    assert_eq!(a.code, "login_locked");

    let locks = app
        .client
        .list_audit(&[("action", "auth.lockout")])
        .await
        .unwrap();
    assert_eq!(locks.items.len(), 1);
    let after = locks.items[0].after.clone().unwrap();
    assert_eq!(after["role"], "admin", "{after}");
    assert_eq!(after["client_addr"], attacker, "{after}");
    assert_eq!(after["scope"], "name_and_address", "{after}");
    let metrics = app
        .client
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with(r#"cc_login_lockouts_total{role="admin"}"#)),
        "{metrics}"
    );
    app.stop().await;
}

/// Parallel attempts are admitted exactly as often as sequential ones: each is checked and
/// counted before its password is verified.
async fn parallel_guesses_are_counted_before_they_are_checked(backend: Backend) {
    let mut config = test_config();
    let t = &mut config.auth.throttle;
    t.name_throttle_after = 1000;
    t.name_lockout_after = 3;
    t.lockout_secs = 600;
    t.address_throttle_after = 1000;
    t.address_lockout_after = 1000;
    let app = TestApp::spawn_with(backend, config, None).await;
    create(&app, "raced", "violet kettle ocean 42").await;
    let answers =
        futures::future::join_all((0..40).map(|_| attempt(&app, "raced", "wrong password 123")))
            .await;
    let evaluated = answers.iter().filter(|a| a.status == 401).count();
    let refused = answers.iter().filter(|a| a.status == 429).count();
    assert_eq!(
        (evaluated, refused),
        (3, 37),
        "a sequential run evaluates 3"
    );
    let failures = app
        .client
        .list_audit(&[("action", "auth.login_failed")])
        .await
        .unwrap();
    assert_eq!(failures.items.len(), 3);
    let a = attempt(&app, "raced", "violet kettle ocean 42").await;
    assert_eq!(a.code, "login_locked");
    app.stop().await;
}

/// Rows that no longer affect a login are deleted by the sweeper's pruning: failures older
/// than the window, and addresses an operator has not logged in from for 30 days. Recent
/// failures, locks (even expired ones, whose end the sweeper audits), and recently used
/// addresses stay.
async fn stale_throttle_rows_are_pruned(backend: Backend) {
    use cc_store::auth::Throttle;
    let app = TestApp::spawn(backend).await;
    let now = chrono::Utc::now();
    let (min, day) = (chrono::Duration::minutes(1), chrono::Duration::days(1));
    // (key, last activity, locked until, kept)
    let rows = [
        ("known:aaaa:203.0.113.0", now - day * 31, None, false),
        ("known:bbbb:203.0.113.0", now - day * 29, None, true),
        ("name:aaaa", now - min * 16, None, false),
        ("pair:aaaa:203.0.113.0", now - min * 120, None, false),
        ("addr:203.0.113.9", now - min, None, true),
        (
            "addr:198.51.100.0",
            now - min * 120,
            Some(now + min * 10),
            true,
        ),
        (
            "pair:cccc:198.51.100.0",
            now - min * 120,
            Some(now - min),
            true,
        ),
    ];
    let mut tx = app.store.begin().await.unwrap();
    for (key, last, locked_until, _) in &rows {
        tx.auth()
            .put_throttle(&Throttle {
                key: (*key).to_owned(),
                label: format!("test:{key}"),
                failures: 2,
                first_failure_at: *last - min,
                last_failure_at: *last,
                locked_until: *locked_until,
            })
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    // A real login leaves a fresh `known:` row, which must stay too.
    let ok = attempt(&app, "admin", &app.admin_password.clone()).await;
    assert_eq!(ok.status, 200);

    let pruned = app.auth.prune_throttles().await.unwrap();
    assert_eq!(pruned, 3);
    let mut tx = app.store.begin().await.unwrap();
    for (key, _, _, kept) in &rows {
        let found = tx.auth().get_throttle(key).await.unwrap().is_some();
        assert_eq!(found, *kept, "{key}");
    }
    tx.commit().await.unwrap();
    assert_eq!(app.auth.prune_throttles().await.unwrap(), 0);
    app.stop().await;
}

backend_tests!(
    stale_throttle_rows_are_pruned,
    a_lockout_from_one_address_leaves_the_operator_in,
    parallel_guesses_are_counted_before_they_are_checked,
    failures_slow_down_then_lock_even_the_right_password,
    unknown_names_are_throttled_and_locked_alike,
    expired_locks_end_without_another_attempt,
    an_admin_password_reset_lifts_the_lock,
    unknown_names_take_as_long_as_wrong_passwords,
);
