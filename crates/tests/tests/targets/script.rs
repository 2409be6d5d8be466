//! The script target: the bash example end to end, and the process rules (no shell, scrubbed
//! environment, timeout killing the process group, output caps, exit codes, redaction).

use std::path::{Path, PathBuf};
use std::time::Duration;

use cc_connectors::script::{ScriptConfig, ScriptTarget};
use cc_connectors::{ChangeKind, Operation, OperationRequest, Target, TargetError};
use cc_tests::wait_for;
use serde_json::Value;

use super::user;

fn example_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scripts/bash/cc-target.sh")
}

fn target(extra: &str) -> ScriptTarget {
    let text = format!("name = \"test-script\"\n{extra}");
    let c: ScriptConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    ScriptTarget::new(&c).expect("valid config")
}

/// A target running `body` as a bash script file in `dir` (`$DIR` in the script).
fn inline(dir: &Path, body: &str, extra: &str) -> ScriptTarget {
    let path = dir.join("script.sh");
    std::fs::write(&path, format!("set -u\nDIR={}\n{body}\n", dir.display()))
        .expect("write the script");
    target(&format!(
        "command = [\"bash\", \"{}\"]\n{extra}",
        path.display()
    ))
}

const OK: &str = r#"echo '{"account_id":"acct-1","changes":[]}'"#;

#[tokio::test]
async fn the_bash_example_does_all_five_operations_and_converges() {
    let state = tempfile::tempdir().unwrap();
    let t = target(&format!(
        "command = [\"bash\", \"{}\"]\nenv = {{ CC_SCRIPT_STATE_DIR = \"{}\" }}\n",
        example_script().display(),
        state.path().display()
    ));
    let ada = user("ada");
    let file = state.path().join("ada.json");
    let read = || serde_json::from_str::<Value>(&std::fs::read_to_string(&file).unwrap()).unwrap();

    let provision =
        OperationRequest::new(Operation::Provision, ada.clone()).with_password("First-pw-1");
    let plan = t.plan(&provision).await.unwrap();
    assert_eq!(plan.changes[0].kind, ChangeKind::Create);
    assert!(
        !plan.exists,
        "an account the dry run would create does not exist yet"
    );
    assert!(!file.exists(), "a dry run writes nothing");
    let out = t.apply(&provision).await.unwrap();
    assert_eq!(out.account_id.as_deref(), Some("ada"));
    assert_eq!(out.changes[0].kind, ChangeKind::Create);
    assert!(
        t.apply(&provision).await.unwrap().is_noop(),
        "provision converges"
    );
    assert_eq!(read()["enabled"], true);

    let mut renamed = ada.clone();
    renamed.family_name = "King".into();
    let update =
        OperationRequest::new(Operation::Update, renamed.clone()).with_previous(ada.clone());
    let out = t.apply(&update).await.unwrap();
    assert_eq!(out.changes.len(), 1);
    assert_eq!(out.changes[0].attribute.as_deref(), Some("family_name"));
    assert!(t.apply(&update).await.unwrap().is_noop());
    assert_eq!(read()["family_name"], "King");

    let suspend = OperationRequest::new(Operation::Suspend, renamed.clone());
    assert_eq!(
        t.apply(&suspend).await.unwrap().changes[0].kind,
        ChangeKind::Disable
    );
    assert!(t.apply(&suspend).await.unwrap().is_noop());
    assert_eq!(read()["enabled"], false);

    let reset = OperationRequest::new(Operation::ResetPassword, renamed.clone())
        .with_password("Second-pw-2");
    let before = read()["password_sha256"].clone();
    assert_eq!(
        t.apply(&reset).await.unwrap().changes[0].kind,
        ChangeKind::SetPassword
    );
    assert!(t.apply(&reset).await.unwrap().is_noop());
    assert_ne!(read()["password_sha256"], before);

    let deprovision = OperationRequest::new(Operation::Deprovision, renamed);
    let out = t.apply(&deprovision).await.unwrap();
    assert_eq!(out.changes[0].kind, ChangeKind::Delete);
    assert_eq!(out.account_id, None);
    assert!(!file.exists());
    assert!(
        t.apply(&deprovision).await.unwrap().is_noop(),
        "a missing account is success"
    );
}

#[tokio::test]
async fn user_data_reaches_the_script_intact_and_unexecuted() {
    let dir = tempfile::tempdir().unwrap();
    let canary = dir.path().join("pwned");
    let t = inline(dir.path(), &format!("cat > \"$DIR/input.json\"\n{OK}"), "");
    let mut evil = user("ada");
    evil.given_name = format!(
        "$(touch {}) `touch {}` ; rm -rf /tmp/nothing-here",
        canary.display(),
        canary.display()
    );
    evil.family_name = "O'Brien \"quoted\"\nsecond line && echo hi | cat > x".into();
    let out = t
        .apply(&OperationRequest::new(Operation::Update, evil.clone()))
        .await
        .unwrap();
    assert_eq!(out.account_id.as_deref(), Some("acct-1"));
    let input: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("input.json")).unwrap())
            .unwrap();
    assert_eq!(input["user"]["given_name"], evil.given_name.as_str());
    assert_eq!(input["user"]["family_name"], evil.family_name.as_str());
    assert_eq!(input["operation"], "update");
    assert_eq!(input["dry_run"], false);
    assert!(!canary.exists(), "nothing in the user record was executed");

    // The example script, which does handle the values, stores them as data too.
    let state = tempfile::tempdir().unwrap();
    let t = target(&format!(
        "command = [\"bash\", \"{}\"]\nenv = {{ CC_SCRIPT_STATE_DIR = \"{}\" }}\n",
        example_script().display(),
        state.path().display()
    ));
    t.apply(&OperationRequest::new(Operation::Provision, evil.clone()))
        .await
        .unwrap();
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("ada.json")).unwrap())
            .unwrap();
    assert_eq!(stored["given_name"], evil.given_name.as_str());
    assert_eq!(stored["family_name"], evil.family_name.as_str());
    assert!(!canary.exists());
}

#[tokio::test]
async fn the_environment_is_scrubbed() {
    assert!(
        std::env::var_os("CARGO_MANIFEST_DIR").is_some(),
        "the test runner sets it"
    );
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("token");
    std::fs::write(&secret, "tok-123-secret\n").unwrap();
    let t = inline(
        dir.path(),
        &format!("env > \"$DIR/env\"\n{OK}"),
        &format!(
            "env = {{ CC_AD_SERVER = \"dc1.example.org\" }}\nenv_files = {{ CC_AD_TOKEN = \"{}\" }}\n",
            secret.display()
        ),
    );
    t.apply(&OperationRequest::new(Operation::Suspend, user("ada")))
        .await
        .unwrap();
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    assert!(!names.contains(&"CARGO_MANIFEST_DIR"), "{names:?}");
    assert!(!names.contains(&"HOME"), "{names:?}");
    assert!(env.contains("CC_AD_SERVER=dc1.example.org"));
    assert!(env.contains("CC_AD_TOKEN=tok-123-secret"));
    assert!(env.contains("CC_OPERATION=suspend"));
    assert!(env.contains("CC_TARGET=test-script"));
    assert!(env.contains("CC_DRY_RUN=0"));
    assert!(names.contains(&"PATH"));
}

fn alive(pid: i32) -> bool {
    // A killed process may linger as a zombie until its new parent reaps it: that is gone.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z' | 'X')))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let t = inline(
        dir.path(),
        "sleep 300 &\necho $! > \"$DIR/grandchild\"\nwait",
        "timeout_ms = 500\n",
    );
    let e = t
        .apply(&OperationRequest::new(Operation::Provision, user("ada")))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
    let pid: i32 = std::fs::read_to_string(dir.path().join("grandchild"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        "the grandchild sleep to be killed",
        Duration::from_secs(5),
        || async move { (!alive(pid)).then_some(()) },
    )
    .await;

    // Background processes left behind by a script that exited are killed too.
    let t = inline(
        dir.path(),
        &format!("sleep 300 >/dev/null 2>&1 &\necho $! > \"$DIR/leftover\"\n{OK}"),
        "",
    );
    t.apply(&OperationRequest::new(Operation::Provision, user("ada")))
        .await
        .unwrap();
    let pid: i32 = std::fs::read_to_string(dir.path().join("leftover"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for(
        "the leftover sleep to be killed",
        Duration::from_secs(5),
        || async move { (!alive(pid)).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn output_over_the_cap_is_truncated_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let t = inline(
        dir.path(),
        &format!("head -c 200000 /dev/zero | tr '\\0' 'x' >&2\n{OK}"),
        "output_limit_bytes = 1024\n",
    );
    let out = t
        .apply(&OperationRequest::new(Operation::Update, user("ada")))
        .await
        .unwrap();
    let p = &out.detail["process"];
    assert_eq!(p["stderr_truncated"], true);
    assert_eq!(p["stdout_truncated"], false);
    let stderr = p["stderr"].as_str().unwrap();
    assert!(stderr.starts_with(&"x".repeat(1024)));
    assert!(
        stderr.contains("[output truncated: kept the first 1024 of 200000 bytes]"),
        "{}",
        &stderr[1000..]
    );
    assert!(stderr.len() < 1200);
}

#[tokio::test]
async fn exit_codes_and_error_objects_decide_retryability() {
    let dir = tempfile::tempdir().unwrap();
    let req = OperationRequest::new(Operation::Update, user("ada"));
    let run = |body: &str| {
        let t = inline(dir.path(), body, "");
        let req = req.clone();
        async move { t.apply(&req).await.unwrap_err() }
    };
    let e =
        run(r#"echo '{"error":"domain controller unreachable","retryable":true}'; exit 1"#).await;
    assert!(
        matches!(&e, TargetError::Retryable { message, .. } if message.contains("domain controller unreachable")),
        "{e}"
    );
    let e = run(r#"echo '{"error":"no such OU","retryable":false}'; exit 1"#).await;
    assert!(
        matches!(&e, TargetError::Permanent { message } if message.contains("no such OU")),
        "{e}"
    );
    let e = run("echo 'busy, later' >&2; exit 75").await;
    assert!(e.is_retryable(), "{e}");
    let e = run("echo 'syntax error near line 3' >&2; exit 2").await;
    assert!(!e.is_retryable(), "{e}");
    assert!(
        e.to_string().contains("status 2") && e.to_string().contains("syntax error near line 3"),
        "{e}"
    );
    let e = run("echo 'all done'").await;
    assert!(!e.is_retryable());
    assert!(e.to_string().contains("no JSON"), "{e}");

    let missing = target("command = [\"/nonexistent/interpreter\", \"x\"]\n");
    let e = missing.apply(&req).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");
}

#[tokio::test]
async fn passwords_are_redacted_from_captured_output_and_kept_from_dry_runs() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!(
        "input=$(cat)\necho \"$input\" > \"$DIR/input-$CC_DRY_RUN.json\"\npw=$(jq -r '.password // empty' <<<\"$input\")\necho \"debug: password is $pw\" >&2\necho \"setting $pw\"\n{OK}"
    );
    let t = inline(dir.path(), &body, "");
    let req = OperationRequest::new(Operation::ResetPassword, user("ada"))
        .with_password("Sup3r-Secret-pw");
    let out = t.apply(&req).await.unwrap();
    let shown = serde_json::to_string(&out).unwrap();
    assert!(!shown.contains("Sup3r-Secret-pw"), "{shown}");
    assert!(shown.contains("debug: password is [REDACTED]"), "{shown}");
    let input = std::fs::read_to_string(dir.path().join("input-0.json")).unwrap();
    assert!(
        input.contains("Sup3r-Secret-pw"),
        "the script itself gets the password"
    );

    t.plan(&req).await.unwrap();
    let dry: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("input-1.json")).unwrap())
            .unwrap();
    assert_eq!(dry["dry_run"], true);
    assert!(
        dry.get("password").is_none(),
        "a dry run never gets the password"
    );

    let failing = inline(dir.path(), "pw=$(jq -r .password)\necho \"{\\\"error\\\":\\\"rejected $pw\\\",\\\"retryable\\\":false}\"\nexit 1", "");
    let e = failing.apply(&req).await.unwrap_err();
    assert!(!e.to_string().contains("Sup3r-Secret-pw"), "{e}");
}
