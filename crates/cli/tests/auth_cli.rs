//! Bootstrapping the first operator and managing operators from the command line.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_command-center");

fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env_clear()
        .env(
            "CC_DATABASE_URL",
            format!("sqlite://{}/cc.db", dir.display()),
        )
        .env("CC_LOG_FORMAT", "json");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run_with_stdin(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(dir, &[])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the binary");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A running `serve`: its address, the stdout lines read up to the address, and the process.
struct Served {
    child: Child,
    url: String,
    stdout: Vec<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, env: &[(&str, &str)]) -> Served {
    let child = command(dir, env)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve");
    // Owned by `Served` from here on, so it is killed and reaped whatever happens.
    let mut served = Served {
        child,
        url: String::new(),
        stdout: Vec::new(),
    };
    let stdout = served.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the caller stops listening: a closed pipe would fail the
        // server's next write to stdout.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("serve prints where it listens");
        if let Some(rest) = line.split("listening on ").nth(1) {
            served.url = rest.split_whitespace().next().unwrap().to_owned();
            served.stdout.push(line);
            return served;
        }
        served.stdout.push(line);
    }
}

/// Stops the server and returns what it logged (stderr).
fn stop(mut s: Served) -> String {
    let _ = s.child.kill();
    let _ = s.child.wait();
    let mut err = String::new();
    if let Some(mut e) = s.child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    err
}

#[tokio::test]
async fn first_start_prints_a_one_time_password_only_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &[]);
    let banner = served.stdout.join("\n");
    let password = served
        .stdout
        .iter()
        .skip_while(|l| !l.contains("one-time password"))
        .nth(2)
        .map(|l| l.trim().to_owned())
        .unwrap_or_else(|| panic!("no password in the banner: {banner}"));
    assert!(password.len() >= 20, "{banner}");
    let client = cc_client::Client::new(&served.url).unwrap();
    let (admin, _) = client.logged_in("admin", &password).await.unwrap();
    assert_eq!(admin.me().await.unwrap().name, "operator:admin");
    let logs = stop(served);
    assert!(logs.contains("generated password"), "{logs}");
    assert!(!logs.contains(&password), "the password must not be logged");

    // A restart does not bootstrap again.
    let served = serve(dir.path(), &[]);
    assert!(!served.stdout.join("\n").contains("one-time password"));
    drop(served);
}

#[tokio::test]
async fn bootstrap_password_from_a_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("admin_password");
    std::fs::write(&secret, "violet kettle ocean 42\n").unwrap();
    let secret = secret.to_str().unwrap().to_owned();
    let served = serve(dir.path(), &[("CC_BOOTSTRAP_ADMIN_PASSWORD_FILE", &secret)]);
    assert!(!served.stdout.join("\n").contains("one-time password"));
    cc_client::Client::new(&served.url)
        .unwrap()
        .login("admin", "violet kettle ocean 42")
        .await
        .unwrap();
    let logs = stop(served);
    assert!(!logs.contains("violet kettle"), "{logs}");

    // A weak bootstrap password stops the start with a reason.
    let dir = tempfile::tempdir().unwrap();
    let out = command(dir.path(), &[("CC_BOOTSTRAP_ADMIN_PASSWORD", "password")])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let t = text(&out);
    assert!(
        t.contains("CC_BOOTSTRAP_ADMIN_PASSWORD") && t.contains("at least 12"),
        "{t}"
    );
}

#[test]
fn operator_commands_work_on_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let create = |name: &str, role: &str, password: &str| {
        run_with_stdin(
            d,
            &[
                "operator",
                "create",
                "--username",
                name,
                "--role",
                role,
                "--password-stdin",
            ],
            password,
        )
    };
    let out = create("admin", "admin", "violet kettle ocean 42\n");
    assert!(out.status.success(), "{}", text(&out));
    let out = create("weak", "auditor", "password123\n");
    assert!(!out.status.success());
    assert!(
        text(&out).contains("password: must be at least 12"),
        "{}",
        text(&out)
    );
    let out = create("ada", "auditor", "quiet harbour lamp 9\n");
    assert!(out.status.success(), "{}", text(&out));
    // Without a terminal and without --password-stdin there is nothing to prompt on.
    let out = run_with_stdin(
        d,
        &[
            "operator",
            "create",
            "--username",
            "bob",
            "--role",
            "auditor",
        ],
        "",
    );
    assert!(text(&out).contains("--password-stdin"), "{}", text(&out));

    let ok = |args: &[&str]| {
        let out = command(d, &[]).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&[
        "operator",
        "set-role",
        "--username",
        "ada",
        "--role",
        "operator",
    ]);
    ok(&["operator", "disable", "--username", "ada"]);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["operator", "list", "--output", "json"])).unwrap();
    let ada = list
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["username"] == "ada")
        .unwrap();
    assert_eq!(
        (ada["role"].as_str(), ada["disabled"].as_bool()),
        (Some("operator"), Some(true))
    );
    assert!(!list.to_string().contains("argon2"), "no hashes in output");
    ok(&["operator", "enable", "--username", "ada"]);
    let out = run_with_stdin(
        d,
        &[
            "operator",
            "reset-password",
            "--username",
            "ada",
            "--password-stdin",
        ],
        "a brand new passphrase\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    // The last admin stays.
    let out = command(d, &[])
        .args(["operator", "disable", "--username", "admin"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("last enabled admin"), "{}", text(&out));
    // Secrets are redacted in `config`.
    let out = command(
        d,
        &[
            ("CC_BOOTSTRAP_ADMIN_PASSWORD", "violet kettle ocean 42"),
            ("CC_METRICS_TOKEN", "m-secret-123"),
        ],
    )
    .args(["config"])
    .output()
    .unwrap();
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        !printed.contains("violet") && !printed.contains("m-secret-123"),
        "{printed}"
    );
}

#[tokio::test]
async fn login_and_token_commands_talk_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve(
        dir.path(),
        &[("CC_BOOTSTRAP_ADMIN_PASSWORD", "violet kettle ocean 42")],
    );
    let url = served.url.clone();
    let run = |args: &[&str], env: &[(&str, &str)], stdin: &str| {
        let mut child = command(dir.path(), env)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(
        &[
            "login",
            "--username",
            "admin",
            "--password-stdin",
            "--url",
            &url,
        ],
        &[],
        "violet kettle ocean 42\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let access = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(access.split('.').count(), 3, "a JWT on stdout");

    let env = [("CC_URL", url.as_str()), ("CC_TOKEN", access.as_str())];
    let out = run(
        &["token", "create", "--name", "ci", "--role", "operator"],
        &env,
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let secret = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(secret.starts_with("cct_"), "{secret}");
    let me = cc_client::Client::new(&url)
        .unwrap()
        .with_token(&secret)
        .me()
        .await
        .unwrap();
    assert_eq!(me.name, "token:ci");

    let out = run(&["token", "list", "--output", "json"], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert!(!list.to_string().contains(&secret[4..]));
    let out = run(&["token", "revoke", &id], &env, "");
    assert!(out.status.success(), "{}", text(&out));
    let err = cc_client::Client::new(&url)
        .unwrap()
        .with_token(&secret)
        .me()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));

    // Without a token the commands say how to get one.
    let out = run(&["token", "list", "--url", &url], &[], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("CC_TOKEN"), "{}", text(&out));
    drop(served);
}
