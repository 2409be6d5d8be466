//! Jobs of a kind no active worker has a handler for wait (workers claim only the kinds they
//! run), and the wait is visible: `cc_jobs_unhandled{queue,kind}` on `/metrics` and a warning
//! row in `command-center check`.

use std::time::Duration;

use cc_domain::{JobState, NewJob, OperatorRole};
use cc_queue::Registry;
use cc_tests::queue::{command_center_bin, fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

async fn jobs_no_worker_can_run_show_in_metrics_and_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let store = app.store.clone();
    let worker = RunningWorker::start(
        store.clone(),
        Registry::with_builtins(),
        fast_config(&[("default", 2)]),
    );
    let id = cc_queue::ops::enqueue(store.as_ref(), &NewJob::new("user.new_kind", json!({})))
        .await
        .unwrap()
        .id;
    let line = "cc_jobs_unhandled{queue=\"default\",kind=\"user.new_kind\"} 1";
    wait_for("the unhandled kind on /metrics", WAIT, || {
        let c = app.client.clone();
        async move {
            let text = c
                .request(Method::GET, "/metrics")
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.lines().any(|l| l == line).then_some(())
        }
    })
    .await;
    let noop = cc_queue::ops::enqueue(store.as_ref(), &NewJob::new("system.noop", json!({})))
        .await
        .unwrap()
        .id;
    wait_for("the noop job", WAIT, || {
        let store = store.clone();
        async move {
            store
                .get_job(noop)
                .await
                .unwrap()
                .filter(|j| j.state == JobState::Completed)
        }
    })
    .await;
    let job = store.get_job(id).await.unwrap().unwrap();
    assert_eq!((job.state, job.attempt), (JobState::Available, 0));

    let token = app.api_token(OperatorRole::Admin).await;
    let out = tokio::process::Command::new(command_center_bin())
        .args(["check", "--url", &app.base_url, "--output", "json"])
        .env("CC_TOKEN", token)
        .env_remove("CC_CONFIG")
        .output()
        .await
        .expect("run command-center check");
    let report: Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    let row = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "job handlers")
        .cloned()
        .unwrap_or_else(|| panic!("no job handlers row: {report}"));
    assert_eq!(row["status"], "warn", "{row}");
    let detail = row["detail"].as_str().unwrap();
    assert!(
        detail.contains("user.new_kind (1 in queue default)"),
        "{detail}"
    );
    worker.stop().await;
    app.stop().await;
}

backend_tests!(jobs_no_worker_can_run_show_in_metrics_and_check);
