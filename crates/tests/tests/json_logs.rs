//! With `CC_LOG_FORMAT=json` (as the compose file runs the containers) everything `serve` and
//! `worker` write — standard output and standard error, which a container's log collects
//! together — is JSON lines: no plain-text banner, the addresses in log events, and no
//! password.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_tests::queue::command_center_bin;
use cc_tests::{backend_tests, wait_for, Backend, TestDb};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

const PASSWORD: &str = "json-logs-Bootstrap-7";
/// Start-up includes migrations on a fresh database: generous under a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// Every line of the child's standard output and standard error, in arrival order per stream.
type Lines = Arc<Mutex<Vec<(&'static str, String)>>>;

fn collect(stream: &'static str, from: impl AsyncRead + Unpin + Send + 'static, into: &Lines) {
    let into = into.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            into.lock().unwrap().push((stream, line));
        }
    });
}

fn start(db: &TestDb, args: &[&str]) -> (Child, Lines) {
    let mut child = Command::new(command_center_bin())
        .args(args)
        .env("CC_DATABASE_URL", &db.url)
        .env("CC_LISTEN", "127.0.0.1:0")
        .env("CC_WORKER_LISTEN", "127.0.0.1:0")
        .env("CC_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        .env("CC_REDIS_URL", "")
        .env("CC_LOG", "info")
        .env("CC_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start command-center");
    let lines = Lines::default();
    collect("stdout", child.stdout.take().unwrap(), &lines);
    collect("stderr", child.stderr.take().unwrap(), &lines);
    (child, lines)
}

/// The `addr` of the first log event with this message, once it is logged.
async fn address(lines: &Lines, message: &str) -> String {
    wait_for(&format!("the `{message}` log event"), DEADLINE, || {
        let lines = lines.clone();
        async move {
            lines.lock().unwrap().iter().find_map(|(_, l)| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["message"] == message).then(|| v["addr"].as_str().map(str::to_owned))?
            })
        }
    })
    .await
}

/// The address the log named answers.
async fn ready(addr: &str) {
    let res = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

fn assert_all_json(lines: &Lines) {
    let lines = lines.lock().unwrap();
    assert!(!lines.is_empty());
    for (stream, line) in lines.iter() {
        let parsed: Result<Value, _> = serde_json::from_str(line);
        assert!(
            parsed.as_ref().is_ok_and(Value::is_object),
            "a {stream} line is not a JSON object: {line}"
        );
        assert!(
            !line.contains(PASSWORD),
            "the password in a log line: {line}"
        );
    }
}

async fn serve_writes_only_json_lines(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (mut child, lines) = start(&db, &["serve"]);
    let addr = address(&lines, "serving").await;
    ready(&addr).await;
    // The first operator was created from the configured password: said, never shown.
    wait_for("the bootstrap log event", DEADLINE, || {
        let lines = lines.clone();
        async move {
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|(_, l)| l.contains("configured bootstrap password"))
                .then_some(())
        }
    })
    .await;
    child.kill().await.unwrap();
    assert_all_json(&lines);
}

async fn a_worker_writes_only_json_lines(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.store().await; // migrated: a worker refuses an outdated schema
    let (mut child, lines) = start(&db, &["worker"]);
    let addr = address(&lines, "serving probes and metrics").await;
    wait_for("the `worker started` log event", DEADLINE, || {
        let lines = lines.clone();
        async move {
            lines
                .lock()
                .unwrap()
                .iter()
                .any(|(_, l)| l.contains("\"worker started\""))
                .then_some(())
        }
    })
    .await;
    ready(&addr).await;
    child.kill().await.unwrap();
    assert_all_json(&lines);
}

/// A worker that stops on an error (here: the database was never migrated) says why in a
/// JSON line too, with the exit code, and exits with it.
async fn a_fatal_error_is_a_json_line_too(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (mut child, lines) = start(&db, &["worker"]);
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .expect("the worker stops on an unmigrated database")
        .unwrap();
    assert_eq!(status.code(), Some(1));
    // The readers may still be draining the pipes after the exit.
    let error = wait_for("the error line", DEADLINE, || {
        let lines = lines.clone();
        async move {
            lines.lock().unwrap().iter().find_map(|(_, l)| {
                let v: Value = serde_json::from_str(l).ok()?;
                (v["level"] == "ERROR" && v["exit_code"] == 1).then_some(v)
            })
        }
    })
    .await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("migrat"), "{message}");
    assert_all_json(&lines);
}

backend_tests!(
    serve_writes_only_json_lines,
    a_worker_writes_only_json_lines,
    a_fatal_error_is_a_json_line_too
);
