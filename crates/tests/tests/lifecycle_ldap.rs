//! End to end against a real OpenLDAP slapd: a person's whole lifecycle through the API and
//! the job queue, with every step re-run to show it converges, and a directory outage that
//! the job rides out by retrying.

#[path = "lifecycle/harness.rs"]
#[allow(dead_code)] // shared with the lifecycle tests, which use all of it
mod harness;

use std::sync::Arc;
use std::time::Duration;

use cc_connectors::Target;
use cc_domain::{JobState, UserPatch};
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::ldap::{TestLdap, ADMIN_DN, ADMIN_PASSWORD};
use cc_tests::queue::WorkerProcess;
use cc_tests::{backend_tests, wait_for, Backend};
use harness::{finished, job_id, Harness};
use serde_json::Value;

fn ldap_target(ldap: &TestLdap) -> Arc<dyn Target> {
    ldap_target_with(ldap, "")
}

fn ldap_target_with(ldap: &TestLdap, extra: &str) -> Arc<dyn Target> {
    ldap_target_configured(ldap, "", extra)
}

/// The target with `top` among its top-level keys and `extra` (tables) at the end.
fn ldap_target_configured(ldap: &TestLdap, top: &str, extra: &str) -> Arc<dyn Target> {
    let text = format!(
        r#"
        kind = "ldap"
        name = "district-ldap"
        {top}
        url = "{url}"
        bind_dn = "{ADMIN_DN}"
        bind_password = "{ADMIN_PASSWORD}"
        base_dn = "dc=example,dc=org"
        user_ou = "ou={{grade_label}},ou={{school}},ou=Students,dc=example,dc=org"
        timeout_ms = 2000
        [disable]
        attribute = "pwdAccountLockedTime"
        value = "000001010000Z"
        {extra}
        "#,
        url = ldap.url()
    );
    let c: cc_connectors::TargetConfig =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    c.build().expect("target builds")
}

fn dn(grade: &str) -> String {
    format!("uid=ada,ou={grade},ou=lincoln-hs,ou=Students,dc=example,dc=org")
}

fn first(entry: &std::collections::HashMap<String, Vec<String>>, attr: &str) -> Option<String> {
    entry.get(attr).and_then(|v| v.first().cloned())
}

/// The job's outcome on the one target.
fn outcome(detail: &cc_domain::JobDetail) -> Value {
    detail.job.result.clone().expect("result")["targets"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_lifecycle_on_openldap() {
    let mut ldap = TestLdap::start().await;
    let mut h = Harness::start(
        Backend::Sqlite,
        vec![ldap_target(&ldap)],
        LifecyclePolicy {
            sync_on_change: true,
            auto_provision: false,
        },
    )
    .await;
    h.start_worker();
    let c = h.client().clone();
    let mut input = cc_tests::student("ada");
    input.given_name = "Ada".into();
    input.family_name = "Lovelace".into();
    input.grade = Some(10);
    let ada = c.create_user(&input).await.unwrap();
    assert!(ldap.entry(&dn("grade-10")).await.is_none());

    // Provision: the entry exists with the mapped attributes, and the password works.
    let (_, body) = c.user_action(ada.id, "provision", false).await.unwrap();
    let pw = body["temporary_password"].as_str().unwrap().to_owned();
    let done = finished(&c, job_id(&body)).await;
    assert_eq!(done.job.state, JobState::Completed, "{:?}", done.job.errors);
    assert_eq!(outcome(&done)["status"], "changed");
    let entry = ldap.entry(&dn("grade-10")).await.expect("entry created");
    assert_eq!(first(&entry, "givenname").as_deref(), Some("Ada"));
    assert_eq!(first(&entry, "sn").as_deref(), Some("Lovelace"));
    assert_eq!(
        first(&entry, "mail").as_deref(),
        Some("ada@students.example.org")
    );
    assert!(ldap.can_bind(&dn("grade-10"), &pw).await);
    // Re-running converges: nothing changes, no duplicate.
    let (_, again) = c.user_action(ada.id, "provision", false).await.unwrap();
    let again_pw = again["temporary_password"].as_str().unwrap().to_owned();
    let done = finished(&c, job_id(&again)).await;
    assert_eq!(done.job.state, JobState::Completed);
    assert_eq!(ldap.search("dc=example,dc=org", "(uid=ada)").await.len(), 1);
    // Provision sets a password only when the account cannot log in with it: a re-run with
    // a new one sets it (and reports just that).
    assert!(ldap.can_bind(&dn("grade-10"), &again_pw).await);

    // A grade change through the API moves the entry to the new OU.
    let patch = UserPatch {
        grade: Some(Some(11)),
        ..UserPatch::default()
    };
    c.update_user(ada.id, &patch, None).await.unwrap();
    wait_for("the move to grade-11", Duration::from_secs(30), || async {
        ldap.entry(&dn("grade-11")).await.map(|_| ())
    })
    .await;
    assert!(ldap.entry(&dn("grade-10")).await.is_none());
    let links = c.user_targets(ada.id).await.unwrap();
    wait_for(
        "the link to follow the move",
        Duration::from_secs(30),
        || async {
            let links = c.user_targets(ada.id).await.ok()?;
            (links["links"][0]["account_id"] == dn("grade-11")).then_some(())
        },
    )
    .await;
    assert_eq!(links["links"][0]["target"], "district-ldap");

    // Reset-password: the dry run shows where the password would be set; then a bind with
    // the new password succeeds, the old one no longer does.
    let (_, plan) = c.user_action(ada.id, "reset-password", true).await.unwrap();
    let target = &plan["targets"][0];
    assert!(target["error"].is_null(), "{target}");
    assert_eq!(
        target["plan"]["changes"][0]["kind"], "set_password",
        "{target}"
    );
    assert!(
        ldap.can_bind(&dn("grade-11"), &again_pw).await,
        "a dry run changes nothing"
    );
    let (_, reset) = c
        .user_action(ada.id, "reset-password", false)
        .await
        .unwrap();
    let new_pw = reset["temporary_password"].as_str().unwrap().to_owned();
    assert_eq!(
        finished(&c, job_id(&reset)).await.job.state,
        JobState::Completed
    );
    assert!(ldap.can_bind(&dn("grade-11"), &new_pw).await);
    assert!(!ldap.can_bind(&dn("grade-11"), &again_pw).await);

    // Suspend: locked as configured; a re-run changes nothing.
    let (_, sus) = c.user_action(ada.id, "suspend", false).await.unwrap();
    assert_eq!(
        finished(&c, job_id(&sus)).await.job.state,
        JobState::Completed
    );
    let entry = ldap.entry(&dn("grade-11")).await.unwrap();
    assert_eq!(
        first(&entry, "pwdaccountlockedtime").as_deref(),
        Some("000001010000Z")
    );
    assert!(!ldap.can_bind(&dn("grade-11"), &new_pw).await, "locked");
    let (_, sus2) = c.user_action(ada.id, "suspend", false).await.unwrap();
    assert_eq!(
        outcome(&finished(&c, job_id(&sus2)).await)["status"],
        "unchanged"
    );

    // The directory goes down: an edit's update job fails, retries, and succeeds once the
    // directory is back.
    ldap.stop();
    let patch = UserPatch {
        given_name: Some("Augusta Ada".into()),
        ..UserPatch::default()
    };
    c.update_user(ada.id, &patch, None).await.unwrap();
    let update = wait_for(
        "the update job to fail once",
        Duration::from_secs(30),
        || async {
            let jobs = c
                .list_jobs(&[("kind", "lifecycle.update"), ("limit", "10")])
                .await
                .ok()?;
            let job = jobs.items.into_iter().find(|j| j.attempt >= 1)?;
            let d = c.get_job(job.id).await.ok()?;
            (!d.job.errors.is_empty()).then_some(d.job.id)
        },
    )
    .await;
    let links = c.user_targets(ada.id).await.unwrap();
    assert_eq!(links["links"][0]["status"], "failed");
    ldap.restart().await;
    let done = finished(&c, update).await;
    assert_eq!(done.job.state, JobState::Completed, "{:?}", done.job.errors);
    assert!(done.job.attempt >= 2);
    let entry = ldap.entry(&dn("grade-11")).await.unwrap();
    assert_eq!(first(&entry, "givenname").as_deref(), Some("Augusta Ada"));
    assert!(
        first(&entry, "pwdaccountlockedtime").is_some(),
        "an update keeps a suspended account disabled"
    );
    assert_eq!(
        c.user_targets(ada.id).await.unwrap()["links"][0]["status"],
        "ok"
    );

    // Deprovision removes the entry; a re-run is a no-op success.
    let (_, dep) = c.user_action(ada.id, "deprovision", false).await.unwrap();
    assert_eq!(
        finished(&c, job_id(&dep)).await.job.state,
        JobState::Completed
    );
    assert!(ldap
        .search("dc=example,dc=org", "(uid=ada)")
        .await
        .is_empty());
    let (_, dep2) = c.user_action(ada.id, "deprovision", false).await.unwrap();
    assert_eq!(
        outcome(&finished(&c, job_id(&dep2)).await)["status"],
        "unchanged"
    );
    h.stop().await;
}

/// `remove_empty_ous`: the OU a move or a deletion empties is deleted, one still in use is
/// kept, the base and the structure above the account's own OU stay, and a re-run converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_ous_left_behind_are_removed_when_asked() {
    let ldap = TestLdap::start().await;
    let mut h = Harness::start(
        Backend::Sqlite,
        vec![ldap_target_configured(&ldap, "remove_empty_ous = true", "")],
        LifecyclePolicy {
            sync_on_change: true,
            auto_provision: false,
        },
    )
    .await;
    h.start_worker();
    let c = h.client().clone();
    let ou = |grade: &str| format!("ou={grade},ou=lincoln-hs,ou=Students,dc=example,dc=org");
    let mut ids = Vec::new();
    for (name, grade) in [("ada", 10), ("bob", 10), ("cy", 12)] {
        let mut input = cc_tests::student(name);
        input.grade = Some(grade);
        let user = c.create_user(&input).await.unwrap();
        let (_, body) = c.user_action(user.id, "provision", false).await.unwrap();
        let done = finished(&c, job_id(&body)).await;
        assert_eq!(done.job.state, JobState::Completed, "{:?}", done.job.errors);
        ids.push(user.id);
    }
    let (ada, bob, cy) = (ids[0], ids[1], ids[2]);
    let to_grade = |grade| UserPatch {
        grade: Some(Some(grade)),
        ..UserPatch::default()
    };
    let moved = |name: &'static str, grade: &'static str| {
        let ldap = &ldap;
        async move {
            wait_for("the move", Duration::from_secs(30), || async {
                ldap.entry(&format!("uid={name},{}", ou(grade)))
                    .await
                    .map(|_| ())
            })
            .await;
        }
    };

    // Ada leaves grade-10, where Bob still is: the OU stays.
    c.update_user(ada, &to_grade(11), None).await.unwrap();
    moved("ada", "grade-11").await;
    wait_for("ada's job to finish", Duration::from_secs(30), || async {
        let u = c
            .list_users(&[("sync", "in_sync"), ("limit", "10")])
            .await
            .ok()?;
        u.items.iter().any(|u| u.id == ada).then_some(())
    })
    .await;
    assert!(
        ldap.entry(&ou("grade-10")).await.is_some(),
        "still holds bob"
    );

    // Bob leaves it empty: it is removed by his job.
    c.update_user(bob, &to_grade(11), None).await.unwrap();
    moved("bob", "grade-11").await;
    wait_for(
        "ou=grade-10 to be removed",
        Duration::from_secs(30),
        || async { ldap.entry(&ou("grade-10")).await.is_none().then_some(()) },
    )
    .await;

    // A dry run of Cy's deprovision lists the removal of the OU only Cy is in.
    let (_, plan) = c.user_action(cy, "deprovision", true).await.unwrap();
    let changes = plan["targets"][0]["plan"]["changes"].clone();
    let removes_ou = |changes: &Value| {
        changes.as_array().into_iter().flatten().any(|ch| {
            ch["kind"] == "delete" && ch["object"].as_str() == Some(ou("grade-12").as_str())
        })
    };
    assert!(removes_ou(&changes), "{plan}");
    assert!(
        ldap.entry(&ou("grade-12")).await.is_some(),
        "a dry run changes nothing"
    );
    // The dry run of someone who shares the OU does not list it.
    let (_, plan) = c.user_action(ada, "deprovision", true).await.unwrap();
    assert!(
        !removes_ou(&plan["targets"][0]["plan"]["changes"]),
        "{plan}"
    );

    let (_, dep) = c.user_action(cy, "deprovision", false).await.unwrap();
    let done = finished(&c, job_id(&dep)).await;
    assert_eq!(done.job.state, JobState::Completed, "{:?}", done.job.errors);
    assert!(
        removes_ou(&outcome(&done)["changes"]),
        "{:?}",
        done.job.result
    );
    assert!(ldap.entry(&ou("grade-12")).await.is_none());
    // Only the OU the account left: the school, Students and the base stay.
    for kept in [
        "ou=lincoln-hs,ou=Students,dc=example,dc=org",
        "ou=Students,dc=example,dc=org",
        "dc=example,dc=org",
    ] {
        assert!(ldap.entry(kept).await.is_some(), "{kept} was removed");
    }
    assert!(ldap.entry(&ou("grade-11")).await.is_some());
    // Converging: a re-run finds nothing to do.
    let (_, again) = c.user_action(cy, "deprovision", false).await.unwrap();
    let done = finished(&c, job_id(&again)).await;
    assert_eq!(done.job.state, JobState::Completed, "{:?}", done.job.errors);
    assert_eq!(outcome(&done)["status"], "unchanged");
    h.stop().await;
}

backend_tests!(
    a_new_school_provisioned_in_one_batch,
    failed_targets_show_in_the_sync_state_and_a_batch_retry_fixes_them
);

/// The start of a school year: 50 people in a school and grade the directory does not have
/// yet, all in one new group, provisioned as one batch by two workers running 16 jobs each.
/// The jobs race to create the same OUs and the same group; every one completes and every
/// account is right.
async fn a_new_school_provisioned_in_one_batch(backend: Backend) {
    const PEOPLE: usize = 50;
    let ldap = TestLdap::start().await;
    let groups = "[groups]\nbase = \"ou=Groups,dc=example,dc=org\"\ncreate_missing = true\n";
    let mut h = Harness::start(
        backend,
        vec![ldap_target_with(&ldap, groups)],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    c.create_group(&cc_domain::NewGroup {
        name: "bars-grade-6".into(),
        ..cc_domain::NewGroup::default()
    })
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..PEOPLE {
        let mut input = cc_tests::student(&format!("s{i:02}"));
        input.given_name = format!("Given{i}");
        input.school = Some("bars-ms".into());
        input.grade = Some(6);
        input.groups = vec!["bars-grade-6".into()];
        ids.push(c.create_user(&input).await.unwrap().id);
    }
    let ou = "ou=grade-6,ou=bars-ms,ou=Students,dc=example,dc=org";
    assert!(ldap.entry(ou).await.is_none());

    let (status, body) = c
        .bulk_action("provision", &serde_json::json!({ "ids": ids }))
        .await
        .unwrap();
    assert_eq!(status, 202, "{body}");
    let batch: uuid::Uuid = body["batch_id"].as_str().unwrap().parse().unwrap();
    h.start_workers(2, 16);
    let progress = wait_for("the batch to finish", Duration::from_secs(120), || async {
        let p = c.get_batch(batch).await.ok()?;
        p.finished.then_some(p)
    })
    .await;
    assert_eq!(
        progress.counts.get(&JobState::Completed).copied(),
        Some(PEOPLE as i64),
        "{:?}",
        progress.counts
    );

    let group = ldap
        .entry("cn=bars-grade-6,ou=Groups,dc=example,dc=org")
        .await
        .expect("the group was created once");
    for i in 0..PEOPLE {
        let dn = format!("uid=s{i:02},{ou}");
        let entry = ldap
            .entry(&dn)
            .await
            .unwrap_or_else(|| panic!("{dn} missing"));
        assert_eq!(first(&entry, "givenname"), Some(format!("Given{i}")));
        assert_eq!(
            first(&entry, "departmentnumber").as_deref(),
            Some("bars-ms")
        );
        assert!(group["member"].contains(&dn), "{dn} not in the group");
    }
    assert_eq!(group["member"].len(), PEOPLE);
    assert_eq!(
        ldap.search("ou=Students,dc=example,dc=org", "(uid=s*)")
            .await
            .len(),
        PEOPLE
    );
    h.stop().await;
}

/// The start of a school year again, run the way a scale-out deployment runs it: two
/// `command-center worker` processes (16 jobs each) on PostgreSQL share the 50 jobs of one
/// batch, racing on the same new OUs and the same new group; every job completes and every
/// account is right.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_school_provisioned_by_two_worker_processes() {
    const PEOPLE: usize = 50;
    let ldap = TestLdap::start().await;
    let groups = "[groups]\nbase = \"ou=Groups,dc=example,dc=org\"\ncreate_missing = true\n";
    let h = Harness::start(
        Backend::Postgres,
        vec![ldap_target_with(&ldap, groups)],
        LifecyclePolicy::default(),
    )
    .await;
    // The workers' configuration: the same target, from a file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("command-center.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[[targets]]
kind = "ldap"
name = "district-ldap"
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password_file = "bind-password"
base_dn = "dc=example,dc=org"
user_ou = "ou={{grade_label}},ou={{school}},ou=Students,dc=example,dc=org"
timeout_ms = 2000
[targets.disable]
attribute = "pwdAccountLockedTime"
value = "000001010000Z"
[targets.groups]
base = "ou=Groups,dc=example,dc=org"
create_missing = true
"#,
            url = ldap.url()
        ),
    )
    .unwrap();
    // A relative path: read from next to the file, whatever the worker's working directory.
    std::fs::write(
        dir.path().join("bind-password"),
        format!("{ADMIN_PASSWORD}\n"),
    )
    .unwrap();

    let c = h.client().clone();
    c.create_group(&cc_domain::NewGroup {
        name: "oak-grade-6".into(),
        ..cc_domain::NewGroup::default()
    })
    .await
    .unwrap();
    let mut ids = Vec::new();
    for i in 0..PEOPLE {
        let mut input = cc_tests::student(&format!("p{i:02}"));
        input.given_name = format!("Given{i}");
        input.school = Some("oak-ms".into());
        input.grade = Some(6);
        input.groups = vec!["oak-grade-6".into()];
        ids.push(c.create_user(&input).await.unwrap().id);
    }
    let ou = "ou=grade-6,ou=oak-ms,ou=Students,dc=example,dc=org";
    assert!(ldap.entry(ou).await.is_none());
    let (status, body) = c
        .bulk_action("provision", &serde_json::json!({ "ids": ids }))
        .await
        .unwrap();
    assert_eq!(status, 202, "{body}");
    let batch: uuid::Uuid = body["batch_id"].as_str().unwrap().parse().unwrap();

    let config = config.display().to_string();
    let env = [("CC_CONFIG", config.as_str())];
    let mut workers: Vec<WorkerProcess> = (0..2)
        .map(|n| WorkerProcess::spawn(&h.app.db.url, &format!("school-{n}"), "default", 16, &env))
        .collect();
    let progress = wait_for("the batch to finish", Duration::from_secs(180), || async {
        let p = c.get_batch(batch).await.ok()?;
        p.finished.then_some(p)
    })
    .await;
    for w in &mut workers {
        assert!(w.terminate().await, "worker {} exits cleanly", w.id);
    }
    assert_eq!(
        progress.counts.get(&JobState::Completed).copied(),
        Some(PEOPLE as i64),
        "{:?}",
        progress.counts
    );
    let jobs = c
        .list_jobs(&[("batch_id", &batch.to_string()), ("limit", "100")])
        .await
        .unwrap();
    assert_eq!(jobs.items.len(), PEOPLE);
    let ran: std::collections::BTreeSet<String> = jobs
        .items
        .iter()
        .filter_map(|j| j.worker_id.clone())
        .collect();
    assert!(
        !ran.is_empty() && ran.iter().all(|w| w.starts_with("school-")),
        "only the worker processes ran jobs: {ran:?}"
    );
    eprintln!("jobs ran on {ran:?}");

    let group = ldap
        .entry("cn=oak-grade-6,ou=Groups,dc=example,dc=org")
        .await
        .expect("the group was created once");
    for i in 0..PEOPLE {
        let dn = format!("uid=p{i:02},{ou}");
        let entry = ldap
            .entry(&dn)
            .await
            .unwrap_or_else(|| panic!("{dn} missing"));
        assert_eq!(first(&entry, "givenname"), Some(format!("Given{i}")));
        assert_eq!(first(&entry, "departmentnumber").as_deref(), Some("oak-ms"));
        assert!(group["member"].contains(&dn), "{dn} not in the group");
    }
    assert_eq!(group["member"].len(), PEOPLE);
    assert_eq!(
        ldap.search("ou=Students,dc=example,dc=org", "(uid=p*)")
            .await
            .len(),
        PEOPLE
    );
    let failed = c.list_users(&[("sync", "failed")]).await.unwrap();
    assert!(failed.items.is_empty(), "{:?}", failed.items);
    h.stop().await;
}

/// A target configured for one of these directories, with the given bind password.
fn named_target(name: &str, ldap: &TestLdap, password: &str) -> Arc<dyn Target> {
    let text = format!(
        r#"
        kind = "ldap"
        name = "{name}"
        url = "{url}"
        bind_dn = "{ADMIN_DN}"
        bind_password = "{password}"
        base_dn = "dc=example,dc=org"
        user_ou = "ou={{grade_label}},ou={{school}},ou=Students,dc=example,dc=org"
        timeout_ms = 2000
        [disable]
        attribute = "pwdAccountLockedTime"
        value = "000001010000Z"
        "#,
        url = ldap.url()
    );
    let c: cc_connectors::TargetConfig =
        toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    c.build().expect("target builds")
}

/// A wrong bind password and a directory without ppolicy are visible where an operator looks:
/// readiness detail (still 200), the `cc_target_up` gauge, `command-center check` (failing,
/// the target named), and a dry run that refuses with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misconfigured_target_is_visible_everywhere() {
    let ldap = TestLdap::start().await;
    let bare = TestLdap::start_without_ppolicy().await;
    let mut h = Harness::start(
        Backend::Sqlite,
        vec![
            named_target("good", &ldap, ADMIN_PASSWORD),
            named_target("wrong-password", &ldap, "not-the-Password-9"),
            named_target("no-ppolicy", &bare, ADMIN_PASSWORD),
        ],
        LifecyclePolicy::default(),
    )
    .await;
    h.start_worker();
    let stop = tokio_util::sync::CancellationToken::new();
    h.engine
        .spawn_health_monitor(Duration::from_millis(200), stop.clone());
    let c = h.client().clone();

    let (status, ready) = wait_for("every target checked", Duration::from_secs(30), || async {
        let res = c
            .request(reqwest::Method::GET, "/health/ready")
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        let body: Value = res.json().await.ok()?;
        let targets = body["detail"]["targets"].as_array()?.clone();
        (targets.len() == 3 && targets.iter().all(|t| t["status"] != "unknown"))
            .then_some((status, body))
    })
    .await;
    assert_eq!(
        status, 200,
        "a target outage does not make the server unready: {ready}"
    );
    let targets = &ready["detail"]["targets"];
    let by_name = |name: &str| {
        targets
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["target"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("good")["status"], "ok", "{targets}");
    let wrong = by_name("wrong-password");
    assert_eq!(wrong["status"], "fail");
    assert!(
        wrong["last_error"]
            .as_str()
            .unwrap()
            .contains("invalid credentials"),
        "{wrong}"
    );
    assert!(!wrong.to_string().contains("not-the-Password-9"));
    let bare_health = by_name("no-ppolicy");
    assert!(
        bare_health["last_error"]
            .as_str()
            .unwrap()
            .contains("pwdAccountLockedTime"),
        "{bare_health}"
    );
    assert!(by_name("good")["latency_ms"].as_f64().is_some());

    let metrics = c
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for (target, up) in [("good", 1), ("wrong-password", 0), ("no-ppolicy", 0)] {
        let line = format!("cc_target_up{{target=\"{target}\"}} {up}");
        assert!(metrics.contains(&line), "{line} missing");
    }
    // People per sync state are counted with the checks.
    wait_for("the sync counts", Duration::from_secs(30), || async {
        let text = c
            .request(reqwest::Method::GET, "/metrics")
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains("cc_users_sync{state=\"in_sync\"} 0")
            .then_some(())
    })
    .await;

    // A dry run refuses on the directory without ppolicy, with the reason.
    let ada = c.create_user(&cc_tests::student("ada")).await.unwrap();
    let (_, plan) = c.user_action(ada.id, "provision", true).await.unwrap();
    let planned = plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "no-ppolicy")
        .cloned()
        .unwrap();
    assert!(planned["plan"].is_null(), "{planned}");
    assert!(
        planned["error"]
            .as_str()
            .unwrap()
            .contains("ppolicy overlay"),
        "{planned}"
    );

    // `command-center check`: a row per target, failing with the target named; workers and a
    // job round trip pass.
    let token = h
        .app
        .anonymous()
        .login("admin", &h.app.admin_password)
        .await
        .unwrap()
        .access_token;
    let out = tokio::process::Command::new(cc_tests::queue::command_center_bin())
        .args(["check", "--output", "json", "--url", &h.app.base_url])
        .env("CC_TOKEN", &token)
        .env_remove("CC_CONFIG")
        .output()
        .await
        .expect("run command-center check");
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(1), "{report}");
    let row = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no row {name}: {report}"))
    };
    assert_eq!(row("target good")["status"], "pass", "{report}");
    let failed = row("target wrong-password");
    assert_eq!(failed["status"], "fail");
    assert!(failed["detail"]
        .as_str()
        .unwrap()
        .contains("invalid credentials"));
    assert_eq!(row("target no-ppolicy")["status"], "fail");
    assert_eq!(row("workers")["status"], "pass", "{report}");
    assert!(row("workers")["detail"]
        .as_str()
        .unwrap()
        .contains("last heartbeat"));
    assert_eq!(row("job round trip")["status"], "pass", "{report}");
    assert_eq!(row("redis")["status"], "skip");
    stop.cancel();
    h.stop().await;
}

/// A target that may not create OUs, against a school whose OUs do not exist: every provision
/// fails permanently. The people stay `active` (the operator's intent) but show `failed`, with
/// the target and the error, until the OUs exist and the batch is retried as a whole.
async fn failed_targets_show_in_the_sync_state_and_a_batch_retry_fixes_them(backend: Backend) {
    let ldap = TestLdap::start().await;
    let text = format!(
        r#"
        kind = "ldap"
        name = "district-ldap"
        url = "{url}"
        bind_dn = "{ADMIN_DN}"
        bind_password = "{ADMIN_PASSWORD}"
        base_dn = "dc=example,dc=org"
        user_ou = "ou={{grade_label}},ou={{school}},ou=Students,dc=example,dc=org"
        create_ous = false
        [disable]
        attribute = "employeeType"
        value = "disabled"
        "#,
        url = ldap.url()
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).unwrap();
    let mut h = Harness::start(
        backend,
        vec![c.build().unwrap()],
        LifecyclePolicy {
            sync_on_change: true,
            auto_provision: false,
        },
    )
    .await;
    let c = h.client().clone();
    let mut ids = Vec::new();
    for name in ["ann", "ben", "cal"] {
        ids.push(c.create_user(&cc_tests::student(name)).await.unwrap().id);
    }
    let sync = |state: &'static str| {
        let c = c.clone();
        async move { c.list_users(&[("sync", state)]).await.unwrap().items.len() }
    };
    assert_eq!(sync("in_sync").await, 3, "nothing asked of the targets yet");
    // Every person read carries the state; an unfiltered page (kept in the read cache) follows
    // jobs and target links as they change.
    let states = || {
        let c = c.clone();
        async move {
            let page = c.list_users(&[("limit", "10")]).await.ok()?;
            let mut states: Vec<cc_domain::UserSync> =
                page.items.into_iter().filter_map(|u| u.sync).collect();
            states.dedup_by(|a, b| a.state == b.state && a.targets.len() == b.targets.len());
            (states.len() == 1).then(|| states.remove(0))
        }
    };
    let fresh = states().await.expect("one state for all three");
    assert_eq!(fresh.state, cc_domain::SyncState::InSync);
    assert!(fresh.targets.is_empty(), "{fresh:?}");

    let (_, body) = c
        .bulk_action("provision", &serde_json::json!({ "ids": ids }))
        .await
        .unwrap();
    let batch: uuid::Uuid = body["batch_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(sync("pending").await, 3, "queued, no worker yet");
    let user = c.get_user(ids[1]).await.unwrap();
    assert_eq!(
        user.sync.map(|s| s.state),
        Some(cc_domain::SyncState::Pending)
    );
    wait_for(
        "the page to show pending",
        Duration::from_secs(10),
        || async {
            states()
                .await
                .filter(|s| s.state == cc_domain::SyncState::Pending)
        },
    )
    .await;
    h.start_worker();
    let batch_done = |want: JobState| {
        let c = c.clone();
        async move {
            wait_for("the batch to finish", Duration::from_secs(60), || async {
                let p = c.get_batch(batch).await.ok()?;
                (p.finished && p.counts.get(&want) == Some(&3)).then_some(())
            })
            .await;
        }
    };
    batch_done(JobState::Discarded).await;
    // Right after: the person and the cached page show the failure, with the target and why.
    let user = c.get_user(ids[1]).await.unwrap();
    let user_sync = user.sync.expect("sync on a read");
    assert_eq!(user_sync.state, cc_domain::SyncState::Failed);
    assert_eq!(user_sync.targets.len(), 1, "{user_sync:?}");
    assert_eq!(user_sync.targets[0].target, "district-ldap");
    assert!(
        user_sync.targets[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("create_ous = false")),
        "{user_sync:?}"
    );
    let page = wait_for(
        "the page to show failed",
        Duration::from_secs(10),
        || async {
            states()
                .await
                .filter(|s| s.state == cc_domain::SyncState::Failed)
        },
    )
    .await;
    assert_eq!(page.targets[0].state, cc_domain::SyncState::Failed);

    assert_eq!(sync("failed").await, 3);
    assert_eq!(sync("in_sync").await, 0);
    let ann = c.get_user(ids[0]).await.unwrap();
    assert_eq!(
        ann.status,
        cc_domain::UserStatus::Active,
        "status is the intent"
    );
    let targets = c.user_targets(ids[0]).await.unwrap();
    assert_eq!(targets["sync"], "failed", "{targets}");
    assert_eq!(targets["links"][0]["target"], "district-ldap");
    assert!(
        targets["links"][0]["last_error"]
            .as_str()
            .unwrap()
            .contains("create_ous = false"),
        "{targets}"
    );

    // The CLI shows them, with the target and the error.
    let token = h
        .app
        .anonymous()
        .login("admin", &h.app.admin_password)
        .await
        .unwrap()
        .access_token;
    let out = tokio::process::Command::new(cc_tests::queue::command_center_bin())
        .args(["sync", "--state", "failed", "--output", "json"])
        .args(["--url", &h.app.base_url])
        .env("CC_TOKEN", &token)
        .env_remove("CC_CONFIG")
        .output()
        .await
        .expect("run command-center sync");
    let rows: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    assert_eq!(
        rows[0]["failed_targets"][0]["target"], "district-ldap",
        "{rows}"
    );

    // The cause is fixed; the whole batch is re-driven at once.
    for (dn, ou) in [
        ("ou=lincoln-hs,ou=Students,dc=example,dc=org", "lincoln-hs"),
        (
            "ou=grade-9,ou=lincoln-hs,ou=Students,dc=example,dc=org",
            "grade-9",
        ),
    ] {
        ldap.add(
            dn,
            &[
                ("objectClass", vec!["organizationalUnit"]),
                ("ou", vec![ou]),
            ],
        )
        .await;
    }
    let retried = c.retry_batch(batch).await.unwrap();
    assert_eq!(retried["retried"].as_array().unwrap().len(), 3, "{retried}");
    batch_done(JobState::Completed).await;
    let user = c.get_user(ids[2]).await.unwrap();
    let user_sync = user.sync.expect("sync on a read");
    assert_eq!(user_sync.state, cc_domain::SyncState::InSync);
    assert_eq!(user_sync.targets[0].state, cc_domain::SyncState::InSync);
    assert_eq!(user_sync.targets[0].error, None);
    wait_for(
        "the page to show in_sync",
        Duration::from_secs(10),
        || async {
            states()
                .await
                .filter(|s| s.state == cc_domain::SyncState::InSync && s.targets.len() == 1)
        },
    )
    .await;
    assert_eq!(sync("in_sync").await, 3);
    assert_eq!(sync("failed").await, 0);
    assert!(ldap
        .entry("uid=ann,ou=grade-9,ou=lincoln-hs,ou=Students,dc=example,dc=org")
        .await
        .is_some());
    assert_eq!(
        c.retry_batch(uuid::Uuid::nil()).await.unwrap_err().status(),
        Some(404)
    );

    // An edit that enqueues a lifecycle job names it.
    let res = c
        .request(reqwest::Method::PATCH, &format!("/api/v1/users/{}", ids[0]))
        .json(&serde_json::json!({"given_name": "Annie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let job: i64 = location
        .strip_prefix("/api/v1/jobs/")
        .unwrap()
        .parse()
        .unwrap();
    let done = finished(&c, job).await;
    assert_eq!(done.job.kind, "lifecycle.update");
    assert_eq!(done.job.state, JobState::Completed);
    h.stop().await;
}
