//! The web console in real headless Chromium: sign-in, sessions, CSRF, roles, live updates,
//! the Health page without JavaScript, accessibility, and that no page loads anything from
//! another origin or logs a console error.
//!
//! Every test runs on both backends (`sqlite::…`, `postgres::…`).

use cc_domain::OperatorRole;
use cc_tests::browser::{http, Browser};
use cc_tests::{backend_tests, test_config, Backend, TestApp};
use reqwest::header::{COOKIE, LOCATION, REFRESH};
use reqwest::StatusCode;

async fn console_app(backend: Backend) -> TestApp {
    TestApp::spawn_console(backend, test_config()).await
}

async fn pages_are_accessible_and_load_nothing_from_elsewhere(backend: Backend) {
    let app = console_app(backend).await;
    // The demo directory and a few jobs, so the pages show (and the scan checks) real content.
    cc_service::seed::demo(&cc_service::Directory::new(app.store.clone()))
        .await
        .unwrap();
    for _ in 0..3 {
        app.client.ping_job().await.unwrap();
    }
    let mut b = Browser::start(&app.base_url).await;
    b.goto("/status").await;
    assert_eq!(
        b.path().await,
        "/login?next=/status",
        "a signed-out visit asks to sign in"
    );
    b.axe_check("sign-in").await;
    b.screenshot("sign-in").await;
    b.sign_in("admin", &app.admin_password).await;
    assert_eq!(
        b.path().await,
        "/status",
        "back where the operator was going"
    );
    b.wait_for_text("main .summary", "Ready").await;
    b.axe_check("health").await;
    b.screenshot("health").await;
    b.goto("/").await;
    b.wait_for_text("main h1", "Overview").await;
    b.wait_for_text("#dependencies", "Database").await;
    b.axe_check("overview").await;
    b.screenshot("overview").await;
    // The stylesheet, script and icon came from this origin, under content-hashed names.
    let assets: Vec<&String> = b
        .requests()
        .iter()
        .filter(|u| u.contains("/assets/"))
        .collect();
    assert!(
        assets.iter().any(|u| u.ends_with(".css")) && assets.iter().any(|u| u.ends_with(".js")),
        "{assets:?}"
    );
    b.finish().await;
    app.stop().await;
}

async fn a_wrong_password_and_a_lockout_say_so_on_the_form(backend: Backend) {
    let mut config = test_config();
    let t = &mut config.auth.throttle;
    t.name_throttle_after = 1000;
    t.name_lockout_after = 3;
    t.lockout_secs = 600;
    t.address_throttle_after = 1000;
    t.address_lockout_after = 1000;
    let app = TestApp::spawn_console(backend, config).await;
    let (_, name, password) = app.operator_with_role(OperatorRole::Operator).await;
    let mut b = Browser::start(&app.base_url).await;
    b.goto("/login").await;
    b.submit_sign_in(&name, "not the password").await;
    b.wait_for_text("#signin-error", "The username or password is wrong.")
        .await;
    assert!(b.path().await.starts_with("/login"));
    assert_eq!(
        b.attr("#username", "value").await.as_deref(),
        Some(name.as_str()),
        "the name is kept"
    );
    b.axe_check("sign-in with an error").await;
    for _ in 0..2 {
        b.submit_sign_in(&name, "still not the password").await;
        b.wait_for_text("#signin-error", "wrong").await;
    }
    // Locked now: even the right password is refused, with the lockout's own message.
    b.submit_sign_in(&name, &password).await;
    b.wait_for_text("#signin-error", "Logins are locked after repeated failures")
        .await;
    assert!(b.path().await.starts_with("/login"));
    // The statuses are the API's (401, 429 with Retry-After).
    let res = http()
        .post(format!("{}/login", app.base_url))
        .form(&[("username", name.as_str()), ("password", password.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().contains_key("retry-after"));
    // Browsers log a failed document load (401, 429) as a console error; nothing else.
    let errors = b.take_console_errors().await;
    assert!(
        errors
            .iter()
            .all(|e| e.contains("status of 401") || e.contains("status of 429")),
        "{errors:#?}"
    );
    b.finish().await;
    app.stop().await;
}

async fn logging_out_ends_the_session_on_the_server(backend: Backend) {
    let app = console_app(backend).await;
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/").await;
    b.wait_for_text("main h1", "Overview").await;
    let cookie = b.cookie("cc_session").await.expect("the session cookie");
    assert!(
        cookie.starts_with("v1."),
        "a console credential, not a token"
    );
    let old = format!("cc_session={cookie}");
    let res = http()
        .get(format!("{}/status", app.base_url))
        .header(COOKIE, &old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the cookie works while signed in"
    );
    b.click("form[action='/logout'] button").await;
    b.wait_until("the sign-in page", |b| async move {
        b.path().await.starts_with("/login").then_some(())
    })
    .await;
    assert!(
        b.cookie("cc_session").await.is_none(),
        "the cookie is removed"
    );
    // A copy of the old cookie is worthless: the session ended on the server.
    let res = http()
        .get(format!("{}/", app.base_url))
        .header(COOKIE, &old)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/login");
    let res = http()
        .get(format!("{}/api/v1/events", app.base_url))
        .header(COOKIE, &old)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "nor does the event stream take it"
    );
    // Going back to a page asks to sign in again.
    b.goto("/").await;
    assert!(b.path().await.starts_with("/login"));
    b.finish().await;
    app.stop().await;
}

async fn a_form_without_its_csrf_token_is_refused(backend: Backend) {
    let app = console_app(backend).await;
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/status").await;
    b.wait_for_text("#test-job", "Send a test job").await;
    // The browser posts the form with its token removed: a readable 403 page.
    b.eval("document.querySelector('#test-job form input[name=csrf]').remove(); return true;")
        .await;
    b.click("#test-job form button").await;
    b.wait_for_text("main", "security token is missing").await;
    assert!(b.text("main").await.unwrap().contains("Request id:"));
    let _ = b.take_console_errors().await; // the 403 document load
                                           // Outside the browser: no token, a wrong token, or another site's origin — all 403.
    let cookie = format!("cc_session={}", b.cookie("cc_session").await.unwrap());
    b.goto("/status").await;
    let token = b
        .attr("#test-job input[name=csrf]", "value")
        .await
        .expect("the form's token");
    let post = |body: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut req = http()
            .post(format!("{}/status/test-job", app.base_url))
            .header(COOKIE, &cookie)
            .form(&body);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };
    let res = post(vec![], None).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let res = post(vec![("csrf", "0".repeat(64))], None).await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(vec![("csrf", token.clone())], Some("http://evil.example"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(vec![("csrf", token)], None).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "with its token the form works"
    );
    b.finish().await;
    app.stop().await;
}

async fn an_auditor_sees_no_action_and_a_forged_post_is_refused(backend: Backend) {
    let app = console_app(backend).await;
    let (_, name, password) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut b = Browser::signed_in(&app.base_url, &name, &password, "/status").await;
    b.wait_for_text("main .summary", "Ready").await;
    assert!(
        !b.exists("form[action='/status/test-job']").await,
        "no action the auditor cannot take"
    );
    assert!(
        !b.exists("nav a[href='/operators']").await,
        "no admin page in the navigation"
    );
    assert!(
        b.exists("form[action='/logout']").await,
        "signing out is for everyone"
    );
    // The auditor's own session and token, forged into the form the page did not offer.
    let token = b
        .attr("form[action='/logout'] input[name=csrf]", "value")
        .await
        .unwrap();
    b.eval(&format!(
        "const f = document.createElement('form'); f.method = 'post';
         f.action = '/status/test-job';
         const i = document.createElement('input'); i.type = 'hidden'; i.name = 'csrf';
         i.value = '{token}'; f.append(i); document.body.append(f); f.submit(); return true;"
    ))
    .await;
    b.wait_for_text("main h1", "Forbidden").await;
    b.wait_for_text("main", "needs the operator role").await;
    let _ = b.take_console_errors().await; // the 403 document load
                                           // And no job was sent.
    let jobs = app.client.list_jobs(&[]).await.unwrap();
    assert!(jobs.items.is_empty(), "{:?}", jobs.items);
    b.finish().await;
    app.stop().await;
}

async fn a_job_enqueued_through_the_api_appears_on_the_overview_live(backend: Backend) {
    let app = console_app(backend).await;
    let b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/").await;
    b.wait_for_text("#recent", "No jobs yet").await;
    // Live updates follow the event stream; wait until it is open, then mark the page so a
    // reload would show.
    b.wait_until("the event stream to open", |b| async move {
        (b.attr("body", "data-live").await.as_deref() == Some("true")).then_some(())
    })
    .await;
    b.eval("window.ccMarker = 'still here'; return true;").await;
    let job = app.client.ping_job().await.unwrap();
    b.wait_for_text("#recent-jobs", &job.id.to_string()).await;
    b.wait_for_text("#queue-waiting", "1").await;
    assert_eq!(
        b.eval("return window.ccMarker;").await,
        serde_json::json!("still here"),
        "updated without a reload"
    );
    b.finish().await;
    app.stop().await;
}

async fn the_health_page_refreshes_itself_without_javascript(backend: Backend) {
    let app = console_app(backend).await;
    let mut b = Browser::start_without_javascript(&app.base_url).await;
    b.goto("/status").await;
    b.sign_in("admin", &app.admin_password).await;
    b.wait_for_text("main .summary", "Ready").await;
    let first = b
        .attr("#checked-at", "datetime")
        .await
        .expect("a check time");
    // The Refresh header reloads the page on its own (every 10 s).
    b.wait_until_for(
        "the page to reload with a newer check",
        std::time::Duration::from_secs(30),
        &mut |b: &Browser| {
            let first = first.clone();
            async move {
                b.attr("#checked-at", "datetime")
                    .await
                    .filter(|t| *t != first)
            }
        },
    )
    .await;
    b.finish().await;
    // Browsers that run the script get no Refresh header (the script refreshes in place).
    let cookie = {
        let mut js = Browser::start(&app.base_url).await;
        js.goto("/status").await;
        js.sign_in("admin", &app.admin_password).await;
        let c = js.cookie("cc_session").await.unwrap();
        assert_eq!(
            js.cookie("cc_js").await.as_deref(),
            Some("1"),
            "the script ran"
        );
        js.finish().await;
        c
    };
    let get = |extra: &'static str| {
        http()
            .get(format!("{}/status", app.base_url))
            .header(COOKIE, format!("cc_session={cookie}{extra}"))
            .send()
    };
    let res = get("").await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[REFRESH], "10");
    let res = get("; cc_js=1").await.unwrap();
    assert!(!res.headers().contains_key(REFRESH));
    app.stop().await;
}

/// A page names the event log position it was rendered at, and a stream opened from there
/// (as the page's script opens it) starts with the first event the page could not show: one
/// committed between rendering the page and opening the stream is not missed.
async fn a_page_follows_the_stream_from_where_it_was_rendered(backend: Backend) {
    let app = console_app(backend).await;
    let before = app.client.ping_job().await.unwrap();
    let cookie = http_sign_in(&app, "admin", &app.admin_password).await;
    let page = http()
        .get(format!("{}/jobs", app.base_url))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    let after: i64 = html
        .split("data-events-after=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("main names its event position: {html}"));
    assert!(after > 0, "the job enqueued before the page is in the log");
    assert!(
        html.contains(&before.id.to_string()),
        "the page shows the job enqueued before it"
    );
    // Fragment refreshes do not need it and do not carry it.
    let fragment = http()
        .get(format!("{}/jobs", app.base_url))
        .header(COOKIE, &cookie)
        .header("CC-Fragment", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!fragment.contains("data-events-after"), "{fragment}");

    // Committed after the page was rendered, before the stream opens.
    let missed = app.client.ping_job().await.unwrap();
    let mut stream = http()
        .get(format!("{}/api/v1/events?after={after}", app.base_url))
        .header(COOKIE, &cookie)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let mut text = String::new();
    let first = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(at) = text.find("event: job") {
                if let Some(end) = text[at..].find("\n\n") {
                    return text[at..at + end].to_owned();
                }
            }
            let chunk = stream
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("an event within 10 s");
    let data = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let event: cc_domain::JobEvent = serde_json::from_str(data).unwrap();
    assert_eq!(
        event.job_id, missed.id,
        "the first event is the one committed after the page: {first}"
    );
    let id: i64 = first
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .and_then(|n| n.trim().parse().ok())
        .expect("an id");
    assert!(id > after, "{id} > {after}");
    app.stop().await;
}

/// Signs in through the form (plain HTTP) and returns the `Cookie` header value.
async fn http_sign_in(app: &TestApp, name: &str, password: &str) -> String {
    let res = http()
        .post(format!("{}/login", app.base_url))
        .form(&[
            ("username", name),
            ("password", password),
            ("next", "/status"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], "/status");
    let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    assert!(
        !set.contains("Secure"),
        "plain HTTP without cookie_secure: {set}"
    );
    set.split(';').next().unwrap().to_owned()
}

async fn status_of(app: &TestApp, cookie: &str) -> (StatusCode, Option<String>) {
    let res = http()
        .get(format!("{}/status", app.base_url))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let location = res
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    (res.status(), location)
}

async fn a_disabled_operator_is_signed_out_at_the_next_page(backend: Backend) {
    let app = console_app(backend).await;
    let (_, name, password) = app.operator_with_role(OperatorRole::Operator).await;
    let cookie = http_sign_in(&app, &name, &password).await;
    assert_eq!(status_of(&app, &cookie).await.0, StatusCode::OK);
    let op = app
        .client
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.username == name)
        .unwrap();
    app.client
        .update_operator(
            op.id,
            &cc_domain::OperatorPatch {
                role: None,
                disabled: Some(true),
            },
            None,
        )
        .await
        .unwrap();
    let (status, location) = status_of(&app, &cookie).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/login?next=/status"));
    // A forged or tampered cookie is no better.
    let tampered = cookie.replacen("v1.", "v1.0", 1);
    assert_eq!(status_of(&app, &tampered).await.0, StatusCode::SEE_OTHER);
    app.stop().await;
}

async fn console_sessions_end_when_idle_and_when_too_old(backend: Backend) {
    // Idle: a session unused for a second ends, and is revoked on the server.
    let mut config = test_config();
    config.auth.console.idle_timeout_secs = 1;
    let app = TestApp::spawn_console(backend, config).await;
    let cookie = http_sign_in(&app, "admin", &app.admin_password).await;
    assert_eq!(status_of(&app, &cookie).await.0, StatusCode::OK);
    cc_tests::wait_for(
        "the idle timeout",
        std::time::Duration::from_secs(10),
        || async { (status_of(&app, &cookie).await.0 == StatusCode::SEE_OTHER).then_some(()) },
    )
    .await;
    let audit = app
        .client
        .list_audit(&[("action", "auth.session_idle")])
        .await
        .unwrap();
    assert_eq!(
        audit.items.len(),
        1,
        "the idle session was revoked and audited"
    );
    app.stop().await;

    // Absolute: however busy, a session ends this long after sign-in.
    let mut config = test_config();
    config.auth.console.absolute_timeout_secs = 2;
    let app = TestApp::spawn_console(backend, config).await;
    let cookie = http_sign_in(&app, "admin", &app.admin_password).await;
    cc_tests::wait_for(
        "the absolute timeout",
        std::time::Duration::from_secs(10),
        || async { (status_of(&app, &cookie).await.0 == StatusCode::SEE_OTHER).then_some(()) },
    )
    .await;
    app.stop().await;
}

/// A script target that fails (a temporary failure, with a message) while `down` exists, and
/// otherwise creates an account.
fn switchable_target(down: &std::path::Path) -> std::sync::Arc<dyn cc_connectors::Target> {
    let script = format!(
        r#"if [ -e '{}' ]; then echo '{{"error": "the directory is down", "retryable": true}}'; exit 1; fi; echo '{{"account_id": "acct"}}'"#,
        down.display()
    );
    let text = format!(
        "kind = \"script\"\nname = \"rostering\"\ncommand = [\"bash\", \"-c\", {}]\n",
        toml::Value::String(script)
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).expect("valid target");
    c.build().expect("target builds")
}

async fn toasts(b: &Browser) -> String {
    b.text("#toasts").await.unwrap_or_default()
}

async fn imports_and_targets_are_announced_as_toasts(backend: Backend) {
    use cc_queue::Registry;
    use cc_tests::queue::{fast_config, RunningWorker};
    let dir = tempfile::tempdir().unwrap();
    let down = dir.path().join("down");
    let target = switchable_target(&down);
    let slot: std::sync::Arc<std::sync::Mutex<Option<cc_lifecycle::Engine>>> =
        std::sync::Arc::default();
    let out = slot.clone();
    let app = TestApp::spawn_console_customized(backend, test_config(), move |state| {
        let engine =
            cc_lifecycle::Engine::new(state.store.clone(), vec![target], state.auth.clone());
        *out.lock().unwrap() = Some(engine.clone());
        state.with_lifecycle(engine, cc_service::lifecycle::LifecyclePolicy::default())
    })
    .await;
    let engine = slot.lock().unwrap().take().unwrap();
    let mut registry = Registry::with_builtins();
    engine.register(&mut registry);
    let worker = RunningWorker::start(app.store.clone(), registry, fast_config(&[("default", 4)]));

    let b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/").await;
    b.wait_for_live().await;
    b.eval("window.ccMarker = 'still here'; return true;").await;

    // Imports through the API: one applied, one refused by its guard.
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../roster/tests/fixtures/csv");
    let roster = std::fs::read(fixtures.join("roster.csv")).unwrap();
    app.client
        .upload_import("roster.csv", roster, &[("dry_run", "false")])
        .await
        .unwrap();
    b.wait_until("the applied import's toast", |b| async move {
        toasts(b)
            .await
            .contains("Import applied: roster.csv")
            .then_some(())
    })
    .await;
    let truncated = std::fs::read(fixtures.join("truncated-line.csv")).unwrap();
    app.client
        .upload_import("truncated-line.csv", truncated, &[("dry_run", "false")])
        .await
        .unwrap();
    let toast = b
        .wait_for_text("#toasts", "Import refused by a guard")
        .await;
    assert!(toast.contains("truncated-line.csv"), "{toast}");
    assert_eq!(
        b.attr("#toasts", "aria-live").await.as_deref(),
        Some("polite"),
        "announced to assistive technology"
    );

    // The target goes down; three people provisioned against it: one toast for the target,
    // not one per job (the jobs wait to retry, so no job is announced as failed for good).
    std::fs::write(&down, "").unwrap();
    for n in 0..3 {
        let mut input = cc_tests::student(&format!("toast.{n}"));
        input.status = Some(cc_domain::UserStatus::Pending);
        let user = app.client.create_user(&input).await.unwrap();
        app.client
            .user_action(user.id, "provision", false)
            .await
            .unwrap();
    }
    let toast = b
        .wait_for_text("#toasts", "Target rostering is failing")
        .await;
    assert!(toast.contains("the directory is down"), "{toast}");
    cc_tests::wait_for(
        "every provision to fail once",
        std::time::Duration::from_secs(15),
        || async {
            let jobs = app.client.list_jobs(&[("state", "retryable")]).await.ok()?;
            (jobs.items.len() >= 3).then_some(())
        },
    )
    .await;
    let shown = toasts(&b).await;
    assert_eq!(
        shown.matches("Target rostering is failing").count(),
        1,
        "{shown}"
    );
    let notices: Vec<_> = app
        .store
        .job_events_after(0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|e| match e {
            cc_domain::StreamEvent::Notice(n) if n.topic == cc_domain::NoticeTopic::Target => {
                Some(n)
            }
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");

    // The target comes back: the next operation that works there says so.
    std::fs::remove_file(&down).unwrap();
    let mut input = cc_tests::student("toast.back");
    input.status = Some(cc_domain::UserStatus::Pending);
    let user = app.client.create_user(&input).await.unwrap();
    app.client
        .user_action(user.id, "provision", false)
        .await
        .unwrap();
    b.wait_for_text("#toasts", "Target rostering works again")
        .await;
    assert_eq!(
        b.eval("return window.ccMarker || null;").await,
        serde_json::json!("still here"),
        "announced without a reload"
    );
    b.finish().await;
    worker.stop().await;
    app.stop().await;
}

backend_tests!(
    pages_are_accessible_and_load_nothing_from_elsewhere,
    a_wrong_password_and_a_lockout_say_so_on_the_form,
    logging_out_ends_the_session_on_the_server,
    a_form_without_its_csrf_token_is_refused,
    an_auditor_sees_no_action_and_a_forged_post_is_refused,
    a_job_enqueued_through_the_api_appears_on_the_overview_live,
    the_health_page_refreshes_itself_without_javascript,
    a_disabled_operator_is_signed_out_at_the_next_page,
    console_sessions_end_when_idle_and_when_too_old,
    imports_and_targets_are_announced_as_toasts,
    a_page_follows_the_stream_from_where_it_was_rendered,
);
