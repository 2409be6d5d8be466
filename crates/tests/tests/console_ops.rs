//! The console's Jobs, Imports, Audit, Operators and API-token pages in real headless
//! Chromium: an import through the page matches the CLI's dry run, a tripped guard must be
//! confirmed by name (and the server refuses a forged apply without it), a job is cancelled
//! and re-driven from its page, the audit chain is verified from the page, an operator is
//! created and a token's secret is shown once. Every page passes the accessibility scan, and
//! no page logs a console error or loads anything from another origin.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use cc_domain::NewJob;
use cc_tests::browser::Browser;
use cc_tests::queue::command_center_bin;
use cc_tests::{test_config, Backend, TestApp};
use fantoccini::Locator;
use serde_json::Value;

async fn console_app() -> TestApp {
    TestApp::spawn_console(Backend::Sqlite, test_config()).await
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../roster/tests/fixtures/csv")
        .join(name)
        .canonicalize()
        .unwrap()
}

/// `command-center import --dry-run --output json <file>` against the app's database.
fn cli_dry_run(app: &TestApp, file: &Path) -> Value {
    let out = Command::new(command_center_bin())
        .args(["import", "--dry-run", "--output", "json"])
        .arg(file)
        .env("CC_DATABASE_URL", &app.db.url)
        .env_remove("CC_CONFIG")
        .output()
        .expect("run command-center import --dry-run");
    assert!(
        out.status.success(),
        "the CLI dry run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the CLI's plan as JSON")
}

/// Uploads `file` through `/imports/new` and waits for the run's page to show its plan.
async fn upload(b: &mut Browser, file: &Path) -> String {
    b.goto("/imports/new").await;
    b.wait_for_text("main h1", "Upload a roster export").await;
    b.client
        .find(Locator::Css("#i-file"))
        .await
        .unwrap()
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    b.click("main form button[type='submit']").await;
    let path = b
        .wait_until("the import run's page", |b| async move {
            let p = b.path().await;
            (p.starts_with("/imports/") && p != "/imports/new").then_some(p)
        })
        .await;
    b.wait_until("the plan", |b| async move {
        b.exists("#plan-counts").await.then_some(())
    })
    .await;
    b.collect_logs().await;
    path
}

async fn page_count(b: &Browser, key: &str) -> u64 {
    b.text(&format!("#plan-counts tr[data-count='{key}'] td"))
        .await
        .unwrap_or_default()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imports_preview_like_the_cli_and_guards_need_a_named_confirmation() {
    let app = console_app().await;
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/imports").await;
    b.wait_for_text("main h1", "Imports").await;
    b.axe_check("imports").await;
    b.screenshot("imports").await;

    // The preview of a clean file counts exactly what the CLI's dry run counts.
    let roster = fixture("roster.csv");
    let cli = cli_dry_run(&app, &roster);
    b.goto("/imports/new").await;
    b.axe_check("new import").await;
    b.screenshot("import-new").await;
    let run_page = upload(&mut b, &roster).await;
    b.wait_for_text("#import-status", "planned").await;
    for key in [
        "rows",
        "created",
        "updated",
        "moved",
        "suspended",
        "reactivated",
        "unchanged",
        "errors",
        "groups_created",
        "memberships_added",
    ] {
        let expected = cli["counts"][key].as_u64().unwrap();
        assert_eq!(
            page_count(&b, key).await,
            expected,
            "{key}: the page and `command-center import --dry-run` disagree"
        );
    }
    assert!(page_count(&b, "created").await > 0);
    b.axe_check("import preview").await;
    b.screenshot("import-preview").await;

    // Apply it; the page follows the run until it is applied, without a reload.
    b.click("#apply-form button[type='submit']").await;
    b.wait_for_text("#import-status", "applied").await;
    assert_eq!(b.path().await, run_page);
    let people = app
        .store
        .list_users(&cc_domain::UserQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        people.items.len() as u64,
        cli["counts"]["created"].as_u64().unwrap(),
        "the apply created the people the preview counted"
    );

    // A truncated bulk file trips its guard: the page names it with its own checkbox.
    let truncated = fixture("truncated-line.csv");
    let guarded = upload(&mut b, &truncated).await;
    b.wait_for_text("#import-status", "refused").await;
    b.wait_for_text("#guards", "truncated").await;
    assert!(b.exists("#confirm-allow_truncated").await);
    b.axe_check("import guards").await;
    b.screenshot("import-guards").await;

    // Applying without confirming is refused, and nothing changes.
    b.click("#apply-form button[type='submit']").await;
    b.wait_for_text("main", "confirm each tripped guard").await;
    b.wait_for_text("main", "allow_truncated").await;
    let errors = b.take_console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("409")),
        "only the refused form's status is logged: {errors:?}"
    );
    let id = guarded.trim_start_matches("/imports/").to_owned();
    let run = app
        .store
        .imports()
        .unwrap()
        .get_import_run(id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status.as_str(), "refused");

    // So is a forged POST that skips the checkbox (with a valid session and token).
    b.goto(&guarded).await;
    let cookie = b.session_cookie().await;
    let token = b.csrf_token().await;
    let res = reqwest::Client::new()
        .post(b.url(&format!("{guarded}/apply")))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
    assert!(res.text().await.unwrap().contains("allow_truncated"));

    // Confirming every tripped guard by name applies it.
    let boxes = b
        .client
        .find_all(Locator::Css("#apply-form input[name='confirm']"))
        .await
        .unwrap();
    assert!(!boxes.is_empty());
    for cb in boxes {
        cb.click().await.unwrap();
    }
    b.click("#apply-form button[type='submit']").await;
    b.wait_for_text("#import-status", "applied").await;
    b.finish().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_is_cancelled_and_retried_from_its_page_and_the_audit_chain_verified() {
    let app = console_app().await;
    let job = cc_queue::ops::enqueue(
        app.store.as_ref(),
        &NewJob::new("system.noop", serde_json::json!({})).with_queue("console-test"),
    )
    .await
    .unwrap();
    let mut b = Browser::signed_in(
        &app.base_url,
        "admin",
        &app.admin_password,
        "/jobs?queue=console-test",
    )
    .await;
    b.wait_for_text("#job-list", "system.noop").await;
    b.axe_check("jobs").await;
    b.screenshot("jobs").await;

    b.click(&format!("#job-list a[href='/jobs/{}']", job.id))
        .await;
    b.wait_for_text("#job-state", "available").await;
    b.axe_check("job").await;
    b.screenshot("job").await;
    b.click("form[action$='/cancel'] button").await;
    b.wait_for_text("#job-state", "cancelled").await;
    assert_eq!(
        app.store.get_job(job.id).await.unwrap().unwrap().state,
        cc_domain::JobState::Cancelled
    );
    b.click("form[action$='/retry'] button").await;
    b.wait_for_text("#job-state", "available").await;
    assert_eq!(
        app.store.get_job(job.id).await.unwrap().unwrap().state,
        cc_domain::JobState::Available
    );

    // The job's audit events are on the audit page, and the chain verifies from there.
    b.goto("/audit?action=job.").await;
    b.wait_for_text("main h1", "Audit").await;
    b.wait_for_text("main table", "job.cancel").await;
    b.axe_check("audit").await;
    b.screenshot("audit").await;
    b.click("form[action='/audit/verify'] button").await;
    b.wait_for_text("#verify-result", "Intact").await;
    b.axe_check("audit verify").await;
    b.screenshot("audit-verify").await;
    b.finish().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_an_operator_and_a_token_whose_secret_is_shown_once() {
    let app = console_app().await;
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/operators").await;
    b.wait_for_text("main h1", "Operators").await;
    b.fill("#o-name", "helpdesk").await;
    b.fill("#o-password", "a long enough passphrase 42").await;
    b.click("#operator-form button[type='submit']").await;
    b.wait_for_text("#operators", "helpdesk").await;
    b.axe_check("operators").await;
    b.screenshot("operators").await;
    let ops = app.auth.list_operators().await.unwrap();
    assert!(ops.iter().any(|o| o.username == "helpdesk"));

    b.goto("/tokens").await;
    b.wait_for_text("main h1", "API tokens").await;
    b.fill("#t-name", "nightly-sync").await;
    b.click("#token-form button[type='submit']").await;
    b.wait_for_text("#new-secret", "shown only this once").await;
    let secret = b
        .eval("return document.getElementById('token-secret').value;")
        .await
        .as_str()
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 20, "a secret is shown: {secret:?}");
    b.axe_check("token created").await;
    b.screenshot("tokens").await;
    // The secret works, as shown.
    let me = reqwest::Client::new()
        .get(b.url("/api/v1/jobs"))
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    // And it is never shown again.
    b.goto("/tokens").await;
    b.wait_for_text("#tokens", "nightly-sync").await;
    let source = b.client.source().await.unwrap();
    assert!(!source.contains(&secret), "the secret is shown again");
    assert!(!b.exists("#token-secret").await);
    b.finish().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_sees_no_actions_and_forged_ones_are_refused() {
    let app = console_app().await;
    let password = "an auditor's long passphrase";
    app.auth
        .create_operator(
            &cc_domain::Actor::system("test"),
            cc_domain::NewOperator {
                username: "reviewer".into(),
                password: password.into(),
                role: cc_domain::OperatorRole::Auditor,
            },
        )
        .await
        .unwrap();
    let job = cc_queue::ops::enqueue(
        app.store.as_ref(),
        &NewJob::new("system.noop", serde_json::json!({})).with_queue("console-test"),
    )
    .await
    .unwrap();
    let mut b = Browser::signed_in(
        &app.base_url,
        "reviewer",
        password,
        &format!("/jobs/{}", job.id),
    )
    .await;
    b.wait_for_text("#job-state", "available").await;
    assert!(!b.exists("form[action$='/cancel']").await);
    b.goto("/imports").await;
    b.wait_for_text("main h1", "Imports").await;
    assert!(!b.exists("a[href='/imports/new']").await);
    assert!(!b.exists("header nav a[href='/operators']").await);

    let cookie = b.session_cookie().await;
    let token = b.csrf_token().await;
    let http = reqwest::Client::new();
    let res = http
        .post(b.url(&format!("/jobs/{}/cancel", job.id)))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(
        app.store.get_job(job.id).await.unwrap().unwrap().state,
        cc_domain::JobState::Available
    );
    for page in ["/operators", "/tokens"] {
        let res = http
            .get(b.url(page))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{page}");
    }
    b.finish().await;
    app.stop().await;
}
