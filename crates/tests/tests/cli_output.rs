//! The binary's output behaviour that scripts rely on: a closed pipe ends it quietly.

use std::process::{Command, Stdio};

use cc_tests::queue::command_center_bin;

/// `command-center config | head -0`: standard output is closed before anything is written.
/// The process ends with SIGPIPE's status (141) and no panic message, instead of a panic.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(command_center_bin())
        .arg("config")
        .env(
            "CC_DATABASE_URL",
            format!("sqlite://{}/x.db", dir.path().display()),
        )
        .env_remove("CC_CONFIG")
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run command-center config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Runs `command-center bench api` with `flags`; returns the exit code and standard error.
fn bench_api(flags: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(command_center_bin())
        .args(["bench", "api"])
        .args(flags)
        .env(
            "CC_DATABASE_URL",
            format!("sqlite://{}/x.db", dir.path().display()),
        )
        .env_remove("CC_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run command-center bench api");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `bench api` with a malformed flag refuses before measuring anything: exit status 2 and a
/// message naming the flag and the bad value (and, for a scenario, the ones that exist).
#[test]
fn bench_api_refuses_malformed_flags() {
    let (code, stderr) = bench_api(&["--people", "abc"]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(stderr.contains("invalid value 'abc'"), "{stderr}");
    assert!(
        stderr.contains("--users") || stderr.contains("--people"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("bench api: "),
        "it measured anyway: {stderr}"
    );

    let (code, stderr) = bench_api(&["--only", "nosuchscenario"]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains("invalid value 'nosuchscenario'"),
        "{stderr}"
    );
    assert!(stderr.contains("--only"), "{stderr}");
    assert!(stderr.contains("possible values"), "{stderr}");
    assert!(
        !stderr.contains("bench api: "),
        "it measured anyway: {stderr}"
    );

    let (code, stderr) = bench_api(&["--seconds", "-1"]);
    assert_eq!(code, Some(2), "stderr: {stderr}");
    assert!(
        !stderr.contains("bench api: "),
        "it measured anyway: {stderr}"
    );
}
