//! Every metric the Grafana dashboard and the alert rules use is exposed by the first scrape
//! of a fresh process, before any request, job or import: counters at 0 for their known label
//! sets, as Prometheus's instrumentation guide asks, so the panels and `increase()` alerts
//! of a new deployment are not blank. Checked for both roles, `serve` (with in-process
//! workers) and `worker --listen`, each on both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests may unwrap: a panic is how a test fails.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cc_tests::queue::command_center_bin;
use cc_tests::{backend_tests, Backend, TestDb};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `cc_*` names in a PromQL expression (recording-rule names, which contain `:`, are not
/// exposed by the server and are left out).
fn cc_names(expr: &str, out: &mut BTreeSet<String>) {
    let bytes = expr.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b':';
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"cc_") && (i == 0 || !is_name(bytes[i - 1])) {
            let end = (i..bytes.len())
                .find(|&j| !is_name(bytes[j]))
                .unwrap_or(bytes.len());
            let name = &expr[i..end];
            if !name.contains(':') {
                out.insert(name.to_owned());
            }
            i = end;
        } else {
            i += 1;
        }
    }
}

/// Every `expr` of the dashboards (JSON, at any depth).
fn dashboard_exprs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_exprs(v, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| dashboard_exprs(v, out)),
        _ => {}
    }
}

/// Every `expr:` of a rules file: on its line, or as the indented block that follows it.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let indent = line.len() - line.trim_start().len();
        let mut expr = rest.trim().to_owned();
        if expr.is_empty() || expr.starts_with('|') || expr.starts_with('>') {
            expr = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .copied()
                .collect::<Vec<_>>()
                .join("\n");
        }
        out.push(expr);
    }
    out
}

/// Metrics of an optional integration: exposed once it is configured and has something to
/// report (a certificate of a managed zone; a backups directory), never as made-up series.
/// Their values are checked by the integration's own tests (`tests/cloudflare.rs`,
/// `tests/notifications.rs`).
const CONFIGURED_ONLY: &[&str] = &[
    "cc_cloudflare_certificate_expiry_timestamp_seconds",
    "cc_backup_newest_timestamp_seconds",
];

/// The `cc_*` metrics the dashboards and alert rules query.
fn deployed_cc_metrics() -> BTreeSet<String> {
    let mut exprs = Vec::new();
    for dir in ["deploy/grafana/dashboards", "deploy/prometheus/rules"] {
        for entry in std::fs::read_dir(repo().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            match path.extension().and_then(|e| e.to_str()) {
                Some("json") => dashboard_exprs(&serde_json::from_str(&text).unwrap(), &mut exprs),
                Some("yml" | "yaml") => exprs.extend(rule_exprs(&text)),
                _ => {}
            }
        }
    }
    let mut names = BTreeSet::new();
    for e in &exprs {
        cc_names(e, &mut names);
    }
    for n in CONFIGURED_ONLY {
        names.remove(*n);
    }
    assert!(
        names.len() >= 15 && names.contains("cc_job_executions_total"),
        "too few metric names found in deploy/: {names:?}"
    );
    names
}

/// The metric names with a sample in a text exposition.
fn exposed(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// A script target, so the lifecycle series have a target to be labelled with, and a
/// notification channel, so the notification series have a channel.
fn config_file(dir: &Path) -> PathBuf {
    let script = repo().join("examples/scripts/bash/cc-target.sh");
    let path = dir.join("command-center.toml");
    std::fs::write(
        &path,
        format!(
            "[[targets]]\nkind = \"script\"\nname = \"bash-demo\"\ncommand = [\"bash\", \"{}\"]\nenv = {{ CC_SCRIPT_STATE_DIR = \"{}\" }}\n\n\
             [[notifications.channels]]\nname = \"helpdesk\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n",
            script.display(),
            dir.display()
        ),
    )
    .unwrap();
    path
}

/// Starts `command-center ARGS` and returns it with the first `http://…` address it prints
/// on a line containing `marker`.
async fn start(db: &TestDb, config: &Path, args: &[&str], marker: &str) -> (Child, String) {
    let mut child = Command::new(command_center_bin())
        .args(args)
        .env("CC_DATABASE_URL", &db.url)
        .env("CC_CONFIG", config)
        .env("CC_LISTEN", "127.0.0.1:0")
        .env("CC_WORKER_LISTEN", "127.0.0.1:0")
        .env("CC_METRICS_PUBLIC", "true")
        .env("CC_BOOTSTRAP_ADMIN_PASSWORD", "first-scrape-password-1")
        .env("CC_REDIS_URL", "")
        .env("CC_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start command-center");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let find = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(marker) {
                if let Some(at) = line.find("http://") {
                    let addr = line[at..].split_whitespace().next().unwrap();
                    return addr.trim_end_matches('/').to_owned();
                }
            }
        }
        panic!("command-center exited without printing `{marker}`");
    };
    let base = tokio::time::timeout(Duration::from_secs(60), find)
        .await
        .expect("command-center printed its address within 60 s");
    // Keep reading: a closed pipe would fail the process's next line of output.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

/// Metrics only the API process exports: each api replica checks the lifecycle targets (the
/// `TargetDown` rule takes `max` over replicas), so a worker process has no `cc_target_up`.
const API_ONLY: &[&str] = &["cc_target_up"];

/// The first scrape, asserted to carry every deployed metric (a worker: all but [`API_ONLY`]).
async fn assert_first_scrape_complete(role: &str, base: &str) {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .text()
        .await
        .unwrap();
    let have = exposed(&text);
    let missing: Vec<_> = deployed_cc_metrics()
        .into_iter()
        .filter(|m| !have.contains(m))
        .filter(|m| role != "worker" || !API_ONLY.contains(&m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "`{role}`'s first scrape lacks {missing:?}; it has {have:?}"
    );
}

async fn serve_exposes_every_deployed_metric_from_the_first_scrape(backend: Backend) {
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());
    let (mut child, base) = start(&db, &config, &["serve"], "listening on").await;
    assert_first_scrape_complete("serve", &base).await;
    child.kill().await.unwrap();
}

async fn a_worker_exposes_every_deployed_metric_from_the_first_scrape(backend: Backend) {
    let db = TestDb::new(backend).await;
    db.store().await; // migrated: a worker refuses an outdated schema
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path());
    let (mut child, base) = start(&db, &config, &["worker"], "Probes and metrics").await;
    assert_first_scrape_complete("worker", &base).await;
    child.kill().await.unwrap();
}

#[test]
fn names_are_taken_from_expressions() {
    let mut names = BTreeSet::new();
    cc_names(
        "sum(rate(cc_a_total{x=\"cc_not\"}[5m])) / cc_b:ratio + xcc_c + cc_d_bucket",
        &mut names,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["cc_a_total", "cc_d_bucket", "cc_not"]
    );
    let yaml = "  - alert: A\n    expr: cc_x > 1\n  - alert: B\n    expr: |\n      increase(cc_y[5m])\n        > 0\n    for: 5m\n";
    assert_eq!(
        rule_exprs(yaml),
        ["cc_x > 1", "      increase(cc_y[5m])\n        > 0"]
    );
}

backend_tests!(
    serve_exposes_every_deployed_metric_from_the_first_scrape,
    a_worker_exposes_every_deployed_metric_from_the_first_scrape,
);
