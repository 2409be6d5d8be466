//! The operator CLI against a live server, on both backends: every command group, JSON output
//! parsed back, CSV, exit codes (0 ok, 1 error, 2 usage, 3 not found, 4 conflict), the bulk
//! confirmation, and `jobs watch` ending when its batch finishes.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

#[allow(dead_code)]
#[path = "lifecycle/harness.rs"]
mod harness;

use cc_domain::UserStatus;
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::queue::command_center_bin;
use cc_tests::{backend_tests, Backend, TestApp};
use harness::{bash_target, create, Harness};
use serde_json::Value;
use tokio::process::Command;

const DEADLINE: Duration = Duration::from_secs(60);

/// The binary pointed at one server with one token, in a clean environment.
struct Cli {
    url: String,
    token: String,
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Cli {
    async fn for_app(app: &TestApp) -> Self {
        Self {
            url: app.base_url.clone(),
            token: app.api_token(cc_domain::OperatorRole::Admin).await,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(command_center_bin());
        cmd.env_clear()
            .env("CC_URL", &self.url)
            .env("CC_TOKEN", &self.token)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        let out = tokio::time::timeout(DEADLINE, self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("`{}` did not finish", args.join(" ")))
            .expect("run command-center");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs a command that must exit 0; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args).await;
        assert_eq!(r.code, Some(0), "`{}`: {r:?}", args.join(" "));
        r.stdout
    }

    /// Runs a command with `-o json` that must exit 0; its output parsed.
    async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Runs a command that must fail with `code`; its standard error.
    async fn fails(&self, code: i32, args: &[&str]) -> String {
        let r = self.run(args).await;
        assert_eq!(r.code, Some(code), "`{}`: {r:?}", args.join(" "));
        r.stderr
    }
}

fn usernames(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .map(|u| u["username"].as_str().unwrap_or_default().to_owned())
        .collect()
}

async fn people_are_listed_shown_created_changed_and_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cli = Cli::for_app(&app).await;
    for name in ["amy", "bob", "cyd", "dee", "eve"] {
        app.client
            .create_user(&cc_tests::student(name))
            .await
            .unwrap();
    }

    // create, then get by username, external id and id: JSON parsed back.
    let ada = cli
        .json(&[
            "users",
            "create",
            "ada",
            "--given-name",
            "Ada",
            "--family-name",
            "Lovelace",
            "--grade",
            "9",
            "--school",
            "lincoln-hs",
            "--external-id",
            "SIS-4242",
        ])
        .await;
    assert_eq!(ada["status"], "pending");
    let id = ada["id"].as_str().unwrap().to_owned();
    for name in ["ada", "SIS-4242", id.as_str()] {
        assert_eq!(
            cli.json(&["users", "get", name]).await["id"],
            ada["id"],
            "{name}"
        );
    }

    // Lists page through the API transparently: two at a time, all of them.
    let all = cli
        .json(&[
            "users",
            "list",
            "--school",
            "lincoln-hs",
            "--limit",
            "0",
            "--page-size",
            "2",
        ])
        .await;
    assert_eq!(usernames(&all), ["ada", "amy", "bob", "cyd", "dee", "eve"]);
    // --limit cuts the list and says so.
    let r = cli
        .run(&[
            "users",
            "list",
            "--limit",
            "3",
            "--page-size",
            "2",
            "-o",
            "json",
        ])
        .await;
    assert_eq!(r.code, Some(0), "{r:?}");
    let cut: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(usernames(&cut), ["ada", "amy", "bob"]);
    assert!(r.stderr.contains("raise --limit"), "{}", r.stderr);
    // Filters are the API's.
    let found = cli.json(&["users", "list", "--query", "lovelace"]).await;
    assert_eq!(usernames(&found), ["ada"]);

    // CSV: a header and one row per person.
    let csv = cli.ok(&["users", "list", "-o", "csv"]).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "username,given_name,family_name,role,grade,school,status,external_id"
    );
    assert_eq!(
        lines[1],
        "ada,Ada,Lovelace,student,9,lincoln-hs,pending,SIS-4242"
    );
    assert_eq!(lines.len(), 7);

    // A table: aligned columns, no colour when not on a terminal.
    let table = cli.ok(&["users", "list"]).await;
    let head = table.lines().next().unwrap();
    assert!(head.starts_with("USERNAME  GIVEN NAME"), "{table}");
    let status_at = head.find("STATUS").unwrap();
    for line in table.lines().skip(1) {
        assert!(line[status_at..].starts_with("pending"), "{table}");
    }
    assert!(!table.contains('\u{1b}'), "{table}");

    // update; a stale version is a conflict (4); an unknown field a usage error (2).
    let updated = cli
        .json(&["users", "update", "ada", "--set", "grade=10"])
        .await;
    assert_eq!(updated["grade"], 10);
    let err = cli
        .fails(
            4,
            &[
                "users",
                "update",
                "ada",
                "--set",
                "grade=11",
                "--if-version",
                "1",
            ],
        )
        .await;
    assert!(err.contains("request id:"), "{err}");
    let err = cli
        .fails(2, &["users", "update", "ada", "--set", "shoe_size=44"])
        .await;
    assert!(err.contains("shoe_size"), "{err}");

    // A duplicate is a conflict, told with the problem's code and request id.
    let err = cli
        .fails(
            4,
            &[
                "users",
                "create",
                "ada",
                "--given-name",
                "A",
                "--family-name",
                "B",
                "--grade",
                "9",
            ],
        )
        .await;
    assert!(
        err.contains("code: ") && err.contains("request id: "),
        "{err}"
    );

    // Not found (3), usage (2), and a missing token (1).
    let err = cli.fails(3, &["users", "get", "nobody"]).await;
    assert!(err.contains("no person `nobody`"), "{err}");
    cli.fails(2, &["users", "list", "--role", "wizard"]).await;
    cli.fails(2, &["users", "frobnicate"]).await;
    let anonymous = Cli {
        url: cli.url.clone(),
        token: String::new(),
    };
    let err = anonymous.fails(1, &["users", "list"]).await;
    assert!(err.contains("CC_TOKEN"), "{err}");

    // delete
    assert!(cli
        .ok(&["users", "delete", "ada"])
        .await
        .contains("deleted ada"));
    cli.fails(3, &["users", "get", "ada"]).await;
    app.stop().await;
}

async fn lifecycle_actions_confirmation_and_jobs_watch(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::start(
        backend,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let cli = Cli::for_app(&h.app).await;
    for name in ["ada", "bob", "cyd"] {
        create(h.client(), name, None).await;
    }

    // A dry run shows the plan per target and changes nothing.
    let plans = cli.json(&["users", "provision", "ada", "--dry-run"]).await;
    assert_eq!(plans[0]["targets"][0]["target"], "bash-demo");
    assert_eq!(plans[0]["next_status"], "active");
    let plan_table = cli
        .ok(&["users", "provision", "ada", "bob", "--dry-run"])
        .await;
    assert!(
        plan_table.contains("bash-demo") && plan_table.contains("bob"),
        "{plan_table}"
    );
    assert_eq!(
        cli.json(&["users", "get", "ada"]).await["status"],
        "pending"
    );

    // One person: the job, and the temporary password shown once.
    let out = cli.ok(&["users", "provision", "ada"]).await;
    assert!(out.contains("provision ada: job"), "{out}");
    assert!(out.contains("temporary password for ada"), "{out}");
    // An operation the status forbids is a conflict: bob is still pending.
    cli.fails(4, &["users", "suspend", "bob"]).await;

    // --all-matching states the count and refuses without a terminal or --yes.
    let err = cli
        .fails(
            2,
            &[
                "users",
                "provision",
                "--all-matching",
                "--school",
                "lincoln-hs",
                "--status",
                "pending",
            ],
        )
        .await;
    assert!(
        err.contains("provision 2 people") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(
        cli.json(&["users", "get", "bob"]).await["status"],
        "pending"
    );
    cli.fails(2, &["users", "provision", "bob", "--school", "lincoln-hs"])
        .await;
    cli.fails(2, &["users", "provision"]).await;

    let accepted = cli
        .json(&[
            "users",
            "provision",
            "--all-matching",
            "--school",
            "lincoln-hs",
            "--status",
            "pending",
            "--yes",
        ])
        .await;
    assert_eq!(accepted["enqueued"], 2);
    let batch = accepted["batch_id"].as_str().unwrap().to_owned();

    // `jobs watch --batch` started before any worker: it follows the stream and ends (0)
    // once the worker has finished every job of the batch.
    let watch = cli
        .command(&["jobs", "watch", "--batch", &batch])
        .spawn()
        .expect("start jobs watch");
    h.start_worker();
    let out = tokio::time::timeout(DEADLINE, watch.wait_with_output())
        .await
        .expect("jobs watch ends when the batch finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("batch {batch} finished: 2 jobs (2 completed)")),
        "{stdout}"
    );
    assert!(stdout.contains("lifecycle.provision"), "{stdout}");
    // A finished batch ends the watch at once.
    let again = cli.json(&["jobs", "watch", "--batch", &batch]).await;
    assert_eq!(again["finished"], true);

    // jobs list / get / retry / cancel.
    let jobs = cli.json(&["jobs", "list", "--batch", &batch]).await;
    assert_eq!(jobs.as_array().unwrap().len(), 2);
    assert!(jobs
        .as_array()
        .unwrap()
        .iter()
        .all(|j| j["state"] == "completed"));
    let job_id = jobs[0]["id"].to_string();
    let detail = cli.json(&["jobs", "get", &job_id]).await;
    assert!(detail["history"].as_array().unwrap().len() >= 2, "{detail}");
    let table = cli.ok(&["jobs", "get", &job_id]).await;
    assert!(table.contains("completed"), "{table}");
    cli.fails(4, &["jobs", "retry", &job_id]).await;
    let unchanged = cli.json(&["jobs", "cancel", &job_id]).await;
    assert_eq!(unchanged["state"], "completed");
    cli.fails(3, &["jobs", "get", "999999"]).await;
    let csv = cli
        .ok(&["jobs", "list", "-o", "csv", "--state", "completed"])
        .await;
    assert!(csv.starts_with("id,kind,state,"), "{csv}");
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // Several names: one batch; reset-password shows each password once.
    let reset = cli.json(&["users", "reset-password", "ada", "bob"]).await;
    assert_eq!(reset["enqueued"], 2);
    assert!(
        reset["jobs"][0]["temporary_password"].is_string(),
        "{reset}"
    );
    let batch = reset["batch_id"].as_str().unwrap().to_owned();
    cli.ok(&["jobs", "watch", "--batch", &batch]).await;
    let suspended = cli.ok(&["users", "suspend", "cyd"]).await;
    assert!(suspended.contains("suspend cyd"), "{suspended}");
    harness::finished(
        h.client(),
        h.client()
            .list_jobs(&[("kind", "lifecycle.suspend")])
            .await
            .unwrap()
            .items[0]
            .id,
    )
    .await;
    assert_eq!(
        h.client()
            .list_users(&[("status", "suspended")])
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let statuses: Vec<UserStatus> = h
        .client()
        .list_users(&[])
        .await
        .unwrap()
        .items
        .iter()
        .map(|u| u.status)
        .collect();
    assert_eq!(
        statuses,
        [
            UserStatus::Active,
            UserStatus::Active,
            UserStatus::Suspended
        ]
    );
    h.stop().await;
}

fn roster_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../roster/tests/fixtures")
        .join(name)
}

async fn groups_devices_policies_audit_and_imports(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cli = Cli::for_app(&app).await;
    app.client
        .create_user(&cc_tests::student("ada"))
        .await
        .unwrap();

    // Groups and members.
    let g = cli
        .json(&[
            "groups",
            "create",
            "robotics",
            "--kind",
            "class",
            "--school",
            "lincoln-hs",
        ])
        .await;
    assert_eq!(g["kind"], "class");
    cli.ok(&["groups", "add-member", "robotics", "ada"]).await;
    let members = cli.json(&["groups", "members", "robotics"]).await;
    assert_eq!(usernames(&members), ["ada"]);
    assert_eq!(
        cli.json(&["groups", "get", "robotics"]).await["member_count"],
        1
    );
    let groups = cli.json(&["groups", "list", "--kind", "class"]).await;
    assert_eq!(groups.as_array().unwrap().len(), 1);
    cli.ok(&["groups", "remove-member", "robotics", "ada"])
        .await;
    cli.ok(&[
        "groups",
        "update",
        "robotics",
        "--set",
        "description=After school",
    ])
    .await;
    assert_eq!(
        cli.json(&["groups", "get", "robotics"]).await["description"],
        "After school"
    );
    cli.ok(&["groups", "delete", "robotics"]).await;
    cli.fails(3, &["groups", "get", "robotics"]).await;

    // Policies, and a device with its compliance and the rule it fails.
    cli.json(&[
        "policies",
        "create",
        "disk-encryption",
        "--category",
        "security",
        "--severity",
        "high",
        "--rule",
        r#"{"fact":"disk_encryption","op":"eq","value":true}"#,
        "--remediation",
        "Turn on BitLocker",
    ])
    .await;
    cli.fails(
        2,
        &[
            "policies",
            "create",
            "x",
            "--category",
            "security",
            "--rule",
            "{oops",
        ],
    )
    .await;
    let policies = cli.json(&["policies", "list"]).await;
    assert_eq!(policies[0]["name"], "disk-encryption");
    cli.json(&[
        "devices",
        "create",
        "c02xk1jhjg5h",
        "--platform",
        "windows",
        "--name",
        "LAB-07",
        "--assigned-to",
        "ada",
        "--fact",
        "disk_encryption=false",
    ])
    .await;
    let d = cli.json(&["devices", "get", "C02XK1JHJG5H"]).await;
    assert_eq!(d["compliance"], "noncompliant");
    assert_eq!(d["failing"], serde_json::json!(["disk-encryption"]));
    assert_eq!(d["failing_rules"][0]["remediation"], "Turn on BitLocker");
    let listed = cli
        .json(&[
            "devices",
            "list",
            "--assigned-to",
            "ada",
            "--compliance",
            "noncompliant",
        ])
        .await;
    assert_eq!(listed[0]["failing"][0], "disk-encryption");
    let table = cli.ok(&["devices", "list"]).await;
    assert!(
        table.contains("FAILING") && table.contains("disk-encryption"),
        "{table}"
    );
    cli.ok(&[
        "devices",
        "update",
        "LAB-07",
        "--set",
        r#"facts={"disk_encryption":true}"#,
    ])
    .await;
    let d = cli.json(&["devices", "get", "LAB-07"]).await;
    assert_eq!(d["compliance"], "compliant");
    assert_eq!(d["failing"], serde_json::json!([]));
    cli.ok(&[
        "policies",
        "update",
        "disk-encryption",
        "--set",
        "enabled=false",
    ])
    .await;
    cli.ok(&["devices", "delete", "LAB-07"]).await;
    cli.ok(&["policies", "delete", "disk-encryption"]).await;
    cli.fails(3, &["policies", "get", "disk-encryption"]).await;

    // The audit trail over the API; verify through the server.
    let events = cli
        .json(&["audit", "list", "--action", "group.create"])
        .await;
    assert_eq!(events.as_array().unwrap().len(), 1, "{events}");
    let all = cli
        .ok(&["audit", "list", "-o", "csv", "--limit", "0"])
        .await;
    assert!(all.starts_with("seq,occurred_at,actor,action"), "{all}");
    let verify = cli.ok(&["audit", "verify", "--url", &cli.url]).await;
    assert!(verify.starts_with("audit chain intact"), "{verify}");

    // Import runs and their row errors.
    let (_, run) = app
        .client
        .upload_import(
            "bad.csv",
            std::fs::read(roster_fixture("csv/malformed.csv")).unwrap(),
            &[],
        )
        .await
        .unwrap();
    let id = run.id.to_string();
    let runs = cli.json(&["imports", "list"]).await;
    assert_eq!(runs[0]["id"], id.as_str());
    assert_eq!(cli.json(&["imports", "get", &id]).await["error_count"], 9);
    let errors = cli.json(&["imports", "errors", &id]).await;
    assert_eq!(errors.as_array().unwrap().len(), 9);
    assert_eq!(errors[0]["field"], "email");
    // (`jobs watch --import` on a preview waits for its apply: tests/cli_watch_import.rs.)
    let csv = cli.ok(&["imports", "errors", &id, "-o", "csv"]).await;
    assert!(csv.starts_with("file,line,field,message"), "{csv}");
    cli.fails(3, &["imports", "get", &uuid::Uuid::nil().to_string()])
        .await;
    app.stop().await;
}

/// On a terminal `--all-matching` asks, stating the count: "n" changes nothing (exit 1), "y"
/// runs the batch. `script` (util-linux) gives the command a terminal.
async fn the_bulk_confirmation_asks_on_a_terminal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cli = Cli::for_app(&app).await;
    for name in ["amy", "bob"] {
        app.client
            .create_user(&cc_tests::student(name))
            .await
            .unwrap();
    }
    let on_terminal = |answer: &'static str| {
        let line = format!(
            "{} users provision --all-matching --school lincoln-hs",
            command_center_bin().display()
        );
        let mut cmd = Command::new("script");
        cmd.env_clear()
            .env("CC_URL", &cli.url)
            .env("CC_TOKEN", &cli.token)
            .env("NO_COLOR", "1")
            .args(["-qec", &line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        async move {
            let mut child = cmd
                .spawn()
                .expect("script (util-linux) runs the command on a terminal");
            let mut stdin = child.stdin.take().unwrap();
            tokio::io::AsyncWriteExt::write_all(&mut stdin, answer.as_bytes())
                .await
                .unwrap();
            let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
                .await
                .expect("the confirmation is answered")
                .unwrap();
            drop(stdin);
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        }
    };
    let (code, screen) = on_terminal("n\n").await;
    assert!(
        screen.contains("provision 2 people matching the filters"),
        "{screen}"
    );
    assert!(screen.contains("not confirmed"), "{screen}");
    assert_eq!(code, Some(1), "{screen}");
    let pending = app
        .client
        .list_users(&[("status", "pending")])
        .await
        .unwrap();
    assert_eq!(pending.items.len(), 2);

    let (code, screen) = on_terminal("y\n").await;
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("with 2 jobs"), "{screen}");
    let active = app
        .client
        .list_users(&[("status", "active")])
        .await
        .unwrap();
    assert_eq!(active.items.len(), 2);
    app.stop().await;
}

backend_tests!(
    the_bulk_confirmation_asks_on_a_terminal,
    people_are_listed_shown_created_changed_and_deleted,
    lifecycle_actions_confirmation_and_jobs_watch,
    groups_devices_policies_audit_and_imports,
);

/// The man pages and completions cover the new commands.
#[tokio::test]
async fn man_pages_and_completions_cover_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let cli = Cli {
        url: "http://127.0.0.1:9".into(),
        token: String::new(),
    };
    cli.ok(&["man", "--dir", dir.path().to_str().unwrap()])
        .await;
    for page in [
        "command-center.1",
        "command-center-users.1",
        "command-center-users-reset-password.1",
        "command-center-jobs-watch.1",
        "command-center-notifications-test.1",
        "command-center-notifications-deliveries.1",
    ] {
        assert!(dir.path().join(page).exists(), "{page} missing");
    }
    let main = cli.ok(&["man"]).await;
    assert!(main.starts_with(".ie") || main.contains(".TH"), "{main}");
    let bash = cli.ok(&["completions", "bash"]).await;
    for word in [
        "users",
        "update-targets",
        "all-matching",
        "watch",
        "imports",
        "notifications",
        "deliveries",
    ] {
        assert!(bash.contains(word), "{word} missing from the completions");
    }
}
