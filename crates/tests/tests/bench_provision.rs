//! `command-center bench provision` end to end, small: 50 people imported and provisioned
//! into a real slapd, beside ldapadd loading the same entries; the report has every figure
//! and the check found every account correct. Needs slapd and ldapadd (scripts/test.sh
//! installs them).

use std::process::{Command, Stdio};

use cc_tests::queue::command_center_bin;
use cc_tests::{backend_tests, Backend, TestDb};
use serde_json::Value;

backend_tests!(a_small_provisioning_run_reports_every_figure_and_checks_out);

fn bench(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(command_center_bin())
        .args(["bench", "provision"])
        .args(args)
        .env(
            "CC_DATABASE_URL",
            format!("sqlite://{}/unused.db", dir.path().display()),
        )
        .env_remove("CC_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run command-center bench provision")
}

fn number(v: &Value, path: &str) -> f64 {
    v.pointer(path)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{path} is not a number in {v:#}"))
}

async fn a_small_provisioning_run_reports_every_figure_and_checks_out(backend: Backend) {
    // Fails loudly when slapd is missing.
    let _ = cc_tests::ldap::slapd_binary();
    let db = TestDb::new(backend).await;
    let mut args = vec![
        "--people",
        "50",
        "--rounds",
        "1",
        "--ldap-connections",
        "2",
        "--output",
        "json",
    ];
    if backend == Backend::Postgres {
        args.extend(["--bench-database-url", db.url.as_str()]);
    }
    let out = bench(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));

    assert_eq!(r["people"], 50);
    assert_eq!(r["accounts"], 50, "everyone in the export is active");
    assert!(
        number(&r, "/groups") >= 1.0 && number(&r, "/ous") >= 1.0,
        "{r:#}"
    );
    assert_eq!(
        r["backend"],
        if backend == Backend::Postgres {
            "postgres"
        } else {
            "sqlite"
        }
    );
    assert_eq!(r["check_passed"], true, "{r:#}");
    for side in ["command_center", "ldapadd"] {
        let runs = r[side]["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1, "{side}");
        let run = &runs[0];
        assert_eq!(run["check"]["problems"], 0, "{side}: {run:#}");
        assert_eq!(run["check"]["accounts"], 50, "{side}");
        assert!(number(run, "/seconds") > 0.0, "{side}");
        assert!(number(run, "/accounts_per_sec") > 0.0, "{side}");
        // At least an add per account, counted by the server.
        assert!(
            number(run, "/ldap_operations_per_account") >= 1.0,
            "{side}: {run:#}"
        );
        assert!(
            number(run, "/ldap_operations_by_kind/Add") >= 50.0,
            "{side}: {run:#}"
        );
        assert!(number(&r, &format!("/{side}/median_accounts_per_sec")) > 0.0);
    }
    let ours = &r["command_center"]["runs"][0];
    assert!(number(ours, "/job_latency_ms_p99") >= number(ours, "/job_latency_ms_p50"));
    assert!(number(ours, "/apply_seconds") > 0.0);
    let connections = number(ours, "/ldap_connections");
    assert!(
        (1.0..=2.0).contains(&connections),
        "the target keeps to --ldap-connections 2: {connections}"
    );
    assert_eq!(r["ldapadd"]["runs"][0]["ldap_connections"], 1);
    let ratio = number(&r, "/ratio");
    assert!(ratio > 0.0 && ratio.is_finite(), "{ratio}");
    assert_eq!(r["round_ratios"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["target_ratio"], 0.6);
    assert!(number(&r, "/machine/cpus") >= 1.0);
}

/// Without slapd the benchmark refuses at once, naming the package to install (exit 3).
#[test]
fn a_missing_slapd_is_named_with_its_package() {
    let out = bench(&["--slapd", "/nonexistent/slapd", "--people", "5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("slapd is not installed"), "{stderr}");
    assert!(
        stderr.contains("apt-get install slapd ldap-utils"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("generating"),
        "it started anyway: {stderr}"
    );
}
