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
