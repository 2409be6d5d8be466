//! `command-center demo --no-pause` tells the whole story against its own embedded instance,
//! and leaves the state it narrates: accounts in the demo target's folder (one moved, one
//! suspended after a failed and retried job) and an intact audit trail.

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_command-center"))
}

fn account(dir: &Path, name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("accounts").join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("{name} has no account on the demo target: {e}"));
    serde_json::from_str(&text).expect("an account file is JSON")
}

#[test]
fn the_demo_runs_to_completion_and_leaves_what_it_narrates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = bin()
        .args(["demo", "--no-pause", "--data-dir"])
        .arg(&data)
        // The embedded instance must ignore a deployment's settings.
        .env("CC_DATABASE_URL", "postgres://nowhere.invalid/nothing")
        .env("CC_LOG", "warn")
        .output()
        .expect("run command-center demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for told in [
        "== Step 1: Import a roster export and preview it ==",
        "== Step 7: The audit trail, verified ==",
        "temporary password (hand it over now): ",
        "The demo is complete.",
        // Every step printed as the commands that repeat it.
        "$ curl -s -X POST -H \"authorization: Bearer $CC_TOKEN\" --data-binary @",
        "$ command-center jobs retry ",
        "$ command-center users reset-password ada.lovelace",
    ] {
        assert!(
            stdout.contains(told),
            "the demo did not print {told:?}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains(": discarded after 1 attempt(s)")
            && stdout.contains("the demo target is offline on purpose"),
        "the failed job and its error were not shown:\n{stdout}"
    );

    let accounts: Vec<_> = std::fs::read_dir(data.join("accounts"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
        .collect();
    assert_eq!(
        accounts.len(),
        12,
        "one account per person of the sample roster"
    );
    let ada = account(&data, "ada.lovelace");
    assert_eq!(ada["school"], "roosevelt-hs", "the move reached the target");
    assert_eq!(
        ada["enabled"], false,
        "the retried suspension reached the target"
    );
    assert!(
        ada["password_sha256"].is_string(),
        "the reset reached the target"
    );
    assert_eq!(account(&data, "alan.turing")["enabled"], true);
    assert!(!data.join("target-offline").exists());

    let verify = bin()
        .args(["audit", "verify", "--database-url"])
        .arg(format!(
            "sqlite://{}",
            data.join("command-center.db").display()
        ))
        .output()
        .expect("run command-center audit verify");
    let verdict = String::from_utf8_lossy(&verify.stdout);
    assert!(
        verify.status.success() && verdict.contains("audit chain intact"),
        "{verdict}{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
