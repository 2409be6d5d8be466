//! The lifecycle engine through the API, on both backends, with real script targets (the bash
//! example): actions and their dry runs, the state machine, links per target, temporary
//! passwords revealed once and stored nowhere in clear, bulk batches, edits that enqueue
//! updates, auto-provisioning, retries that do not redo finished targets, and superseded jobs.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[path = "lifecycle/harness.rs"]
mod harness;

use cc_connectors::Target;
use cc_domain::{JobState, UserPatch, UserStatus};
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::{backend_tests, wait_for, Backend};
use harness::{bash_target, create, finished, job_id, Harness};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A script target that fails (retryably) while `fail_flag` exists, and counts its runs.
fn flaky_target(name: &str, dir: &Path) -> Arc<dyn Target> {
    let script = dir.join("flaky.sh");
    std::fs::write(
        &script,
        format!(
            "cat >/dev/null\necho run >> {dir}/runs\nif [ -e {dir}/fail ]; then echo '{{\"error\":\"directory busy\",\"retryable\":true}}'; exit 1; fi\necho '{{\"account_id\":\"flaky-1\",\"changes\":[{{\"kind\":\"create\",\"object\":\"flaky-1\"}}]}}'\n",
            dir = dir.display()
        ),
    )
    .unwrap();
    let text = format!(
        "kind = \"script\"\nname = \"{name}\"\ncommand = [\"bash\", \"{}\"]\n",
        script.display()
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).expect("valid target");
    c.build().expect("target builds")
}

fn sha256(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn account(dir: &Path, username: &str) -> Option<Value> {
    std::fs::read_to_string(dir.join(format!("{username}.json")))
        .ok()
        .map(|t| serde_json::from_str(&t).unwrap())
}

async fn every_operation_reaches_the_targets(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    let ada = create(&c, "ada", None).await;
    assert_eq!(ada.status, UserStatus::Pending);

    // The state machine: a pending person cannot be suspended.
    let e = c.user_action(ada.id, "suspend", false).await.unwrap_err();
    assert_eq!(e.status(), Some(409), "{e}");
    assert!(e.to_string().contains("invalid_transition"), "{e}");
    let e = c.user_action(ada.id, "reboot", false).await.unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");

    // A dry run plans and changes nothing.
    let (status, plan) = c.user_action(ada.id, "provision", true).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(plan["next_status"], "active");
    assert_eq!(plan["targets"][0]["target"], "bash-demo");
    assert_eq!(plan["targets"][0]["plan"]["changes"][0]["kind"], "create");
    assert!(
        account(dir.path(), "ada").is_none(),
        "a dry run writes nothing"
    );
    assert_eq!(
        c.get_user(ada.id).await.unwrap().status,
        UserStatus::Pending
    );
    assert!(c
        .list_jobs(&[("kind", "lifecycle.provision")])
        .await
        .unwrap()
        .items
        .is_empty());

    // Provision: 202 with the job, the status changes at once, the password is shown once.
    h.start_worker();
    let (status, body) = c.user_action(ada.id, "provision", false).await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(body["user"]["status"], "active");
    assert_eq!(body["kind"], "lifecycle.provision");
    let first_pw = body["temporary_password"]
        .as_str()
        .expect("password shown")
        .to_owned();
    assert!(first_pw.len() >= 16);
    let done = finished(&c, job_id(&body)).await;
    assert_eq!(done.job.state, JobState::Completed, "{:?}", done.job.errors);
    let result = done.job.result.clone().expect("result");
    assert_eq!(result["targets"][0]["status"], "changed");
    let acct = account(dir.path(), "ada").expect("the account exists");
    assert_eq!(acct["enabled"], true);
    assert_eq!(acct["password_sha256"], sha256(&first_pw));

    // The password is stored nowhere in clear text: not in the job, not in the audit trail.
    let job_text = serde_json::to_string(&done).unwrap();
    assert!(!job_text.contains(&first_pw));
    assert!(done.job.args["sealed_password"]
        .as_str()
        .unwrap()
        .starts_with("v1."));
    let audit = c
        .request(reqwest::Method::GET, "/api/v1/audit?limit=200")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("user.provision") && audit.contains("lifecycle.provision"));
    assert!(!audit.contains(&first_pw));
    // One event for the job, written with its completion; its progress shows every target.
    let audit: Value = serde_json::from_str(&audit).unwrap();
    let events = audit["items"].as_array().expect("audit items");
    let of_job = events
        .iter()
        .filter(|e| e["action"] == "lifecycle.provision" && e["after"]["job_id"] == job_id(&body))
        .count();
    assert_eq!(of_job, 1, "{audit}");
    assert_eq!(done.job.progress.as_ref(), Some(&result));

    // The link records where the account stands.
    let links = c.user_targets(ada.id).await.unwrap();
    let link = &links["links"][0];
    assert_eq!(link["target"], "bash-demo");
    assert_eq!(link["account_id"], "ada");
    assert_eq!(link["status"], "ok");
    assert_eq!(link["last_operation"], "provision");
    assert_eq!(link["last_job_id"], job_id(&body));
    assert_eq!(links["targets"][0]["holds_passwords"], true);

    // Re-running converges.
    let (_, again) = c.user_action(ada.id, "provision", false).await.unwrap();
    assert!(again["temporary_password"].is_string());
    let again_done = finished(&c, job_id(&again)).await;
    assert_eq!(again_done.job.state, JobState::Completed);

    // Reset-password: a new password, set on the target.
    let (_, reset) = c
        .user_action(ada.id, "reset-password", false)
        .await
        .unwrap();
    let new_pw = reset["temporary_password"].as_str().unwrap().to_owned();
    assert_ne!(new_pw, first_pw);
    assert_eq!(
        finished(&c, job_id(&reset)).await.job.state,
        JobState::Completed
    );
    assert_eq!(
        account(dir.path(), "ada").unwrap()["password_sha256"],
        sha256(&new_pw)
    );

    // Suspend disables; update while suspended keeps it disabled.
    let (_, sus) = c.user_action(ada.id, "suspend", false).await.unwrap();
    assert_eq!(sus["user"]["status"], "suspended");
    assert!(sus.get("temporary_password").is_none());
    assert_eq!(
        finished(&c, job_id(&sus)).await.job.state,
        JobState::Completed
    );
    assert_eq!(account(dir.path(), "ada").unwrap()["enabled"], false);

    // Deprovision removes the account; again, it converges with no changes.
    let (_, dep) = c.user_action(ada.id, "deprovision", false).await.unwrap();
    assert_eq!(dep["user"]["status"], "deprovisioned");
    assert_eq!(
        finished(&c, job_id(&dep)).await.job.state,
        JobState::Completed
    );
    assert!(account(dir.path(), "ada").is_none());
    let links = c.user_targets(ada.id).await.unwrap();
    assert!(links["links"][0]["account_id"].is_null());
    let (_, dep2) = c.user_action(ada.id, "deprovision", false).await.unwrap();
    let d2 = finished(&c, job_id(&dep2)).await;
    assert_eq!(d2.job.result.unwrap()["targets"][0]["status"], "unchanged");
    // Deprovisioning is final.
    let e = c.user_action(ada.id, "provision", false).await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    h.stop().await;
}

async fn edits_and_creation_enqueue_operations(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy {
            sync_on_change: true,
            auto_provision: true,
        },
    )
    .await;
    h.start_worker();
    let c = h.client().clone();
    let grace = create(&c, "grace", None).await;
    assert_eq!(grace.status, UserStatus::Active, "auto-provisioned");
    wait_for("the account", Duration::from_secs(30), || async {
        account(dir.path(), "grace").map(|_| ())
    })
    .await;

    // A rename is an update.
    let patch = UserPatch {
        family_name: Some("Hopper-Murray".into()),
        ..UserPatch::default()
    };
    c.update_user(grace.id, &patch, None).await.unwrap();
    wait_for(
        "the rename on the target",
        Duration::from_secs(30),
        || async {
            (account(dir.path(), "grace")?["family_name"] == "Hopper-Murray").then_some(())
        },
    )
    .await;

    // A status change is a suspend.
    let patch = UserPatch {
        status: Some(UserStatus::Suspended),
        ..UserPatch::default()
    };
    c.update_user(grace.id, &patch, None).await.unwrap();
    wait_for("the account disabled", Duration::from_secs(30), || async {
        (account(dir.path(), "grace")?["enabled"] == false).then_some(())
    })
    .await;
    let kinds: Vec<String> = c
        .list_jobs(&[("limit", "50")])
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|j| j.kind)
        .collect();
    for kind in [
        "lifecycle.provision",
        "lifecycle.update",
        "lifecycle.suspend",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    h.stop().await;
}

async fn bulk_actions_make_one_batch(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    let a = create(&c, "bulk-a", None).await;
    let b = create(&c, "bulk-b", None).await;
    let pending = create(&c, "bulk-c", None).await;
    // Provision two by filter-free id list, then suspend all three: the pending one is skipped.
    let (status, body) = c
        .bulk_action("provision", &json!({"ids": [a.id, b.id]}))
        .await
        .unwrap();
    assert_eq!(status, 202);
    assert_eq!(body["enqueued"], 2);
    assert!(body["jobs"][0]["temporary_password"].is_string());
    h.start_worker();
    let batch: Uuid = body["batch_id"].as_str().unwrap().parse().unwrap();
    wait_for("the batch", Duration::from_secs(30), || async {
        let p = c.get_batch(batch).await.ok()?;
        (p.finished && p.counts.get(&JobState::Completed) == Some(&2)).then_some(())
    })
    .await;

    let (_, dry) = c
        .bulk_action(
            "suspend",
            &json!({"filter": {"q": "bulk-"}, "dry_run": true}),
        )
        .await
        .unwrap();
    assert_eq!(dry["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(dry["skipped"][0]["user_id"], pending.id.to_string());
    assert!(dry["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("provision first"));
    assert_eq!(
        c.get_user(a.id).await.unwrap().status,
        UserStatus::Active,
        "dry run"
    );

    let (_, body) = c
        .bulk_action(
            "suspend",
            &json!({"ids": [a.id, b.id, pending.id, Uuid::nil()]}),
        )
        .await
        .unwrap();
    assert_eq!(body["enqueued"], 2);
    assert_eq!(body["skipped"].as_array().unwrap().len(), 2);
    let batch: Uuid = body["batch_id"].as_str().unwrap().parse().unwrap();
    wait_for("the suspend batch", Duration::from_secs(30), || async {
        let p = c.get_batch(batch).await.ok()?;
        (p.finished && p.counts.get(&JobState::Completed) == Some(&2)).then_some(())
    })
    .await;
    assert_eq!(account(dir.path(), "bulk-a").unwrap()["enabled"], false);
    assert_eq!(account(dir.path(), "bulk-b").unwrap()["enabled"], false);

    let e = c.bulk_action("suspend", &json!({})).await.unwrap_err();
    assert_eq!(e.status(), Some(422));
    h.stop().await;
}

async fn a_failing_target_retries_without_redoing_the_others(backend: Backend) {
    let good = tempfile::tempdir().unwrap();
    let flaky = tempfile::tempdir().unwrap();
    std::fs::write(flaky.path().join("fail"), "").unwrap();
    let mut h = Harness::start(
        backend,
        vec![
            bash_target("good", good.path()),
            flaky_target("flaky", flaky.path()),
        ],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    let ada = create(&c, "ada", None).await;
    h.start_worker();
    let (_, body) = c.user_action(ada.id, "provision", false).await.unwrap();
    let id = job_id(&body);
    // The first attempt fails on `flaky` only, and the job shows both outcomes.
    let failed = wait_for("a failed attempt", Duration::from_secs(30), || async {
        let d = c.get_job(id).await.ok()?;
        (!d.job.errors.is_empty()).then_some(d)
    })
    .await;
    let error = &failed.job.errors[0].error;
    assert!(
        error.starts_with("flaky: ") && error.contains("directory busy"),
        "{error}"
    );
    let links = c.user_targets(ada.id).await.unwrap();
    let by_name = |n: &str| {
        links["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["target"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(by_name("good")["status"], "ok");
    assert_eq!(by_name("flaky")["status"], "failed");
    assert!(by_name("flaky")["last_error"]
        .as_str()
        .unwrap()
        .contains("directory busy"));
    assert!(account(good.path(), "ada").is_some());

    // The target recovers; the retry finishes the job and leaves `good` alone.
    std::fs::remove_file(flaky.path().join("fail")).unwrap();
    let done = finished(&c, id).await;
    assert_eq!(done.job.state, JobState::Completed);
    let result = done.job.result.unwrap();
    assert_eq!(result["targets"][0]["target"], "good");
    assert_eq!(result["targets"][0]["status"], "done_earlier");
    assert_eq!(result["targets"][1]["status"], "changed");
    let good_runs = done.job.attempt;
    assert!(good_runs >= 2);
    let flaky_runs = std::fs::read_to_string(flaky.path().join("runs"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(flaky_runs as i32, done.job.attempt);
    h.stop().await;
}

async fn superseded_jobs_are_skipped(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    let ada = create(&c, "ada", None).await;
    // Both requested before any worker runs: the provision must not create the account of a
    // person who is deprovisioned by the time it runs.
    let (_, prov) = c.user_action(ada.id, "provision", false).await.unwrap();
    let (_, dep) = c.user_action(ada.id, "deprovision", false).await.unwrap();
    // Two password resets queued one after the other: whatever order they run in, the
    // password on the target is the newer one, the one the operator saw last.
    let bob = create(&c, "bob", None).await;
    let (_, bob_prov) = c.user_action(bob.id, "provision", false).await.unwrap();
    let (_, reset1) = c
        .user_action(bob.id, "reset-password", false)
        .await
        .unwrap();
    let (_, reset2) = c
        .user_action(bob.id, "reset-password", false)
        .await
        .unwrap();
    // A suspend requested before the provision ran: a suspended person has a (disabled)
    // account, so the provision still runs and the suspend after it disables the account.
    let carl = create(&c, "carl", None).await;
    let (_, carl_prov) = c.user_action(carl.id, "provision", false).await.unwrap();
    let (_, carl_susp) = c.user_action(carl.id, "suspend", false).await.unwrap();
    h.start_worker();
    let cp = finished(&c, job_id(&carl_prov)).await;
    assert_eq!(cp.job.state, JobState::Completed);
    assert!(
        cp.job.result.as_ref().unwrap().get("skipped").is_none(),
        "the provision of a since-suspended person still creates the account: {:?}",
        cp.job.result
    );
    assert_eq!(
        finished(&c, job_id(&carl_susp)).await.job.state,
        JobState::Completed
    );
    let acct = account(dir.path(), "carl").expect("a suspended person has an account");
    assert_eq!(acct["enabled"], false);
    assert_eq!(
        finished(&c, job_id(&bob_prov)).await.job.state,
        JobState::Completed
    );
    let r1 = finished(&c, job_id(&reset1)).await;
    let r2 = finished(&c, job_id(&reset2)).await;
    assert!(
        r1.job.result.unwrap()["skipped"]
            .as_str()
            .unwrap()
            .contains("newer password"),
        "the older reset stands aside"
    );
    assert_eq!(r2.job.state, JobState::Completed);
    let newest = reset2["temporary_password"].as_str().unwrap();
    assert_eq!(
        account(dir.path(), "bob").unwrap()["password_sha256"],
        sha256(newest)
    );
    let p = finished(&c, job_id(&prov)).await;
    let d = finished(&c, job_id(&dep)).await;
    assert_eq!(p.job.state, JobState::Completed);
    assert!(p.job.result.unwrap()["skipped"]
        .as_str()
        .unwrap()
        .starts_with("superseded"));
    assert_eq!(d.job.state, JobState::Completed);
    assert!(account(dir.path(), "ada").is_none());
    h.stop().await;
}

async fn permissions_and_targets_listing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let ada = create(h.client(), "ada", None).await;
    let auditor = h.app.client_as(cc_domain::OperatorRole::Auditor).await;
    let e = auditor
        .user_action(ada.id, "provision", false)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    let targets = auditor.list_targets().await.unwrap();
    assert_eq!(targets[0]["name"], "bash-demo");
    assert_eq!(targets[0]["kind"], "script");
    assert_eq!(targets[0]["operations"].as_array().unwrap().len(), 5);
    assert!(auditor.user_targets(ada.id).await.unwrap()["links"]
        .as_array()
        .unwrap()
        .is_empty());
    h.stop().await;
}

/// A webhook receiver on 127.0.0.1 that answers each person's events with the status and
/// `Retry-After` given for their username (200 for anyone else).
async fn busy_receiver(answers: Vec<(&'static str, u16, String)>) -> String {
    let answers = Arc::new(answers);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let answers = answers.clone();
            async move {
                let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let name = event["user"]["username"].as_str().unwrap_or("");
                match answers.iter().find(|(n, _, _)| *n == name) {
                    Some((_, status, after)) => axum::http::Response::builder()
                        .status(*status)
                        .header("retry-after", after.as_str())
                        .body(axum::body::Body::from("busy"))
                        .unwrap(),
                    None => axum::http::Response::new(axum::body::Body::from("{}")),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

fn webhook_target(url: &str) -> Arc<dyn Target> {
    let text = format!(
        "kind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\nsecret = \"whsec-0123456789abcdef\"\n"
    );
    let c: cc_connectors::TargetConfig = toml::from_str(&text).expect("valid target");
    c.build().expect("target builds")
}

/// A receiver's `Retry-After` (seconds or an HTTP date, on 429 and 503) puts the next attempt
/// no earlier than it asked, past the kind's much shorter backoff, and never more than an hour
/// away however long it asked for.
async fn retry_after_from_a_target_delays_the_retry(backend: Backend) {
    let in_ten_minutes = (chrono::Utc::now() + chrono::Duration::seconds(600))
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let url = busy_receiver(vec![
        ("ada", 429, "120".into()),
        ("bob", 503, in_ten_minutes),
        ("cy", 429, "86400".into()),
    ])
    .await;
    let mut h = Harness::start(
        backend,
        vec![webhook_target(&url)],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    let mut jobs = Vec::new();
    for (name, wait) in [("ada", 120), ("bob", 600), ("cy", 3600)] {
        let u = create(&c, name, None).await;
        let (_, body) = c.user_action(u.id, "provision", false).await.unwrap();
        jobs.push((name, job_id(&body), wait));
    }
    let started = chrono::Utc::now();
    h.start_worker();
    for (name, id, wait) in jobs {
        let failed = wait_for("a refused attempt", Duration::from_secs(30), || async {
            let d = c.get_job(id).await.ok()?;
            (d.job.state == JobState::Retryable && !d.job.errors.is_empty()).then_some(d)
        })
        .await;
        let error = &failed.job.errors[0].error;
        assert!(error.contains("retry after"), "{name}: {error}");
        let delay = (failed.job.run_at - started).num_seconds();
        // The harness's backoff is under a second: only the receiver's answer explains this.
        assert!(
            (wait - 5..=wait + 30).contains(&delay),
            "{name}: next attempt {delay} s away, expected about {wait} s"
        );
        assert_eq!(failed.job.attempt, 1, "{name}");
        let progress = failed.job.progress.clone().unwrap_or_default();
        let asked = progress["targets"][0]["retry_after_secs"].as_u64();
        assert!(asked.is_some(), "{name}: {progress}");
    }
    h.stop().await;
}

backend_tests!(
    retry_after_from_a_target_delays_the_retry,
    every_operation_reaches_the_targets,
    edits_and_creation_enqueue_operations,
    bulk_actions_make_one_batch,
    a_failing_target_retries_without_redoing_the_others,
    superseded_jobs_are_skipped,
    permissions_and_targets_listing,
);
