//! The `/metrics` guard: operator credentials by default, a scrape token when configured,
//! nothing when public; the same rules on the separate metrics address.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cc_domain::OperatorRole;
use cc_tests::{backend_tests, test_config, Backend, TestApp};
use reqwest::Method;
use tower::ServiceExt;

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
    let app = TestApp::spawn_with(backend, test_config(), None).await;
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
    let app = TestApp::spawn_with(backend, config, None).await;
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
    let app = TestApp::spawn_with(backend, config, None).await;
    assert_eq!(status(&app.anonymous()).await, 200);
    app.stop().await;
}

async fn the_separate_metrics_address_has_the_same_guard(backend: Backend) {
    let mut config = test_config();
    config.metrics.token = "scrape-0123456789abcdef".into();
    config.metrics.listen = "127.0.0.1:0".into();
    let app = TestApp::spawn_with(backend, config.clone(), None).await;
    // The API listener no longer serves metrics.
    let res = app
        .client
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let state = cc_api::AppState::new(app.store.clone(), config);
    let router = cc_api::metrics_router(state);
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
    let ok = call(Some("Bearer scrape-0123456789abcdef")).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    app.stop().await;
}

backend_tests!(
    metrics_need_credentials_unless_configured_otherwise,
    the_separate_metrics_address_has_the_same_guard,
);
