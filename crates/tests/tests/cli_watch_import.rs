//! `command-center jobs watch --import` against a live server, on both backends: it follows
//! the run on the event stream, then the lifecycle jobs the import enqueued, and ends when
//! they have finished (exit 0), or at once with exit 1 when the import was refused.

use std::process::Stdio;
use std::time::Duration;

#[allow(dead_code)]
#[path = "lifecycle/harness.rs"]
mod harness;

use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::queue::command_center_bin;
use cc_tests::{backend_tests, Backend};
use harness::{bash_target, Harness};
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);

fn roster_fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../roster/tests/fixtures/csv")
            .join(name),
    )
    .expect("fixture")
}

/// `jobs watch --import ID` pointed at the app, in a clean environment (no terminal, so
/// plain lines).
fn watch(url: &str, token: &str, id: &str) -> Command {
    let mut cmd = Command::new(command_center_bin());
    cmd.env_clear()
        .env("CC_URL", url)
        .env("CC_TOKEN", token)
        .args(["jobs", "watch", "--import", id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// A server with the bash target (accounts in a temporary folder, kept alive by the returned
/// guard), no worker yet, and an operator's API token.
async fn started(backend: Backend) -> (tempfile::TempDir, Harness, String) {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let token = h.app.api_token(cc_domain::OperatorRole::Operator).await;
    (dir, h, token)
}

async fn ended(cmd: &mut Command) -> (Option<i32>, String, String) {
    let child = cmd.spawn().expect("start jobs watch");
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("jobs watch ends")
        .expect("jobs watch ran");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn an_applied_import_is_followed_until_its_jobs_finish(backend: Backend) {
    let (_dir, mut h, token) = started(backend).await;
    let (_, run) = h
        .client()
        .upload_import(
            "roster.csv",
            roster_fixture("roster.csv"),
            &[("dry_run", "false")],
        )
        .await
        .unwrap();
    let id = run.id.to_string();

    // Started before any worker: the import's jobs are waiting, so the watch must follow
    // them on the stream and end only once a worker has finished every one.
    let mut cmd = watch(&h.app.base_url, &token, &id);
    let child = cmd.spawn().expect("start jobs watch");
    let waiting = h
        .client()
        .list_jobs(&[("batch_id", id.as_str())])
        .await
        .unwrap()
        .items;
    assert!(!waiting.is_empty(), "the import enqueued lifecycle jobs");
    assert!(waiting.iter().all(|j| !j.state.is_final()));
    h.start_worker();
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("jobs watch ends when the import's jobs finish")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("import {id} applied")), "{stdout}");
    let n = waiting.len();
    assert!(
        stdout.contains(&format!("batch {id} finished: {n} jobs ({n} completed)")),
        "{stdout}"
    );
    assert!(stdout.contains("lifecycle.provision"), "{stdout}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no animation without a terminal: {stderr:?}"
    );
    let jobs = h
        .client()
        .list_jobs(&[("batch_id", id.as_str())])
        .await
        .unwrap()
        .items;
    assert!(jobs
        .iter()
        .all(|j| j.state == cc_domain::JobState::Completed));

    // Watched again once finished: it ends at once, the same way.
    let (code, stdout, _) = ended(&mut watch(&h.app.base_url, &token, &id)).await;
    assert_eq!(code, Some(0));
    assert!(stdout.contains(&format!("batch {id} finished")), "{stdout}");
    h.stop().await;
}

async fn a_refused_import_ends_the_watch_with_exit_1(backend: Backend) {
    let (_dir, h, token) = started(backend).await;
    let (_, run) = h
        .client()
        .upload_import(
            "truncated-line.csv",
            roster_fixture("truncated-line.csv"),
            &[("dry_run", "false")],
        )
        .await
        .unwrap();
    let id = run.id.to_string();
    let (code, stdout, stderr) = ended(&mut watch(&h.app.base_url, &token, &id)).await;
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("import {id} refused")), "{stdout}");
    assert!(stderr.contains("was refused"), "{stderr}");
    assert!(
        h.client()
            .list_jobs(&[("batch_id", id.as_str())])
            .await
            .unwrap()
            .items
            .is_empty(),
        "a refused import enqueues nothing"
    );

    h.stop().await;
}

/// An upload's preview (`planned`) does not end the watch: it waits until the run is
/// applied, then follows its jobs.
async fn a_preview_is_watched_until_it_is_applied(backend: Backend) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let (_dir, mut h, token) = started(backend).await;
    let (_, run) = h
        .client()
        .upload_import("roster.csv", roster_fixture("roster.csv"), &[])
        .await
        .unwrap();
    assert_eq!(run.status, cc_domain::ImportStatus::Planned);
    let id = run.id.to_string();
    let mut child = watch(&h.app.base_url, &token, &id)
        .spawn()
        .expect("start jobs watch");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(DEADLINE, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("waiting for it to be applied") {
                return;
            }
        }
        panic!("jobs watch ended without waiting for the preview to be applied");
    })
    .await
    .expect("jobs watch says it waits");
    h.client().apply_import(run.id, &[]).await.unwrap();
    h.start_worker();
    let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
        .await
        .expect("jobs watch ends once the applied run's jobs finish")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("import {id} planned")), "{stdout}");
    assert!(stdout.contains(&format!("import {id} applied")), "{stdout}");
    assert!(stdout.contains(&format!("batch {id} finished")), "{stdout}");
    h.stop().await;
}

backend_tests!(
    an_applied_import_is_followed_until_its_jobs_finish,
    a_refused_import_ends_the_watch_with_exit_1,
    a_preview_is_watched_until_it_is_applied,
);
