//! The `command-center` binary as an operator runs it: in a fresh working directory, with a
//! clean environment, reading what it prints and the exit codes it returns.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cc_tests::{wait_for, Backend, TestDb};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_command-center");

/// How long a server may take to start or to stop; generous for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// The password `serve` gives the first operator, `admin`, in these tests.
const ADMIN_PASSWORD: &str = "cli-test-passphrase-7";

/// The binary, run in `dir` with only the given environment (and the bootstrap password).
fn command(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear().kill_on_drop(true);
    cmd.env("CC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// A finished command's exit code and output.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let out = tokio::time::timeout(DEADLINE, command(dir, env).args(args).output())
        .await
        .unwrap_or_else(|_| panic!("`{}` did not finish", args.join(" ")))
        .expect("run the binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a command that must succeed and returns its stdout.
async fn ok(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let r = run(dir, env, args).await;
    assert_eq!(r.code, Some(0), "`{}` failed: {r:?}", args.join(" "));
    r.stdout
}

/// A running `serve`, with its address and everything it has logged so far.
struct Serve {
    child: Child,
    addr: String,
    /// An access token for `admin`, when the server could log it in.
    token: Option<String>,
    stderr: Arc<Mutex<String>>,
    stderr_reader: tokio::task::JoinHandle<()>,
}

impl Serve {
    /// Starts `serve --listen 127.0.0.1:0 <args>` and waits for its "listening on" line.
    async fn start(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Self {
        let mut child = command(dir, env)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let sink = stderr.clone();
        let stderr_reader = tokio::spawn(async move {
            while let Ok(Some(line)) = err_lines.next_line().await {
                let mut s = sink.lock().expect("log buffer");
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut out_lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let find_addr = async {
            while let Some(line) = out_lines.next_line().await.expect("read stdout") {
                if let Some(rest) = line.split_once("listening on http://").map(|x| x.1) {
                    return rest.split_whitespace().next().map(str::to_owned);
                }
            }
            None
        };
        let addr = tokio::time::timeout(DEADLINE, find_addr)
            .await
            .expect("serve prints its address in time")
            .unwrap_or_else(|| {
                panic!(
                    "serve exited without listening: {}",
                    stderr.lock().expect("log")
                )
            });
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = out_lines.next_line().await {} });
        let token = cc_client::Client::new(&format!("http://{addr}"))
            .expect("client")
            .login("admin", ADMIN_PASSWORD)
            .await
            .ok()
            .map(|t| t.access_token);
        Self {
            child,
            addr,
            token,
            stderr,
            stderr_reader,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client logged in as `admin` (when the server could log it in).
    fn client(&self) -> cc_client::Client {
        let c = cc_client::Client::new(&self.url()).expect("client");
        match &self.token {
            Some(t) => c.with_token(t),
            None => c,
        }
    }

    fn send_sigterm(&self) {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for the process to exit.
    async fn stop(mut self) -> (ExitStatus, String) {
        self.send_sigterm();
        self.wait().await
    }

    async fn wait(&mut self) -> (ExitStatus, String) {
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("serve exits in time")
            .expect("wait for serve");
        // The log reader ends at end of file, once it has everything the process wrote.
        tokio::time::timeout(DEADLINE, &mut self.stderr_reader)
            .await
            .expect("stderr drained in time")
            .expect("log reader");
        let text = self.stderr.lock().expect("log").clone();
        (status, text)
    }
}

async fn user_count(client: &cc_client::Client) -> usize {
    client
        .list_users(&[("limit", "500")])
        .await
        .expect("list users")
        .items
        .len()
}

/// The sequence number of the newest audit event that is not a login (each `Serve::start`
/// logs `admin` in, which is itself audited).
async fn audit_head(client: &cc_client::Client) -> i64 {
    let page = client.list_audit(&[("limit", "50")]).await.expect("audit");
    page.items
        .iter()
        .find(|e| e.action != "auth.login")
        .map_or(0, |e| e.seq)
}

/// Changes one audit event behind the application's back.
async fn tamper_sqlite(db_file: &Path, seq: i64) {
    let url = format!("sqlite://{}", db_file.display());
    let pool = sqlx::SqlitePool::connect(&url)
        .await
        .expect("open the database file");
    let changed = sqlx::query("UPDATE audit_events SET after = '{\"grade\": 1}' WHERE seq = $1")
        .bind(seq)
        .execute(&pool)
        .await
        .expect("tamper");
    assert_eq!(changed.rows_affected(), 1);
    pool.close().await;
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_in_an_empty_directory_creates_the_database_and_serves_demo_users() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[], &["--demo"]).await;
    assert!(
        dir.path().join("data/command-center.db").is_file(),
        "./data/command-center.db"
    );
    let client = serve.client();
    let students = client
        .list_users(&[("role", "student"), ("limit", "100")])
        .await
        .expect("students");
    assert_eq!(students.items.len(), 20);
    assert_eq!(
        client.list_devices(&[]).await.expect("devices").items.len(),
        12
    );
    let (ready, _) = client.ready().await.expect("ready");
    assert!(ready);
    let (status, _) = serve.stop().await;
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_serve_demo_does_not_duplicate_the_demo_data() {
    let dir = temp_dir();
    let first = Serve::start(dir.path(), &[], &["--demo"]).await;
    let (users, head) = (
        user_count(&first.client()).await,
        audit_head(&first.client()).await,
    );
    assert_eq!(users, 25);
    first.stop().await;

    let second = Serve::start(dir.path(), &[], &["--demo"]).await;
    assert_eq!(user_count(&second.client()).await, users);
    assert_eq!(
        audit_head(&second.client()).await,
        head,
        "nothing was written on restart"
    );
    second.stop().await;
}

/// Every demo person, by status.
async fn demo_people(client: &cc_client::Client) -> Vec<cc_domain::User> {
    let people = client
        .list_users(&[("limit", "500")])
        .await
        .expect("list users")
        .items;
    assert_eq!(people.len(), 25);
    people
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_without_targets_claims_no_accounts() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[], &["--demo"]).await;
    let people = demo_people(&serve.client()).await;
    let not_pending: Vec<_> = people
        .iter()
        .filter(|u| u.status != cc_domain::UserStatus::Pending)
        .map(|u| (&u.username, u.status))
        .collect();
    assert!(
        not_pending.is_empty(),
        "without a target nobody has an account: {not_pending:?}"
    );
    let (status, log) = serve.stop().await;
    assert!(status.success(), "{status}");
    assert!(log.contains("demo people stay pending"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_with_a_target_gives_every_active_person_an_account_there() {
    let dir = temp_dir();
    let accounts = dir.path().join("accounts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scripts/bash/cc-target.sh")
        .canonicalize()
        .expect("the example bash target");
    let config = dir.path().join("demo.toml");
    std::fs::write(
        &config,
        format!(
            "[[targets]]\nname = \"bash-demo\"\nkind = \"script\"\n\
             command = [\"bash\", {script:?}]\nenv = {{ CC_SCRIPT_STATE_DIR = {accounts:?} }}\n",
            script = script.display().to_string(),
            accounts = accounts.display().to_string(),
        ),
    )
    .expect("write the configuration");
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
    let env = [
        ("CC_CONFIG", config.to_str().expect("utf-8 path")),
        ("PATH", path.as_str()),
    ];
    let serve = Serve::start(dir.path(), &env, &["--demo"]).await;
    let client = serve.client();

    // The workers carry the requests to the target: wait until no lifecycle job is left.
    wait_for("the demo lifecycle jobs to finish", DEADLINE * 2, || {
        let client = client.clone();
        async move {
            let page = client
                .list_users(&[("sync", "pending"), ("limit", "1")])
                .await
                .ok()?;
            page.items.is_empty().then_some(())
        }
    })
    .await;

    let people = demo_people(&client).await;
    let count = |s: cc_domain::UserStatus| people.iter().filter(|u| u.status == s).count();
    assert_eq!(count(cc_domain::UserStatus::Active), 24);
    assert_eq!(count(cc_domain::UserStatus::Pending), 1);
    for person in &people {
        let file = accounts.join(format!("{}.json", person.username));
        let targets = client.user_targets(person.id).await.expect("links");
        let link = targets["links"]
            .as_array()
            .expect("links")
            .iter()
            .find(|l| l["target"] == "bash-demo");
        if person.status == cc_domain::UserStatus::Pending {
            assert!(link.is_none(), "{}: {targets}", person.username);
            assert!(!file.exists(), "{} has an account", person.username);
            continue;
        }
        assert_eq!(person.status, cc_domain::UserStatus::Active);
        let link = link.unwrap_or_else(|| panic!("{} has no link: {targets}", person.username));
        assert_eq!(link["status"], "ok", "{}: {link}", person.username);
        assert_eq!(link["account_id"], person.username.as_str(), "{link}");
        let account = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{} is active without an account: {e}", person.username));
        let account: Value = serde_json::from_str(&account).expect("an account record");
        assert_eq!(account["enabled"], true, "{}: {account}", person.username);
    }
    let in_sync = client
        .list_users(&[("sync", "in_sync"), ("limit", "500")])
        .await
        .expect("in sync")
        .items
        .len();
    assert_eq!(in_sync, 25, "every demo person is in sync with the target");
    let (status, _) = serve.stop().await;
    assert!(status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_runs_on_postgres_named_by_cc_database_url() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = temp_dir();
    let env = [("CC_DATABASE_URL", db.url.as_str())];
    let first = Serve::start(dir.path(), &env, &["--demo"]).await;
    let client = first.client();
    assert_eq!(user_count(&client).await, 25);
    let head = audit_head(&client).await;
    let (status, _) = first.stop().await;
    assert!(status.success(), "{status}");
    assert!(
        !dir.path().join("data").exists(),
        "no SQLite file when PostgreSQL is configured"
    );

    let second = Serve::start(dir.path(), &env, &["--demo"]).await;
    assert_eq!(user_count(&second.client()).await, 25);
    assert_eq!(audit_head(&second.client()).await, head);
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_in_flight_request_finish_then_exits_0() {
    let dir = temp_dir();
    // A grace period far longer than the deadline below: exiting in time means serve did not
    // wait it out, it finished the request and stopped.
    let serve = Serve::start(dir.path(), &[("CC_HTTP_SHUTDOWN_GRACE_MS", "120000")], &[]).await;
    let body = serde_json::to_string(&cc_tests::student("inflight")).expect("json");
    let mut conn = tokio::net::TcpStream::connect(&serve.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/users HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        serve.addr,
        serve.token.as_deref().expect("logged in"),
        body.len()
    );
    conn.write_all(head.as_bytes()).await.expect("send headers");
    // The server answers 100 Continue once the handler starts reading the body: the request
    // is now in flight.
    let mut interim = Vec::new();
    let read_interim = async {
        while !interim.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            conn.read_exact(&mut byte).await.expect("read 100 Continue");
            interim.push(byte[0]);
        }
    };
    tokio::time::timeout(DEADLINE, read_interim)
        .await
        .expect("100 Continue in time");
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );

    serve.send_sigterm();
    let addr = serve.addr.clone();
    wait_for("serve to stop accepting connections", DEADLINE, || {
        let addr = addr.clone();
        async move {
            tokio::net::TcpStream::connect(&addr)
                .await
                .err()
                .map(|_| ())
        }
    })
    .await;

    conn.write_all(body.as_bytes())
        .await
        .expect("send the body");
    let mut response = Vec::new();
    tokio::time::timeout(DEADLINE, conn.read_to_end(&mut response))
        .await
        .expect("the response in time")
        .expect("read the response");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 201"), "{response}");
    assert!(response.contains("\"username\":\"inflight\""), "{response}");

    let mut serve = serve;
    let (status, _) = serve.wait().await;
    assert_eq!(status.code(), Some(0), "{status}");
    let out = ok(dir.path(), &[], &["audit", "verify"]).await;
    // The first operator's creation, its login, and the in-flight write.
    assert!(
        out.contains("3 events verified"),
        "the in-flight write committed: {out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_format_writes_one_json_object_per_line_on_stderr() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[("CC_LOG_FORMAT", "json")], &[]).await;
    serve.client().list_users(&[]).await.expect("a request");
    let (status, logs) = serve.stop().await;
    assert!(status.success());
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "expected start and shutdown logs: {logs}");
    for line in &lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("serving")), "{logs}");
    assert!(lines.iter().any(|l| l.contains("shutting down")), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_logged_with_the_request_id_and_not_sent() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[("CC_LOG_FORMAT", "json")], &[]).await;
    // Take the schema away underneath the running server.
    ok(dir.path(), &[], &["migrate", "down", "--steps", "100"]).await;
    let r = serve
        .client()
        .request(reqwest::Method::GET, "/api/v1/users")
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .expect("a response");
    assert_eq!(r.status().as_u16(), 500);
    let body = r.text().await.expect("body");
    assert!(!body.contains("no such table"), "{body}");
    let (_, logs) = serve.stop().await;
    let line = logs
        .lines()
        .find(|l| l.contains("\"ERROR\"") && l.contains("internal error"))
        .unwrap_or_else(|| panic!("no error logged: {logs}"));
    assert!(
        line.contains("trace-me-42"),
        "the log line carries the request id: {line}"
    );
    assert!(
        line.contains("no such table"),
        "the log line carries the detail: {line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_exits_non_zero_when_the_address_is_taken() {
    let dir = temp_dir();
    let first = Serve::start(dir.path(), &[], &[]).await;
    let r = run(dir.path(), &[], &["serve", "--listen", &first.addr]).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("cannot listen on {}", first.addr)),
        "{r:?}"
    );
    first.stop().await;
}

// ---------------------------------------------------------------------------------------------
// health
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_exits_0_when_ready_and_non_zero_when_the_server_is_down() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[], &[]).await;
    let url = serve.url();
    let r = run(dir.path(), &[], &["health", "--url", &url]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).expect("a JSON report");
    assert_eq!(report["status"], "ok");
    let quiet = run(dir.path(), &[("CC_URL", &url)], &["health", "--quiet"]).await;
    assert_eq!((quiet.code, quiet.stdout.as_str()), (Some(0), ""));
    serve.stop().await;

    let r = run(
        dir.path(),
        &[],
        &["health", "--url", &url, "--timeout", "2"],
    )
    .await;
    assert_ne!(r.code, Some(0), "{r:?}");
    assert!(r.stderr.contains("not ready"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_exits_non_zero_while_migrations_are_pending() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[], &["--no-migrate"]).await;
    let r = run(dir.path(), &[], &["health", "--url", &serve.url()]).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    let report: Value = serde_json::from_str(&r.stdout).expect("a JSON report");
    assert_eq!(report["checks"]["migrations"]["status"], "fail");
    serve.stop().await;
}

// ---------------------------------------------------------------------------------------------
// migrate, seed, audit verify
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_status_exits_3_while_pending_and_0_once_up() {
    let dir = temp_dir();
    let d = dir.path();
    let r = run(d, &[], &["migrate", "status"]).await;
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stdout.contains("pending"), "{r:?}");

    let up = ok(d, &[], &["migrate", "up"]).await;
    assert!(up.contains("applied 1"), "{up}");
    let status = ok(d, &[], &["migrate", "status"]).await;
    assert!(
        status.contains("applied") && !status.contains("pending"),
        "{status}"
    );
    let again = ok(d, &[], &["migrate", "up"]).await;
    assert!(again.contains("nothing applied"), "{again}");
    let json = ok(d, &[], &["migrate", "status", "--output", "json"]).await;
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["current"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_down_reverts_and_status_reports_it_pending() {
    let dir = temp_dir();
    let d = dir.path();
    ok(d, &[], &["migrate", "up"]).await;
    let down = ok(d, &[], &["migrate", "down", "--steps", "100"]).await;
    assert!(down.lines().any(|l| l == "reverted 1"), "{down}");
    let r = run(d, &[], &["migrate", "status", "--output", "json"]).await;
    assert_eq!(r.code, Some(3), "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(v["current"], false);
    assert_eq!(v["migrations"][0]["applied"], false);
    let nothing = ok(d, &[], &["migrate", "down"]).await;
    assert!(nothing.contains("nothing reverted"), "{nothing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_twice_creates_nothing_the_second_time() {
    let dir = temp_dir();
    let first: Value =
        serde_json::from_str(&ok(dir.path(), &[], &["seed", "--output", "json"]).await)
            .expect("json report");
    let created = first["created"].as_u64().expect("created");
    assert!(created >= 20 + 3 + 12 + 7, "{first}");
    assert_eq!(first["existing"], 0);
    let second = ok(dir.path(), &[], &["seed"]).await;
    assert!(
        second.contains(&format!("0 created, {created} already present")),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_works_on_postgres_too() {
    let db = TestDb::new(Backend::Postgres).await;
    let dir = temp_dir();
    let env = [("CC_DATABASE_URL", db.url.as_str())];
    let first = ok(dir.path(), &env, &["seed"]).await;
    assert!(first.contains(", 0 already present"), "{first}");
    let second = ok(dir.path(), &env, &["seed"]).await;
    assert!(second.contains("demo data: 0 created"), "{second}");
    let verified = ok(dir.path(), &env, &["audit", "verify"]).await;
    assert!(verified.contains("intact"), "{verified}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_exits_0_when_intact_and_1_naming_the_seq_after_tampering() {
    let dir = temp_dir();
    let d = dir.path();
    ok(d, &[], &["seed"]).await;
    let intact = ok(d, &[], &["audit", "verify"]).await;
    assert!(intact.contains("audit chain intact"), "{intact}");

    tamper_sqlite(&d.join("data/command-center.db"), 7).await;
    let r = run(d, &[], &["audit", "verify"]).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("BROKEN at event 7 (tampered)"), "{r:?}");
    assert!(r.stdout.contains("6 events verified"), "{r:?}");
    let json = run(d, &[], &["audit", "verify", "--output", "json"]).await;
    assert_eq!(json.code, Some(1));
    let v: Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(
        (
            v["first_break"]["seq"].as_i64(),
            v["first_break"]["kind"].as_str()
        ),
        (Some(7), Some("tampered"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_verify_refuses_a_schema_that_is_not_current() {
    let dir = temp_dir();
    let r = run(dir.path(), &[], &["audit", "verify"]).await;
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("migrate up"), "{r:?}");
}

#[tokio::test]
async fn sqlite_urls_name_a_file_relative_to_the_working_directory_or_an_absolute_one() {
    let work = temp_dir();
    let elsewhere = temp_dir();

    // Two slashes and a relative path: below the working directory.
    let relative = [("CC_DATABASE_URL", "sqlite://state/cc.db")];
    ok(work.path(), &relative, &["migrate", "up"]).await;
    assert!(work.path().join("state/cc.db").is_file());

    // Three slashes: `sqlite://` and an absolute path, whatever the working directory.
    let file = elsewhere.path().join("var/lib/command-center/cc.db");
    let url = format!("sqlite://{}", file.display());
    assert!(url.starts_with("sqlite:///"), "{url}");
    let absolute = [("CC_DATABASE_URL", url.as_str())];
    ok(work.path(), &absolute, &["migrate", "up"]).await;
    assert!(file.is_file(), "{} was not created", file.display());
    let strays: Vec<_> = std::fs::read_dir(work.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(
        strays,
        ["state"],
        "nothing else under the working directory"
    );
    // The same files from another working directory (`migrate status` exits 0 only when the
    // schema is current): the absolute URL names the same file, the relative one follows
    // the working directory.
    ok(elsewhere.path(), &absolute, &["migrate", "status"]).await;
    ok(work.path(), &relative, &["migrate", "status"]).await;
    let moved = run(elsewhere.path(), &relative, &["migrate", "status"]).await;
    assert_eq!(moved.code, Some(3), "a new, empty file there: {moved:?}");
}

// ---------------------------------------------------------------------------------------------
// config
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_prints_toml_with_the_database_password_redacted() {
    let dir = temp_dir();
    let env = [
        ("CC_DATABASE_URL", "postgres://u:hunter2@h/db"),
        ("CC_LISTEN", "0.0.0.0:9000"),
    ];
    let r = run(dir.path(), &env, &["config"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        !r.stdout.contains("hunter2") && !r.stderr.contains("hunter2"),
        "{r:?}"
    );
    let printed: toml::Value = toml::from_str(&r.stdout).expect("TOML");
    assert_eq!(
        printed["database_url"].as_str(),
        Some("postgres://u:***@h/db")
    );
    assert_eq!(printed["listen"].as_str(), Some("0.0.0.0:9000"));
    assert!(printed["database"]["max_connections"].is_integer());

    // A password may itself contain `@` (and other URL delimiters); none of it is printed.
    let env = [("CC_DATABASE_URL", "postgres://u:hunter2@home/x@h/db")];
    let r = run(dir.path(), &env, &["config"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        !r.stdout.contains("hunter2") && !r.stdout.contains("home/x"),
        "{r:?}"
    );
    assert!(r.stdout.contains("postgres://u:***@h/db"), "{r:?}");

    let secret = dir.path().join("db-url");
    std::fs::write(&secret, "postgres://u:hunter2@h/db\n").expect("write secret");
    let file_env = [("CC_DATABASE_URL_FILE", secret.to_str().expect("utf-8 path"))];
    let r = run(dir.path(), &file_env, &["config", "--output", "json"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(!r.stdout.contains("hunter2"), "{r:?}");
    let printed: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(printed["database_url"], "postgres://u:***@h/db");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_masks_target_credentials() {
    let dir = temp_dir();
    let file = dir.path().join("cc.toml");
    std::fs::write(
        &file,
        r#"
[[targets]]
name = "hook"
kind = "webhook"
url = "https://hook:pa55word@h.example.org/in?token=tok-123456"
secret = "whsec-abcdef"
headers = { Authorization = "Bearer abc-secret", "X-Tenant" = "district-7" }
"#,
    )
    .expect("write config");
    let path = file.to_str().expect("utf-8 path");
    let r = run(dir.path(), &[], &["--config", path, "config"]).await;
    assert_eq!(r.code, Some(0), "{r:?}");
    for secret in ["pa55word", "tok-123456", "abc-secret", "whsec-abcdef"] {
        assert!(!r.stdout.contains(secret), "{secret}: {r:?}");
    }
    assert!(r.stdout.contains("district-7"), "{r:?}");
    assert!(
        r.stdout
            .contains("https://hook:***@h.example.org/in?token=***"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_with_an_unknown_key_exits_2_naming_the_key() {
    let dir = temp_dir();
    let file = dir.path().join("cc.toml");
    std::fs::write(&file, "lisen = \"0.0.0.0:80\"\n").expect("write config");
    let path = file.to_str().expect("utf-8 path");
    let r = run(dir.path(), &[], &["--config", path, "config"]).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("lisen"), "{r:?}");

    std::fs::write(&file, "[database]\nmax_conections = 3\n").expect("write config");
    let r = run(dir.path(), &[("CC_CONFIG", path)], &["config"]).await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("max_conections"), "{r:?}");

    let r = run(
        dir.path(),
        &[("CC_HTTP_BODY_LIMIT_BYTES", "lots")],
        &["config"],
    )
    .await;
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("CC_HTTP_BODY_LIMIT_BYTES"), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// observability
// ---------------------------------------------------------------------------------------------

/// A minimal OTLP/HTTP receiver: records the body of every `POST /v1/traces`.
async fn otlp_receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().expect("bodies").push(body.to_vec());
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.expect("receiver") });
    (url, bodies)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_export_sends_request_spans_to_the_configured_collector() {
    let dir = temp_dir();
    let (collector, bodies) = otlp_receiver().await;
    let env = [
        ("CC_TELEMETRY_OTLP_ENDPOINT", collector.as_str()),
        ("CC_TELEMETRY_SERVICE_NAME", "cc-otlp-test"),
    ];
    let serve = Serve::start(dir.path(), &env, &[]).await;
    serve
        .client()
        .list_users(&[])
        .await
        .expect("a request to trace");
    let (status, _) = serve.stop().await;
    assert!(status.success());
    // Shutdown flushes the batch; the spans carry the service name and the request span.
    wait_for("spans at the collector", DEADLINE, || async {
        let got = bodies.lock().expect("bodies");
        got.iter()
            .any(|b| contains(b, b"cc-otlp-test") && contains(b, b"request"))
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_endpoint_nothing_is_exported() {
    let dir = temp_dir();
    let serve = Serve::start(dir.path(), &[("CC_LOG", "debug")], &[]).await;
    serve.client().list_users(&[]).await.expect("request");
    let (status, log) = serve.stop().await;
    assert!(status.success());
    assert!(!log.contains("exporting traces"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_never_reaches_the_log() {
    const SECRET: &str = "S3cretDbPassw0rd";
    // The test server trusts local connections, so any password is accepted.
    let db = TestDb::new(Backend::Postgres).await;
    let with_password = db.url.replacen(
        "postgres://postgres@",
        &format!("postgres://postgres:{SECRET}@"),
        1,
    );
    assert!(
        with_password.contains(SECRET),
        "test URL must carry the password: {with_password}"
    );
    let dir = temp_dir();
    let env = [
        ("CC_DATABASE_URL", with_password.as_str()),
        ("CC_LOG", "trace"),
        ("CC_LOG_FORMAT", "json"),
    ];
    let serve = Serve::start(dir.path(), &env, &["--demo"]).await;
    let client = serve.client();
    client.list_users(&[("limit", "5")]).await.expect("list");
    let _ = client.get_user(uuid::Uuid::nil()).await;
    let (status, log) = serve.stop().await;
    assert!(status.success());
    assert!(log.len() > 1000, "trace logging produced output");
    assert!(
        !log.contains(SECRET),
        "the database password leaked into the log"
    );

    // And when the connection fails, the error names the database without the password.
    let bad = format!("postgres://cc:{SECRET}@127.0.0.1:1/cc");
    let r = run(
        dir.path(),
        &[("CC_DATABASE_URL", &bad), ("CC_LOG", "trace")],
        &["serve", "--listen", "127.0.0.1:0"],
    )
    .await;
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr.contains("postgres://cc:***@127.0.0.1:1/cc"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(SECRET) && !r.stdout.contains(SECRET),
        "{r:?}"
    );
}
