//! The console's People, Person, Groups, Devices and Policies pages in real headless
//! Chromium: a lifecycle action from the person page (plan, confirm, the job completing live,
//! a temporary password shown once), search, filters and paging with JavaScript off, an
//! auditor's view without actions and the server's refusal of a forged action, and an
//! accessibility scan of each page.

use std::sync::Arc;
use std::time::Duration;

use cc_domain::{NewDevice, NewGroup, OperatorRole, Platform, UserStatus};
use cc_queue::Registry;
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::browser::Browser;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{student, test_config, Backend, TestApp};

/// The bash example target, keeping its accounts (with passwords) as files in `dir`.
fn bash_target(dir: &std::path::Path) -> Arc<dyn cc_connectors::Target> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scripts/bash/cc-target.sh");
    let text = format!(
        "kind = \"script\"\nname = \"accounts\"\nholds_passwords = true\ncommand = [\"bash\", \"{}\"]\nenv = {{ CC_SCRIPT_STATE_DIR = \"{}\" }}\n",
        script.display(),
        dir.display()
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).expect("valid target");
    c.build().expect("target builds")
}

/// The console with the bash target and a worker running its jobs.
async fn app_with_target(dir: &std::path::Path) -> (TestApp, RunningWorker) {
    let target = bash_target(dir);
    let slot: Arc<std::sync::Mutex<Option<cc_lifecycle::Engine>>> = Arc::default();
    let out = slot.clone();
    let app = TestApp::spawn_console_customized(Backend::Sqlite, test_config(), move |state| {
        let engine =
            cc_lifecycle::Engine::new(state.store.clone(), vec![target], state.auth.clone());
        *out.lock().unwrap() = Some(engine.clone());
        state.with_lifecycle(engine, LifecyclePolicy::default())
    })
    .await;
    let engine = slot.lock().unwrap().take().expect("engine");
    let mut registry = Registry::with_builtins();
    engine.register(&mut registry);
    let worker = RunningWorker::start(app.store.clone(), registry, fast_config(&[("default", 2)]));
    (app, worker)
}

async fn click(b: &Browser, css: &str) {
    b.client
        .wait()
        .at_most(cc_tests::browser::DEADLINE)
        .for_element(fantoccini::Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .expect("click");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provision_from_the_person_page_runs_live_and_a_password_shows_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, worker) = app_with_target(dir.path()).await;
    let mut input = student("ada.console");
    input.given_name = "Ada".into();
    input.status = Some(UserStatus::Pending);
    let user = app.client.create_user(&input).await.expect("create");

    let mut b = Browser::start(&app.base_url).await;
    b.sign_in("admin", &app.admin_password).await;
    b.goto(&format!("/people/{}", user.id)).await;
    b.wait_for_text("main h1", "Ada").await;
    b.wait_for_text("#person-targets", "accounts").await;
    b.axe_check("person").await;
    b.screenshot("person").await;

    // The plan first.
    click(
        &b,
        &format!("a[href='/people/{}/actions/provision']", user.id),
    )
    .await;
    b.wait_for_text("main h1", "Provision").await;
    let plan = b.wait_for_text("#plan", "accounts").await;
    assert!(!plan.contains("Could not plan"), "{plan}");
    b.axe_check("person-plan").await;
    b.screenshot("person-plan").await;

    // Confirm: the job is shown and reaches `completed` without a reload.
    click(&b, "main form button[type='submit']").await;
    let job = b.wait_for_text("#action-job", "").await;
    let job_id: i64 = job.trim().parse().expect("a job id");
    b.eval("document.body.dataset.marker = 'same-document'; return true;")
        .await;
    let row = format!("#person-jobs tr[data-job-id='{job_id}'] .job-state");
    b.wait_until_for(
        "the provision job to show completed",
        Duration::from_secs(5),
        &mut |b: &Browser| {
            let row = row.clone();
            async move { b.text(&row).await.filter(|t| t.contains("completed")) }
        },
    )
    .await;
    assert_eq!(
        b.eval("return document.body.dataset.marker || null;").await,
        serde_json::json!("same-document"),
        "the page reloaded instead of updating in place"
    );
    assert_eq!(b.path().await, format!("/people/{}", user.id));
    b.wait_for_text("#person-status", "active").await;

    // Reset password: the temporary password is shown once, with a copy button.
    b.goto(&format!("/people/{}/actions/reset-password", user.id))
        .await;
    b.wait_for_text("main h1", "Reset password").await;
    click(&b, "main form button[type='submit']").await;
    let password = b.wait_for_text("#password-value", "").await;
    assert!(password.trim().len() >= 8, "{password:?}");
    assert!(b.exists("#temporary-password button[data-copy]").await);
    b.screenshot("person-password").await;
    let on_page = b
        .eval("return document.documentElement.outerHTML;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(on_page.contains(password.trim()));
    // Reload: the address is the person's now; the password is gone for good.
    b.client.refresh().await.expect("reload");
    b.wait_for_text("main h1", "Ada").await;
    assert!(!b.exists("#temporary-password").await);
    let after = b
        .eval("return document.documentElement.outerHTML;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        !after.contains(password.trim()),
        "the password is still on the page"
    );

    // A stale version: a readable conflict, nothing changed.
    b.goto(&format!("/people/{}/actions/suspend", user.id))
        .await;
    b.wait_for_text("main h1", "Suspend").await;
    let patch = cc_domain::UserPatch {
        given_name: Some("Augusta".into()),
        ..cc_domain::UserPatch::default()
    };
    app.client
        .update_user(user.id, &patch, None)
        .await
        .expect("someone else edits");
    click(&b, "main form button[type='submit']").await;
    b.wait_for_text("main .alert", "changed since you reviewed the plan")
        .await;
    // The conflict page answers 409, which the browser logs; nothing else may be logged.
    let errors = b.take_console_errors().await;
    assert!(errors.iter().all(|e| e.contains("409")), "{errors:?}");
    let now = app.client.get_user(user.id).await.expect("get");
    assert_eq!(now.status, UserStatus::Active);
    b.finish().await;
    worker.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_filters_and_paging_work_without_javascript() {
    let app = TestApp::spawn_console(Backend::Sqlite, test_config()).await;
    for i in 0..55 {
        let mut input = student(&format!("pupil{i:02}"));
        if i < 3 {
            input.school = Some("elm-es".into());
            input.grade = Some(3);
        }
        app.client.create_user(&input).await.expect("create");
    }
    let mut b = Browser::start_without_javascript(&app.base_url).await;
    b.sign_in("admin", &app.admin_password).await;
    b.goto("/people").await;
    b.wait_for_text("#people caption", "50 on this page").await;
    // Paging: the next page holds the rest.
    click(&b, "nav.pager a[rel='next']").await;
    b.wait_for_text("#people caption", "5 on this page").await;
    assert!(b.path().await.contains("cursor="), "{}", b.path().await);
    // The form is a plain GET.
    b.goto("/people").await;
    let field = b
        .client
        .find(fantoccini::Locator::Css("#f-school"))
        .await
        .expect("school field");
    field.send_keys("elm-es").await.expect("type");
    click(&b, "form.filters button[type='submit']").await;
    b.wait_for_text("#people caption", "3 on this page").await;
    assert!(b.path().await.contains("school=elm-es"));
    b.goto("/people?q=pupil07").await;
    let table = b.wait_for_text("#people", "pupil07").await;
    assert!(!table.contains("pupil08"), "{table}");
    // A bad filter is a readable error, not a crash.
    b.goto("/people?grade=99").await;
    b.wait_for_text("main", "grade").await;
    let errors = b.take_console_errors().await;
    assert!(errors.iter().all(|e| e.contains("400")), "{errors:?}");
    b.finish().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_sees_no_actions_and_a_forged_action_is_refused() {
    let app = TestApp::spawn_console(Backend::Sqlite, test_config()).await;
    let mut input = student("grace.audit");
    input.given_name = "Grace".into();
    let user = app.client.create_user(&input).await.expect("create");
    let (_, name, password) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut b = Browser::start(&app.base_url).await;
    b.sign_in(&name, &password).await;
    b.goto(&format!("/people/{}", user.id)).await;
    b.wait_for_text("main h1", "Grace").await;
    assert!(!b.exists(".actions-bar").await, "an auditor sees actions");
    assert!(!b.exists("a[href*='/actions/']").await);
    b.goto("/people").await;
    b.wait_for_text("#people", "grace.audit").await;
    b.axe_check("people").await;
    b.screenshot("people").await;
    b.goto("/groups").await;
    b.wait_for_text("main h1", "Groups").await;
    assert!(!b.exists("form[method='post'][action='/groups']").await);
    b.goto("/devices").await;
    b.wait_for_text("main h1", "Devices").await;
    assert!(!b.exists("form[method='post'][action='/devices']").await);
    // A forged action with a valid CSRF token: the server refuses the role.
    let status = b
        .eval(&format!(
            "return fetch('/people/{}/actions/suspend', {{method: 'POST', \
             headers: {{'cc-csrf': document.querySelector('meta[name=cc-csrf]').content, \
             'content-type': 'application/x-www-form-urlencoded'}}, body: 'version=1'}})\
             .then(r => r.status);",
            user.id
        ))
        .await;
    assert_eq!(status, serde_json::json!(403));
    let errors = b.take_console_errors().await;
    assert!(
        errors.iter().all(|e| e.contains("403")),
        "unexpected console errors: {errors:?}"
    );
    b.goto(&format!("/people/{}/actions/suspend", user.id))
        .await;
    b.wait_for_text("main .request-id", "Request id").await;
    let _ = b.take_console_errors().await;
    let now = app.client.get_user(user.id).await.expect("get");
    assert_eq!(now.status, user.status);
    b.finish().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_devices_and_policies_pages() {
    let app = TestApp::spawn_console(Backend::Sqlite, test_config()).await;
    let group = app
        .client
        .create_group(&NewGroup {
            name: "lhs-robotics".into(),
            ..NewGroup::default()
        })
        .await
        .expect("group");
    let mut pupil = student("alan.group");
    pupil.groups = vec!["lhs-robotics".into()];
    app.client.create_user(&pupil).await.expect("member");
    let policy: cc_domain::NewPolicy = serde_json::from_value(serde_json::json!({
        "name": "disk-encryption", "category": "security", "severity": "high",
        "rule": {"fact": "disk_encryption", "op": "eq", "value": true},
        "remediation": "Turn on FileVault."
    }))
    .expect("policy");
    app.client.create_policy(&policy).await.expect("policy");
    let device = app
        .client
        .create_device(&NewDevice {
            serial_number: "C02CONSOLE1".into(),
            platform: Platform::Macos,
            facts: Some(serde_json::json!({"disk_encryption": false})),
            ..NewDevice::default()
        })
        .await
        .expect("device");

    let mut b = Browser::start(&app.base_url).await;
    b.sign_in("admin", &app.admin_password).await;
    b.goto("/groups").await;
    b.wait_for_text("#groups", "lhs-robotics").await;
    b.axe_check("groups").await;
    b.screenshot("groups").await;
    b.goto(&format!("/groups/{}", group.id)).await;
    b.wait_for_text("#members", "alan.group").await;
    b.axe_check("group").await;
    // Create a group through the form.
    b.goto("/groups").await;
    b.client
        .find(fantoccini::Locator::Css("form[method='post'] #new-name"))
        .await
        .expect("name field")
        .send_keys("chess-club")
        .await
        .expect("type");
    click(
        &b,
        "form[method='post'][action='/groups'] button[type='submit']",
    )
    .await;
    b.wait_for_text("main h1", "chess-club").await;
    // Edit it.
    click(&b, "details.card summary").await;
    let display = b
        .client
        .find(fantoccini::Locator::Css("#edit-display_name"))
        .await
        .expect("display name field");
    display.clear().await.expect("clear");
    display.send_keys("Chess Club").await.expect("type");
    click(&b, "details.card button[type='submit']").await;
    b.wait_for_text("main h1", "Chess Club").await;

    b.goto("/devices").await;
    b.wait_for_text("#devices", "C02CONSOLE1").await;
    b.axe_check("devices").await;
    b.screenshot("devices").await;
    b.goto(&format!("/devices/{}", device.id)).await;
    let rules = b.wait_for_text("#device-policies", "disk-encryption").await;
    assert!(rules.contains("fails"), "{rules}");
    assert!(rules.contains("Turn on FileVault."), "{rules}");
    b.axe_check("device").await;
    b.screenshot("device").await;
    // Register a device through the form.
    b.goto("/devices").await;
    b.client
        .find(fantoccini::Locator::Css(
            "form[method='post'] #new-serial_number",
        ))
        .await
        .expect("serial field")
        .send_keys("5CG0NEW1")
        .await
        .expect("type");
    click(
        &b,
        "form[method='post'][action='/devices'] button[type='submit']",
    )
    .await;
    b.wait_for_text("main", "5CG0NEW1").await;
    click(&b, "details.card summary").await;
    b.client
        .find(fantoccini::Locator::Css("#edit-model"))
        .await
        .expect("model field")
        .send_keys("EliteBook 840")
        .await
        .expect("type");
    click(&b, "details.card button[type='submit']").await;
    b.wait_for_text("main dl.fields", "EliteBook 840").await;

    b.goto("/policies").await;
    b.wait_for_text("#policies", "disk-encryption").await;
    b.axe_check("policies").await;
    b.screenshot("policies").await;
    click(&b, "#policies a").await;
    b.wait_for_text("#policy-rule", "disk_encryption").await;
    b.axe_check("policy").await;
    b.finish().await;
    app.stop().await;
}
