//! The console's People, Person, Groups, Devices and Policies pages in real headless
//! Chromium: a lifecycle action from the person page (plan, confirm, the job completing live,
//! a temporary password shown once), search, filters and paging with JavaScript off, an
//! auditor's view without actions and the server's refusal of a forged action, and an
//! accessibility scan of each page. Every test runs on both backends.

use std::sync::Arc;
use std::time::Duration;

use cc_domain::{NewDevice, NewGroup, OperatorRole, Platform, UserStatus};
use cc_queue::Registry;
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::browser::{http, http_sign_in, Browser};
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, student, test_config, Backend, TestApp};

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
async fn app_with_target(backend: Backend, dir: &std::path::Path) -> (TestApp, RunningWorker) {
    let target = bash_target(dir);
    let slot: Arc<std::sync::Mutex<Option<cc_lifecycle::Engine>>> = Arc::default();
    let out = slot.clone();
    let app = TestApp::spawn_console_customized(backend, test_config(), move |state| {
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

async fn provision_from_the_person_page_runs_live_and_a_password_shows_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, worker) = app_with_target(backend, dir.path()).await;
    let mut input = student("ada.console");
    input.given_name = "Ada".into();
    input.status = Some(UserStatus::Pending);
    let user = app.client.create_user(&input).await.expect("create");

    let mut b = Browser::signed_in(
        &app.base_url,
        "admin",
        &app.admin_password,
        &format!("/people/{}", user.id),
    )
    .await;
    b.wait_for_text("main h1", "Ada").await;
    b.wait_for_text("#person-targets", "accounts").await;
    b.axe_check("person").await;
    b.screenshot("person").await;

    // The plan first.
    b.click(&format!("a[href='/people/{}/actions/provision']", user.id))
        .await;
    b.wait_for_text("main h1", "Provision").await;
    let plan = b.wait_for_text("#plan", "accounts").await;
    assert!(!plan.contains("Could not plan"), "{plan}");
    b.axe_check("person-plan").await;
    b.screenshot("person-plan").await;

    // Confirm: the job is shown and reaches `completed` without a reload.
    b.click("main form button[type='submit']").await;
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
    b.click("main form button[type='submit']").await;
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
    b.click("main form button[type='submit']").await;
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

async fn search_filters_and_paging_work_without_javascript(backend: Backend) {
    let app = TestApp::spawn_console(backend, test_config()).await;
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
    b.click("nav.pager a[rel='next']").await;
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
    b.click("form.filters button[type='submit']").await;
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

async fn an_auditor_sees_no_actions_and_a_forged_action_is_refused(backend: Backend) {
    let app = TestApp::spawn_console(backend, test_config()).await;
    let mut input = student("grace.audit");
    input.given_name = "Grace".into();
    let user = app.client.create_user(&input).await.expect("create");
    let (_, name, password) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut b = Browser::signed_in(
        &app.base_url,
        &name,
        &password,
        &format!("/people/{}", user.id),
    )
    .await;
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

async fn groups_devices_and_policies_pages(backend: Backend) {
    let app = TestApp::spawn_console(backend, test_config()).await;
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

    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, "/groups").await;
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
    b.click("form[method='post'][action='/groups'] button[type='submit']")
        .await;
    b.wait_for_text("main h1", "chess-club").await;
    // Edit it.
    b.click("details.card summary").await;
    let display = b
        .client
        .find(fantoccini::Locator::Css("#edit-display_name"))
        .await
        .expect("display name field");
    display.clear().await.expect("clear");
    display.send_keys("Chess Club").await.expect("type");
    b.click("details.card button[type='submit']").await;
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
    b.click("form[method='post'][action='/devices'] button[type='submit']")
        .await;
    b.wait_for_text("main", "5CG0NEW1").await;
    b.click("details.card summary").await;
    b.client
        .find(fantoccini::Locator::Css("#edit-model"))
        .await
        .expect("model field")
        .send_keys("EliteBook 840")
        .await
        .expect("type");
    b.click("details.card button[type='submit']").await;
    b.wait_for_text("main dl.fields", "EliteBook 840").await;

    b.goto("/policies").await;
    b.wait_for_text("#policies", "disk-encryption").await;
    b.axe_check("policies").await;
    b.screenshot("policies").await;
    b.click("#policies a").await;
    b.wait_for_text("#policy-rule", "disk_encryption").await;
    b.axe_check("policy").await;
    b.finish().await;
    app.stop().await;
}

/// The value of the form field `name` in a page's HTML.
fn form_value(html: &str, name: &str) -> String {
    let at = html
        .find(&format!("name=\"{name}\" value=\""))
        .unwrap_or_else(|| panic!("no {name} field in {html}"));
    let rest = &html[at + name.len() + 15..];
    rest.split('"').next().expect("a value").to_owned()
}

async fn posting_an_action_again_requests_nothing(backend: Backend) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (app, worker) = app_with_target(backend, dir.path()).await;
    let mut input = student("replay.me");
    input.status = Some(UserStatus::Active);
    let user = app.client.create_user(&input).await.expect("create");
    let cookie = http_sign_in(&app.base_url, "admin", &app.admin_password).await;
    let action = format!("/people/{}/actions/reset-password", user.id);
    let plan = http()
        .get(format!("{}{action}", app.base_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", form_value(&plan, "csrf")),
        ("version", form_value(&plan, "version")),
        ("form_token", form_value(&plan, "form_token")),
    ];
    let post = || {
        http()
            .post(format!("{}{action}", app.base_url))
            .header("cookie", &cookie)
            .form(&form)
            .send()
    };
    let first = post().await.unwrap();
    assert_eq!(first.status(), 200);
    let page = first.text().await.unwrap();
    assert!(page.contains("temporary-password"), "the password, once");
    let job_id = page
        .split("id=\"action-job\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .expect("the job on the answer")
        .to_owned();
    // The same form again (what a reload without the script sends): no second request, no
    // password; the answer points at the first request's job.
    for _ in 0..2 {
        let again = post().await.unwrap();
        assert_eq!(again.status(), 303);
        assert_eq!(
            again.headers()["location"],
            format!("/jobs/{job_id}").as_str()
        );
    }
    let jobs = app
        .client
        .list_jobs(&[("kind", "lifecycle.reset_password")])
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), 1, "{:?}", jobs.items);
    let audit = app
        .client
        .list_audit(&[("action", "user.reset_password")])
        .await
        .unwrap();
    assert_eq!(audit.items.len(), 1, "requested once");
    // A fresh plan page carries a fresh token: asking again on purpose works.
    let plan = http()
        .get(format!("{}{action}", app.base_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(form_value(&plan, "form_token"), form[2].1);
    worker.stop().await;
    app.stop().await;
}

async fn policies_and_group_members_are_edited_from_their_pages(backend: Backend) {
    let app = TestApp::spawn_console(backend, test_config()).await;
    let group = app
        .client
        .create_group(&NewGroup {
            name: "chess-club".into(),
            ..NewGroup::default()
        })
        .await
        .expect("group");
    app.client
        .create_user(&student("ada.member"))
        .await
        .expect("person");
    let group_page = format!("/groups/{}", group.id);
    let mut b = Browser::signed_in(&app.base_url, "admin", &app.admin_password, &group_page).await;

    // Members: add by username, remove with the row's button (after the confirmation).
    b.fill("#new-username", "ada.member").await;
    b.click("#add-member button[type='submit']").await;
    b.wait_for_text("#members", "ada.member").await;
    b.axe_check("group-members").await;
    b.click("#members tr[data-user='ada.member'] button").await;
    b.click("dialog button.primary").await;
    b.wait_for_text("main", "No members.").await;
    let audit = app
        .client
        .list_audit(&[("action", "group.")])
        .await
        .unwrap();
    let members: Vec<&str> = audit
        .items
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| a.starts_with("group.member_"))
        .collect();
    assert_eq!(
        members,
        ["group.member_remove", "group.member_add"],
        "added and removed, audited"
    );
    // An unknown name: the problem, readable, with the request id.
    b.fill("#new-username", "nobody.here").await;
    b.click("#add-member button[type='submit']").await;
    b.wait_for_text("main", "no person has this username").await;
    assert!(b.text("main").await.unwrap().contains("Request id:"));
    let errors = b.take_console_errors().await;
    assert!(errors.iter().all(|e| e.contains("422")), "{errors:?}");

    // A policy created below the list, with a rule in the grammar.
    b.goto("/policies").await;
    b.fill("#new-name", "disk-encrypted").await;
    b.fill("#new-platforms", "windows, macos").await;
    b.click("section.card form.policy-form button[type='submit']")
        .await;
    b.wait_for_text("main h1", "disk-encrypted").await;
    b.wait_for_text("#policy-rule", "disk_encryption").await;
    let policy_page = b.path().await;
    // Editing: JSON that does not parse, then a rule the grammar refuses, each readable.
    b.click("#edit-policy summary").await;
    b.fill("#edit-rule", r#"{"all": [}"#).await;
    b.click("#edit-policy button[type='submit']").await;
    b.wait_for_text("main", "not JSON").await;
    b.goto(&policy_page).await;
    b.click("#edit-policy summary").await;
    b.fill(
        "#edit-rule",
        r#"{"fact": "os_version", "op": "newer", "value": "14"}"#,
    )
    .await;
    b.click("#edit-policy button[type='submit']").await;
    b.wait_for_text("main", "rule").await;
    let text = b.text("main").await.unwrap();
    assert!(
        text.contains("Validation failed") && text.contains("Request id:"),
        "{text}"
    );
    let errors = b.take_console_errors().await;
    assert!(errors.iter().all(|e| e.contains("422")), "{errors:?}");
    // A good rule saves, at the next version.
    b.goto(&policy_page).await;
    b.axe_check("policy").await;
    b.click("#edit-policy summary").await;
    b.fill(
        "#edit-rule",
        r#"{"all": [{"fact": "os_version", "op": "version_gte", "value": "14.0"}]}"#,
    )
    .await;
    b.click("#edit-policy button[type='submit']").await;
    b.wait_for_text("#policy-rule", "version_gte").await;
    b.wait_for_text("#policy-version", "2").await;
    b.screenshot("policy").await;
    b.finish().await;

    // An auditor sees neither form, and the server refuses them anyway.
    let (_, name, password) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut b = Browser::signed_in(&app.base_url, &name, &password, &group_page).await;
    assert!(!b.exists("#add-member").await);
    b.goto(&policy_page).await;
    b.wait_for_text("main h1", "disk-encrypted").await;
    assert!(!b.exists("#edit-policy").await);
    b.goto("/policies").await;
    assert!(!b.exists("form.policy-form").await);
    let cookie = b.session_cookie().await;
    let csrf = b.csrf_token().await;
    for (path, field) in [
        (format!("{group_page}/members"), ("username", "ada.member")),
        (policy_page.clone(), ("name", "renamed")),
    ] {
        let res = http()
            .post(format!("{}{path}", app.base_url))
            .header("cookie", &cookie)
            .form(&[("csrf", csrf.as_str()), field])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{path}");
    }
    b.finish().await;
    app.stop().await;
}

backend_tests!(
    policies_and_group_members_are_edited_from_their_pages,
    posting_an_action_again_requests_nothing,
    provision_from_the_person_page_runs_live_and_a_password_shows_once,
    search_filters_and_paging_work_without_javascript,
    an_auditor_sees_no_actions_and_a_forged_action_is_refused,
    groups_devices_and_policies_pages,
);
