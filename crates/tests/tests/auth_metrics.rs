//! The `/metrics` guard: operator credentials by default, a scrape token when configured,
//! nothing when public; the same rules for a metrics router served on its own address.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::get;
use cc_domain::OperatorRole;
use cc_tests::{backend_tests, test_config, Backend, TestApp};
use reqwest::Method;
use tower::ServiceExt;

async fn metrics() -> &'static str {
    "# HELP up 1\n"
}

fn extra() -> cc_tests::axum::Router<cc_api::AppState> {
    cc_tests::axum::Router::new().route("/metrics", get(metrics))
}

async fn status(client: &cc_client::Client) -> u16 {
    client
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn metrics_need_credentials_unless_configured_otherwise(backend: Backend) {
    let app = TestApp::spawn_with(backend, test_config(), Some(extra())).await;
    assert_eq!(status(&app.anonymous()).await, 401);
    assert_eq!(status(&app.anonymous().with_token("guess")).await, 401);
    assert_eq!(
        status(&app.client_as(OperatorRole::Auditor).await).await,
        200
    );
    let token = app.api_token(OperatorRole::Auditor).await;
    assert_eq!(status(&app.anonymous().with_token(&token)).await, 200);
    app.stop().await;

    let mut config = test_config();
    config.metrics.token = "scrape-0123456789abcdef".into();
    let app = TestApp::spawn_with(backend, config, Some(extra())).await;
    assert_eq!(
        status(&app.anonymous().with_token("scrape-0123456789abcdef")).await,
        200
    );
    assert_eq!(
        status(&app.anonymous().with_token("scrape-0123456789abcdeX")).await,
        401
    );
    assert_eq!(status(&app.anonymous()).await, 401);
    assert_eq!(status(&app.client).await, 200);
    app.stop().await;

    let mut config = test_config();
    config.metrics.public = true;
    let app = TestApp::spawn_with(backend, config, Some(extra())).await;
    assert_eq!(status(&app.anonymous()).await, 200);
    app.stop().await;
}

async fn the_guard_protects_a_separate_metrics_router(backend: Backend) {
    let db = cc_tests::TestDb::new(backend).await;
    let mut config = test_config();
    config.metrics.token = "scrape-0123456789abcdef".into();
    let state = cc_api::AppState::new(db.store().await, config);
    let router = cc_tests::axum::Router::new()
        .route("/metrics", get(metrics))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cc_api::metrics_guard,
        ))
        .with_state(state);
    let call = |auth: Option<&'static str>| {
        let mut req = Request::get("/metrics");
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        router.clone().oneshot(req.body(Body::empty()).unwrap())
    };
    assert_eq!(call(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        call(Some("Bearer nope")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(Some("Bearer scrape-0123456789abcdef"))
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

backend_tests!(
    metrics_need_credentials_unless_configured_otherwise,
    the_guard_protects_a_separate_metrics_router,
);
