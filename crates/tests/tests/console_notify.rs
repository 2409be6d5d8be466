//! The console's Notifications page and the Health page's Cloudflare row in real headless
//! Chromium, on both backends: an operator sends a test message to a webhook channel pointed
//! at a local HTTP receiver, the receiver gets it and the delivery shows as sent without a
//! reload; the channel check shows ok and sends nothing; an auditor sees the channels and the
//! log but no action, and the server refuses forged ones; a page without channels says how to
//! add one; the Health page and the Overview show the Cloudflare token's last verification
//! (against the schema-checking fake) with a token the fake accepts and with one it rejects.

#[allow(dead_code)]
#[path = "cloudflare/fake.rs"]
mod fake;
#[path = "cloudflare/schema.rs"]
mod schema;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use cc_connectors::cloudflare::{Cloudflare, CloudflareConfig};
use cc_domain::OperatorRole;
use cc_lifecycle::cloudflare::TokenHealth;
use cc_notify::{NotificationsConfig, Notifier};
use cc_queue::Registry;
use cc_store::DeliveryQuery;
use cc_tests::browser::{http, http_csrf_token, http_sign_in, Browser};
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, test_config, Backend, TestApp};
use fake::{FakeCloudflare, TOKEN};

const SECRET: &str = "hook-signing-secret-5f2a";

/// A local HTTP receiver that answers 200 and keeps every body it got.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Receiver {
    /// Starts the receiver: it and its URL.
    async fn start() -> (Self, String) {
        let r = Self::default();
        let app = axum::Router::new()
            .route("/hooks/command-center", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/hooks/command-center",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, body: axum::body::Bytes) -> &'static str {
    r.got
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap());
    "ok"
}

/// The console with one signed webhook channel, `helpdesk`, pointed at `url`, and the
/// notifier a worker needs to deliver its messages.
async fn console_with_channel(backend: Backend, url: &str) -> (TestApp, Notifier) {
    let config: NotificationsConfig = toml::from_str(&format!(
        r#"
        [[channels]]
        name = "helpdesk"
        kind = "webhook"
        url = "{url}"
        secret = "{SECRET}"
        events = ["job.discarded", "target.failing"]
        min_severity = "warning"
        "#
    ))
    .unwrap();
    let for_app = config.clone();
    let app = TestApp::spawn_console_customized(backend, test_config(), move |s| {
        let n = Notifier::new(s.store.clone(), &for_app, None).unwrap();
        s.with_notifier(n)
    })
    .await;
    let notifier = Notifier::new(app.store.clone(), &config, None).unwrap();
    (app, notifier)
}

fn worker(app: &TestApp, notifier: &Notifier) -> RunningWorker {
    let mut registry = Registry::with_builtins();
    notifier.register(&mut registry);
    RunningWorker::start(app.store.clone(), registry, fast_config(&[("default", 2)]))
}

async fn an_operator_sends_a_test_message_and_checks_the_channels(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    let (app, notifier) = console_with_channel(backend, &url).await;
    let (_, name, password) = app.operator_with_role(OperatorRole::Operator).await;
    let mut b = Browser::signed_in(&app.base_url, &name, &password, "/notifications").await;
    b.wait_for_text("main h1", "Notifications").await;
    assert_eq!(
        b.attr("header nav a[aria-current='page']", "href").await,
        Some("/notifications".into())
    );
    let channel = b
        .wait_for_text("#channel-list tr[data-channel='helpdesk']", "webhook")
        .await;
    assert!(channel.contains("job.discarded"), "{channel}");
    assert!(channel.contains("target.failing"), "{channel}");
    assert!(channel.contains("warning"), "{channel}");
    // Nothing that says where messages go, and no secret.
    let source = b.client.source().await.unwrap();
    assert!(
        !source.contains("/hooks/command-center"),
        "the URL is shown"
    );
    assert!(!source.contains(SECRET), "the secret is shown");
    b.wait_for_text("#delivery-list", "No deliveries").await;

    // The test message: queued and shown as pending at once (no worker runs yet)...
    b.click("#channel-list tr[data-channel='helpdesk'] form[action='/notifications/test'] button")
        .await;
    b.wait_for_text("#test-queued", "Test message queued as delivery")
        .await;
    let delivery = app
        .store
        .notifications()
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(delivery.len(), 1, "{delivery:?}");
    let d = &delivery[0];
    assert_eq!((d.channel.as_str(), d.event.as_str()), ("helpdesk", "test"));
    let row = format!("#delivery-list tr[data-delivery-id='{}']", d.id);
    b.wait_for_text(&format!("{row} td.state"), "pending").await;
    let job = d.job_id.expect("a delivery job");
    assert_eq!(
        b.attr(&format!("{row} a"), "href").await,
        Some(format!("/jobs/{job}"))
    );

    // ...then a worker delivers it: the receiver gets it, and the row turns to sent live.
    b.wait_for_live().await;
    let running = worker(&app, &notifier);
    b.wait_for_text(&format!("{row} td.state"), "sent").await;
    let text = b.text(&row).await.unwrap();
    assert!(text.contains("channel helpdesk"), "{text}");
    let bodies = receiver.bodies();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    assert_eq!(bodies[0]["event"], "test");
    assert!(
        bodies[0]["title"]
            .as_str()
            .unwrap()
            .contains("Test message to channel helpdesk"),
        "{bodies:?}"
    );
    let audit = app
        .client
        .list_audit(&[("action", "notification.test")])
        .await
        .unwrap();
    assert_eq!(audit.items.len(), 1);
    assert_eq!(audit.items[0].actor, format!("operator:{name}"));
    b.axe_check("notifications").await;
    b.screenshot("notifications").await;

    // The filters narrow the log.
    b.goto("/notifications?channel=helpdesk&status=sent&event=test")
        .await;
    b.wait_for_text(&format!("{row} td.state"), "sent").await;
    b.goto("/notifications?status=failed").await;
    b.wait_for_text("#delivery-list", "No deliveries match")
        .await;
    assert!(!b.exists(&row).await);

    // The channel check: ok, and nothing sent.
    b.click("#check-form button").await;
    let check = b
        .wait_for_text("#channel-checks tr[data-channel='helpdesk']", "OK")
        .await;
    assert!(check.contains("signed webhook"), "{check}");
    assert!(!check.contains("/hooks/command-center"), "{check}");
    b.axe_check("notifications check").await;
    b.screenshot("notifications-check").await;
    assert_eq!(receiver.bodies().len(), 1, "the check sent something");

    running.stop().await;
    b.finish().await;
    app.stop().await;
}

async fn an_auditor_sees_no_notification_actions_and_forged_ones_are_refused(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    let (app, _) = console_with_channel(backend, &url).await;
    let (_, name, password) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut b = Browser::signed_in(&app.base_url, &name, &password, "/notifications").await;
    b.wait_for_text("#channel-list", "helpdesk").await;
    assert!(b.exists("header nav a[href='/notifications']").await);
    assert!(!b.exists("form[action='/notifications/test']").await);
    assert!(!b.exists("#check-form").await);
    assert!(b.exists("#delivery-list").await);
    b.axe_check("notifications as auditor").await;

    let cookie = b.session_cookie().await;
    let token = b.csrf_token().await;
    for (path, form) in [
        (
            "/notifications/test",
            vec![("csrf", token.as_str()), ("channel", "helpdesk")],
        ),
        ("/notifications/check", vec![("csrf", token.as_str())]),
    ] {
        let res = http()
            .post(b.url(path))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    let deliveries = app
        .store
        .notifications()
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert!(deliveries.is_empty(), "{deliveries:?}");
    assert!(receiver.bodies().is_empty());
    b.finish().await;

    // An operator naming a channel that is not configured gets the API's 404, nothing queued.
    let (_, name, password) = app.operator_with_role(OperatorRole::Operator).await;
    let cookie = http_sign_in(&app.base_url, &name, &password).await;
    let csrf = http_csrf_token(&app.base_url, &cookie, "/notifications").await;
    let res = http()
        .post(format!("{}/notifications/test", app.base_url))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str()), ("channel", "nobody")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let deliveries = app
        .store
        .notifications()
        .list_deliveries(&DeliveryQuery {
            limit: 10,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap();
    assert!(deliveries.is_empty(), "{deliveries:?}");
    app.stop().await;
}

/// Records `n` failed deliveries of discarded jobs to `channel`, straight into the log.
async fn record_failed(app: &TestApp, channel: &str, n: i64) {
    for i in 0..n {
        let event = cc_domain::NotificationEvent::new(
            cc_domain::EventKind::JobDiscarded,
            format!("job {i}"),
            format!("Job {i} (lifecycle.provision) was discarded"),
        );
        app.store
            .notifications()
            .record_delivery(
                &cc_domain::NewDelivery {
                    channel: channel.into(),
                    title: event.summary.clone(),
                    event,
                    state: cc_domain::DeliveryState::Failed,
                    job_id: None,
                },
                None,
            )
            .await
            .unwrap();
    }
}

async fn get_page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let res = http()
        .get(format!("{}{path}", app.base_url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// The `href` of the first `<a rel="next">` in `html`, unescaped.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\" href=\"")? + "rel=\"next\" href=\"".len();
    let end = html[at..].find('"')? + at;
    Some(html[at..end].replace("&amp;", "&"))
}

async fn without_channels_the_page_says_so_and_pages_the_log(backend: Backend) {
    let app = TestApp::spawn_console(backend, test_config()).await;
    let cookie = http_sign_in(&app.base_url, "admin", &app.admin_password).await;
    let (status, html) = get_page(&app, &cookie, "/notifications").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("No notification channel is configured"),
        "{html}"
    );
    assert!(html.contains("docs/notifications.md"), "{html}");
    assert!(
        !html.contains("check-form"),
        "a check with nothing to check"
    );
    assert!(html.contains("No deliveries match"), "{html}");

    // A channel since removed from the configuration keeps its log, 50 rows to a page.
    record_failed(&app, "retired", 55).await;
    let rows = |html: &str| html.matches("data-delivery-id=").count();
    let (_, first) = get_page(
        &app,
        &cookie,
        "/notifications?channel=retired&status=failed",
    )
    .await;
    assert_eq!(rows(&first), 50);
    assert!(
        first.contains("<option value=\"retired\" selected"),
        "the filter keeps its channel"
    );
    let next = next_link(&first).expect("a next page");
    assert!(
        next.contains("channel=retired") && next.contains("status=failed"),
        "{next}"
    );
    let (status, second) = get_page(&app, &cookie, &next).await;
    assert_eq!(status, 200);
    assert_eq!(rows(&second), 5);
    assert!(next_link(&second).is_none());
    assert!(second.contains("First page"));
    // Newest first: the second page holds the oldest five.
    assert!(second.contains("Job 0 (lifecycle.provision)"), "{second}");
    assert!(!first.contains("Job 4 (lifecycle.provision)"), "{first}");

    // Filters the log cannot use are the API's 400, rendered as a page.
    for bad in [
        "/notifications?status=lost",
        "/notifications?event=nothing",
        "/notifications?cursor=x",
    ] {
        let (status, _) = get_page(&app, &cookie, bad).await;
        assert_eq!(status, 400, "{bad}");
    }
    app.stop().await;
}

const ZONE: &str = "district.example.org";

/// The console reporting the token in `token` (verified against `fake` by the test).
async fn console_with_cloudflare(
    backend: Backend,
    fake: &FakeCloudflare,
    dir: &std::path::Path,
    token: &str,
) -> (TestApp, TokenHealth) {
    let token_file = dir.join(format!("token-{}", token.len()));
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let config: CloudflareConfig = toml::from_str(&format!(
        "token_file = {token_file:?}\napi_base = {:?}\nzones = [{ZONE:?}]\n",
        fake.base_url()
    ))
    .unwrap();
    let health = TokenHealth::new(Arc::new(Cloudflare::new(config).unwrap()));
    let for_app = health.clone();
    let app = TestApp::spawn_console_customized(backend, test_config(), move |s| {
        s.with_cloudflare(for_app)
    })
    .await;
    (app, health)
}

async fn health_shows_the_cloudflare_token_state(backend: Backend) {
    let fake = FakeCloudflare::start(&[ZONE]).await;
    let dir = tempfile::tempdir().unwrap();

    // A token the fake accepts: not checked yet, then ok with when it was checked.
    let (app, health) = console_with_cloudflare(backend, &fake, dir.path(), TOKEN).await;
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/status").await;
    b.wait_for_text("#cloudflare-row", "Not checked yet").await;
    assert!(health.check().await.is_ok());
    let verified = fake.count("GET /user/tokens/verify");
    b.goto("/status").await;
    let row = b.wait_for_text("#cloudflare-row", "OK").await;
    assert!(row.contains("token active"), "{row}");
    assert!(row.contains("checked"), "{row}");
    assert_eq!(
        b.attr("#cloudflare-row", "class").await.as_deref(),
        Some("row-ok")
    );
    b.axe_check("health with Cloudflare").await;
    b.screenshot("health-cloudflare").await;
    b.goto("/").await;
    b.wait_for_text("#dep-cloudflare", "OK").await;
    // The pages read the kept result: Cloudflare was not asked again.
    assert_eq!(fake.count("GET /user/tokens/verify"), verified);
    b.finish().await;
    app.stop().await;

    // A token the fake rejects: failing, with the error and no token.
    let wrong = "cf-wrong-token-0000";
    let (app, health) = console_with_cloudflare(backend, &fake, dir.path(), wrong).await;
    assert!(!health.check().await.is_ok());
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/status").await;
    let row = b.wait_for_text("#cloudflare-row", "Failing").await;
    assert!(row.contains("Last error"), "{row}");
    assert!(row.contains("code 10000"), "{row}");
    assert!(row.contains("checked"), "{row}");
    assert_eq!(
        b.attr("#cloudflare-row", "class").await.as_deref(),
        Some("row-bad")
    );
    // Readiness is still ok: the token does not decide it.
    b.wait_for_text("main .summary", "Ready").await;
    let source = b.client.source().await.unwrap();
    assert!(!source.contains(wrong) && !source.contains(TOKEN));
    b.axe_check("health with a failing Cloudflare token").await;
    b.goto("/").await;
    let dep = b.wait_for_text("#dep-cloudflare", "Failing").await;
    assert!(dep.contains("code 10000"), "{dep}");
    b.finish().await;
    app.stop().await;

    // Without `[cloudflare]` there is no such row.
    let app = TestApp::spawn_console(backend, test_config()).await;
    let cookie = http_sign_in(&app.base_url, "admin", &app.admin_password).await;
    let html = http()
        .get(format!("{}/status", app.base_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Workers"), "{html}");
    assert!(!html.contains("cloudflare-row"), "{html}");
    app.stop().await;
    fake.assert_clean();
}

backend_tests!(
    an_operator_sends_a_test_message_and_checks_the_channels,
    an_auditor_sees_no_notification_actions_and_forged_ones_are_refused,
    without_channels_the_page_says_so_and_pages_the_log,
    health_shows_the_cloudflare_token_state,
);
