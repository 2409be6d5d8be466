//! `command-center import` and `roster generate` as an operator runs them: exit codes,
//! what they print, and what they change (nothing on a dry run).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is how a test fails.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_command-center");

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../roster/tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(dir: &Path, args: &[&str]) -> Run {
    let url = format!("sqlite://{}", dir.join("cc.db").display());
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(BIN)
            .current_dir(dir)
            .env_clear()
            .env("CC_DATABASE_URL", &url)
            .env("CC_LOG", "warn")
            .args(args)
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("finishes")
    .expect("runs");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn users(dir: &Path) -> Vec<cc_domain::User> {
    let url = format!("sqlite://{}", dir.join("cc.db").display());
    let store = cc_store::connect(&url, &cc_store::PoolConfig::default())
        .await
        .unwrap();
    let page = store
        .list_users(&cc_domain::UserQuery {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    store.close().await;
    page.items
}

async fn migrated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["migrate", "up"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_shows_the_plan_and_changes_nothing() {
    let dir = migrated().await;
    let r = run(
        dir.path(),
        &["import", &fixture("oneroster-1.1/bulk"), "--dry-run"],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("oneroster-1.1"), "{}", r.stdout);
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("create ") && l.trim_end().ends_with(" 7")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("new group   lhs (school)"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("dry run: nothing was changed"));
    assert!(users(dir.path()).await.is_empty());
    let r = run(
        dir.path(),
        &[
            "import",
            &fixture("oneroster-1.1/bulk"),
            "--dry-run",
            "--output",
            "json",
        ],
    )
    .await;
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON plan");
    assert_eq!(v["counts"]["created"], 7);
    assert_eq!(v["changes"].as_array().unwrap().len(), 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_needs_yes_without_a_terminal() {
    let dir = migrated().await;
    let r = run(dir.path(), &["import", &fixture("oneroster-1.1/bulk")]).await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    assert!(users(dir.path()).await.is_empty());
    let r = run(
        dir.path(),
        &["import", &fixture("oneroster-1.1/bulk"), "--yes"],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("applied: import run"), "{}", r.stdout);
    assert_eq!(users(dir.path()).await.len(), 7);
    let r = run(
        dir.path(),
        &["import", &fixture("oneroster-1.1/bulk"), "--yes"],
    )
    .await;
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.contains("0 created, 0 updated"),
        "second import: empty plan: {}",
        r.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_exits_non_zero_with_the_reason_and_the_flag() {
    let dir = migrated().await;
    assert_eq!(
        run(
            dir.path(),
            &["import", &fixture("oneroster-1.1/bulk"), "--yes"]
        )
        .await
        .code,
        Some(0)
    );
    let r = run(
        dir.path(),
        &["import", &fixture("oneroster-1.1/renamed"), "--yes"],
    )
    .await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr.contains("suspends 1 of 6 active people"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("override with --allow-mass-suspend"),
        "{}",
        r.stderr
    );
    assert!(
        users(dir.path())
            .await
            .iter()
            .all(|u| u.username != "ada.king"),
        "nothing applied"
    );
    let r = run(
        dir.path(),
        &[
            "import",
            &fixture("oneroster-1.1/renamed"),
            "--yes",
            "--allow-mass-suspend",
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(users(dir.path())
        .await
        .iter()
        .any(|u| u.username == "ada.king"));
    let r = run(
        dir.path(),
        &["import", &fixture("csv/truncated-quote.csv"), "--dry-run"],
    )
    .await;
    assert_eq!(r.code, Some(3));
    assert!(r.stderr.contains("--allow-truncated"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn row_errors_go_to_a_csv_and_strict_rejects_the_file() {
    let dir = migrated().await;
    let errors = dir.path().join("errors.csv");
    let r = run(
        dir.path(),
        &[
            "import",
            &fixture("csv/malformed.csv"),
            "--dry-run",
            "--errors-csv",
            errors.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert!(
        r.stdout
            .contains("roster.csv:3  email: must be a valid e-mail address"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&errors).unwrap();
    assert_eq!(text.lines().count(), 10);
    let r = run(
        dir.path(),
        &["import", &fixture("csv/malformed.csv"), "--yes", "--strict"],
    )
    .await;
    assert_eq!(r.code, Some(3));
    assert!(
        r.stderr.contains("strict mode rejects the whole file"),
        "{}",
        r.stderr
    );
    assert!(users(dir.path()).await.is_empty());
    let r = run(
        dir.path(),
        &["import", "/nonexistent/export.zip", "--dry-run"],
    )
    .await;
    assert_eq!(r.code, Some(1));
    assert!(r.stderr.contains("cannot read"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_rosters_import() {
    let dir = migrated().await;
    let out = dir.path().join("gen.zip");
    let r = run(
        dir.path(),
        &[
            "roster",
            "generate",
            "--rows",
            "500",
            "--seed",
            "9",
            out.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = run(dir.path(), &["import", out.to_str().unwrap(), "--yes"]).await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_eq!(users(dir.path()).await.len(), 500);
    let csv = dir.path().join("gen.csv");
    let r = run(
        dir.path(),
        &[
            "roster",
            "generate",
            "--rows",
            "50",
            "--format",
            "csv",
            csv.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let r = run(
        dir.path(),
        &[
            "import",
            csv.to_str().unwrap(),
            "--dry-run",
            "--format",
            "csv",
        ],
    )
    .await;
    assert!(
        r.stdout.contains("roster.csv") || r.stdout.contains("csv"),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn an_empty_file_is_called_empty() {
    let dir = migrated().await;
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, b"").unwrap();
    let r = run(
        dir.path(),
        &["import", empty.to_str().unwrap(), "--dry-run"],
    )
    .await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("is empty"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("missing required columns"),
        "{}",
        r.stderr
    );
}

#[tokio::test]
async fn a_roster_is_read_from_a_pipe() {
    let dir = migrated().await;
    let url = format!("sqlite://{}", dir.path().join("cc.db").display());
    let mut child = Command::new(BIN)
        .current_dir(dir.path())
        .env_clear()
        .env("CC_DATABASE_URL", &url)
        .env("CC_LOG", "warn")
        .args(["import", "/dev/stdin", "--dry-run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut stdin,
        &std::fs::read(fixture("csv/roster.csv")).unwrap(),
    )
    .await
    .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("finishes")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("Illegal seek"), "{stderr}");
    assert!(stderr.contains("dry run"), "{stderr}");
}

#[tokio::test]
async fn an_endless_input_stops_at_the_row_limit() {
    let dir = migrated().await;
    let r = run(dir.path(), &["import", "/dev/zero", "--dry-run"]).await;
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("import.max_row_bytes"), "{}", r.stderr);
}
