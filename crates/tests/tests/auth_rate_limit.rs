//! Rate limits: per client address, per principal, stricter for logins; 429 problem+json with
//! Retry-After; shared across instances through Redis.
//!
//! Redis is required (at `CC_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`): the tests fail,
//! never skip, when it is missing.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use cc_tests::{backend_tests, test_config, Backend, TestApp};
use reqwest::Method;
use serde_json::Value;

fn redis_url() -> String {
    std::env::var("CC_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn require_redis() -> String {
    let url = redis_url();
    let client = redis::Client::open(url.as_str()).expect("Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.unwrap_or_else(|e| {
        panic!("Redis is required for this test and is not reachable at {url} ({e}). Run scripts/test.sh, which starts it, or set CC_TEST_REDIS_URL.")
    });
    let pong: String = redis::cmd("PING")
        .query_async(&mut conn)
        .await
        .expect("PING");
    assert_eq!(pong, "PONG");
    url
}

async fn get(client: &cc_client::Client, path: &str) -> (u16, Option<u64>, Value) {
    let res = client.request(Method::GET, path).send().await.unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

fn limited(per_address: u32, per_principal: u32, login: u32) -> cc_api::ApiConfig {
    let mut c = test_config();
    c.rate_limit.enabled = true;
    c.rate_limit.per_address_per_minute = per_address;
    c.rate_limit.per_principal_per_minute = per_principal;
    c.rate_limit.login_per_address_per_minute = login;
    c
}

async fn per_address_limit_answers_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, limited(5, 0, 0), None).await;
    for _ in 0..5 {
        assert_eq!(get(&app.client, "/api/v1/users").await.0, 200);
    }
    let (status, retry, body) = get(&app.client, "/api/v1/users").await;
    assert_eq!(status, 429);
    assert_eq!(body["code"], "rate_limited");
    assert!(matches!(retry, Some(1..=60)), "{retry:?}");
    // Unauthenticated requests count too; health probes are exempt.
    assert_eq!(get(&app.anonymous(), "/openapi.json").await.0, 429);
    assert_eq!(get(&app.anonymous(), "/health/live").await.0, 200);
    app.stop().await;
}

async fn per_principal_limit_is_separate_for_each_caller(backend: Backend) {
    let app = TestApp::spawn_with(backend, limited(0, 4, 0), None).await;
    // Creating the auditor is the admin's first request.
    let auditor = app.client_as(cc_domain::OperatorRole::Auditor).await;
    for _ in 0..3 {
        assert_eq!(get(&app.client, "/api/v1/users").await.0, 200);
    }
    let (status, _, body) = get(&app.client, "/api/v1/users").await;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    assert_eq!(get(&auditor, "/api/v1/users").await.0, 200);
    app.stop().await;
}

async fn logins_have_a_stricter_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, limited(0, 0, 3), None).await;
    for _ in 0..2 {
        app.anonymous()
            .login("admin", &app.admin_password)
            .await
            .unwrap();
    }
    let _ = app
        .anonymous()
        .login("admin", "wrong password 123")
        .await
        .unwrap_err();
    let err = app
        .anonymous()
        .login("admin", &app.admin_password)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.problem().unwrap().code, "rate_limited");
    // Other routes are not affected by the login limit.
    assert_eq!(get(&app.client, "/api/v1/users").await.0, 200);
    app.stop().await;
}

async fn two_instances_share_the_limit_through_redis(backend: Backend) {
    let url = require_redis().await;
    let mut config = limited(10, 0, 0);
    config.rate_limit.redis_url = url;
    config.rate_limit.redis_key_prefix = format!("cc-test:{}:", uuid::Uuid::new_v4().simple());
    let a = TestApp::spawn_with(backend, config.clone(), None).await;
    let b = TestApp::spawn_with(backend, config, None).await;
    let mut seen = [0u32; 2];
    let mut refused_by = None;
    for i in 0..20 {
        let (which, app) = if i % 2 == 0 { (0, &a) } else { (1, &b) };
        let (status, retry, _) = get(&app.client, "/api/v1/users").await;
        if status == 429 {
            assert!(retry.is_some());
            refused_by = Some((which, i));
            break;
        }
        assert_eq!(status, 200);
        seen[which] += 1;
    }
    // 10 requests allowed in total, split across the two instances: neither
    // instance reached the limit alone.
    let (_, i) = refused_by.expect("the shared limit was reached");
    assert_eq!(i, 10, "requests allowed before the limit: {seen:?}");
    assert!(seen.iter().all(|n| *n < 10), "{seen:?}");
    a.stop().await;
    b.stop().await;
}

async fn unreachable_redis_falls_back_to_local_limits(backend: Backend) {
    let mut config = limited(4, 0, 0);
    // Nothing listens on port 1.
    config.rate_limit.redis_url = "redis://127.0.0.1:1".into();
    let app = TestApp::spawn_with(backend, config, None).await;
    for _ in 0..4 {
        assert_eq!(get(&app.client, "/api/v1/users").await.0, 200);
    }
    assert_eq!(get(&app.client, "/api/v1/users").await.0, 429);
    app.stop().await;
}

backend_tests!(
    per_address_limit_answers_429_with_retry_after,
    per_principal_limit_is_separate_for_each_caller,
    logins_have_a_stricter_limit,
    two_instances_share_the_limit_through_redis,
    unreachable_redis_falls_back_to_local_limits,
);
