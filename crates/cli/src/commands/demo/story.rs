//! The story the demo tells, step by step. Every step goes through the HTTP API (so it works
//! the same against a running server) and says what to look at.

use std::path::{Path, PathBuf};

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

use super::instance::Layout;
use super::show::{shell_quote, Call, Narrator};

/// What differs between the embedded instance and a running server.
pub struct Setting {
    /// The embedded instance's folders (accounts, offline switch); none for `--url`.
    local: Option<LocalSetting>,
    /// The roster file as the printed commands name it.
    roster_path: String,
    /// `--database-url …` for the commands that work on the database directly.
    db_flag: String,
    /// Appended to the names the story creates, so it can be told twice on one server.
    suffix: String,
}

struct LocalSetting {
    accounts: PathBuf,
    offline_switch: PathBuf,
}

impl Setting {
    pub fn embedded(layout: &Layout) -> Self {
        let roster = layout.dir.join(super::ROSTER_NAME);
        Self {
            local: Some(LocalSetting {
                accounts: layout.accounts.clone(),
                offline_switch: layout.offline_switch.clone(),
            }),
            roster_path: roster.display().to_string(),
            db_flag: format!(
                " --database-url {}",
                shell_quote(&format!("sqlite://{}", layout.database.display()))
            ),
            suffix: String::new(),
        }
    }

    pub fn remote() -> Self {
        Self {
            local: None,
            roster_path: format!("examples/rosters/{}", super::ROSTER_NAME),
            db_flag: String::new(),
            suffix: format!("-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]),
        }
    }
}

/// The student who moves, resets a password and leaves in the story.
const STUDENT: &str = "ada.lovelace";

/// Tells the whole story.
pub async fn tell(n: &mut Narrator, s: &Setting) -> anyhow::Result<()> {
    if let Some(local) = &s.local {
        std::fs::write(&s.roster_path, super::ROSTER)
            .with_context(|| format!("cannot write {}", s.roster_path))?;
        let _ = &local.accounts;
    } else {
        refuse_foreign_directory(n).await?;
    }
    let run = preview(n, s).await?;
    apply(n, s, &run).await?;
    let student = find_student(n).await?;
    move_school(n, s, &student).await?;
    device_policy(n, s, &student).await?;
    reset_password(n, s, &student).await?;
    failed_job(n, s, &student).await?;
    audit(n, s).await?;
    where_to_look(n, s);
    Ok(())
}

/// A roster import is a complete list: importing the sample into a directory of other
/// people would suspend them all. Against a running server, the story only runs on a
/// directory that holds nobody, or only the sample's people.
async fn refuse_foreign_directory(n: &Narrator) -> anyhow::Result<()> {
    let page = n.quiet(Call::get("/api/v1/users?limit=500")).await?;
    let known: Vec<&str> = super::ROSTER
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(1))
        .collect();
    let foreign = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|u| u["username"].as_str())
        .find(|u| !known.contains(u));
    if let Some(name) = foreign {
        anyhow::bail!(
            "the server already holds people who are not in the demo roster (e.g. {name}); \
             the demo imports a complete roster, which would suspend them. Run it against an \
             empty server, or without --url for an embedded one"
        );
    }
    Ok(())
}

async fn preview(n: &mut Narrator, s: &Setting) -> anyhow::Result<Value> {
    n.step("Import a roster export and preview it").await;
    n.say(
        "Every night the student information system exports who is enrolled where. Command\n\
         Center reads the export and first shows the plan: who would be created, moved,\n\
         suspended. Nothing changes yet.\n",
    );
    let name = super::ROSTER_NAME;
    let call = Call::post(format!("/api/v1/imports?file_name={name}&dry_run=true"))
        .file(&s.roster_path, super::ROSTER.as_bytes().to_vec())
        .cli(format!(
            "command-center{} import {} --dry-run",
            s.db_flag,
            shell_quote(&s.roster_path)
        ));
    let run = n.call(call).await?;
    let run = finished_import(n, run).await?;
    n.show(&format!(
        "import {}: {} ({} rows)\nplan: {}",
        run["id"].as_str().unwrap_or("?"),
        run["status"].as_str().unwrap_or("?"),
        run["counts"]["rows"],
        nonzero_counts(&run["counts"]),
    ));
    anyhow::ensure!(
        run["status"] == "planned",
        "the preview was not planned: {}",
        run["refusals"]
    );
    Ok(run)
}

async fn apply(n: &mut Narrator, s: &Setting, run: &Value) -> anyhow::Result<()> {
    n.step("Apply the plan: people are provisioned").await;
    n.say(
        "The operator agrees with the plan and applies it. The people, their groups, the audit\n\
         events and one provision job per new person are written in one transaction; job\n\
         workers then create each account on the targets.\n",
    );
    let id = run["id"].as_str().unwrap_or_default();
    let call = Call::post(format!("/api/v1/imports/{id}/apply")).cli(format!(
        "command-center{} import {} --yes",
        s.db_flag,
        shell_quote(&s.roster_path)
    ));
    let applied = finished_import(n, n.call(call).await?).await?;
    n.show(&format!(
        "import {id}: {}, {} lifecycle jobs",
        applied["status"].as_str().unwrap_or("?"),
        applied["counts"]["lifecycle_jobs"]
    ));
    anyhow::ensure!(applied["status"] == "applied", "the import was not applied");
    let call = Call::get("/api/v1/jobs?kind=lifecycle.provision&limit=100")
        .cli("command-center jobs list --kind lifecycle.provision");
    n.call(call).await?;
    let jobs = wait_all(n, "lifecycle.provision").await?;
    n.show(&format!("provision jobs: {}", state_counts(&jobs)));
    if let Some(local) = &s.local {
        n.say("\nThe demo target now holds one account file per person:\n");
        n.shell(&format!(
            "ls {}",
            shell_quote(&local.accounts.display().to_string())
        ));
        n.show(&list_accounts(&local.accounts)?.join("\n"));
        let file = local.accounts.join(format!("{STUDENT}.json"));
        n.shell(&format!("cat {}", shell_quote(&file.display().to_string())));
        n.show(&pretty_file(&file)?);
    }
    Ok(())
}

async fn find_student(n: &Narrator) -> anyhow::Result<Value> {
    let page = n
        .quiet(Call::get(format!("/api/v1/users?q={STUDENT}")))
        .await?;
    page["items"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == STUDENT))
        .cloned()
        .with_context(|| format!("{STUDENT} is not in the directory"))
}

async fn move_school(n: &mut Narrator, s: &Setting, student: &Value) -> anyhow::Result<()> {
    n.step("A student moves school").await;
    let to = if student["school"] == "roosevelt-hs" {
        "lincoln-hs"
    } else {
        "roosevelt-hs"
    };
    n.say(&format!(
        "{STUDENT} moves from {} to {to}. The edit enqueues an update job in the same\n\
         transaction; the target's account follows.\n",
        student["school"].as_str().unwrap_or("no school"),
    ));
    let id = student["id"].as_str().unwrap_or_default();
    let call = Call::new(Method::PATCH, format!("/api/v1/users/{id}"))
        .json(json!({ "school": to }))
        .cli(format!(
            "command-center users update {STUDENT} --set school={to}"
        ));
    let user = n.call(call).await?;
    n.show(&format!(
        "{STUDENT}: school {}",
        user["school"].as_str().unwrap_or("?")
    ));
    let job = newest_job(n, "lifecycle.update").await?;
    let job = n.wait_job(job).await?;
    show_job(n, &job);
    show_account(n, s, &["school", "enabled"])?;
    Ok(())
}

async fn device_policy(n: &mut Narrator, s: &Setting, student: &Value) -> anyhow::Result<()> {
    n.step("A device fails a policy").await;
    n.say(
        "The district requires disk encryption on every laptop. A policy is a rule over the\n\
         facts a device reports; a device that breaks an enabled policy is noncompliant.\n",
    );
    let policy = format!("disk-encryption{}", s.suffix);
    let call = Call::post("/api/v1/policies").json(json!({
        "name": policy, "category": "security", "severity": "high",
        "rule": {"fact": "disk_encryption", "op": "eq", "value": true},
        "remediation": "Turn on disk encryption and check in again."
    }));
    n.call(call).await?;
    let serial = format!("DEMO-CB-0001{}", s.suffix.to_uppercase());
    let call = Call::post("/api/v1/devices").json(json!({
        "serial_number": serial, "name": "LHS-CB-0001", "platform": "chromeos",
        "assigned_user_id": student["id"],
        "facts": {"os_version": "120.0", "disk_encryption": false}
    }));
    let device = n.call(call).await?;
    let id = device["id"].as_str().unwrap_or_default().to_owned();
    let call = Call::get(format!("/api/v1/devices/{id}"))
        .cli(format!("command-center devices get {serial}"));
    let device = n.call(call).await?;
    n.show(&format!(
        "device {serial}: {}",
        device["compliance"].as_str().unwrap_or("?")
    ));
    anyhow::ensure!(
        device["compliance"] == "noncompliant",
        "the device should fail the policy"
    );
    n.say("\nThe student turns encryption on; the next check-in re-evaluates the device:\n");
    let call = Call::new(Method::PATCH, format!("/api/v1/devices/{id}"))
        .json(json!({"facts": {"os_version": "120.0", "disk_encryption": true}}));
    let device = n.call(call).await?;
    n.show(&format!(
        "device {serial}: {}",
        device["compliance"].as_str().unwrap_or("?")
    ));
    let call = Call::get("/api/v1/devices?compliance=noncompliant")
        .cli("command-center devices list --compliance noncompliant");
    let page = n.call(call).await?;
    n.show(&format!(
        "noncompliant devices: {}",
        page["items"].as_array().map_or(0, Vec::len)
    ));
    Ok(())
}

async fn reset_password(n: &mut Narrator, s: &Setting, student: &Value) -> anyhow::Result<()> {
    n.step("A password reset, shown once").await;
    n.say(
        "The student forgot the password. A reset generates a temporary password, shows it in\n\
         this one answer and never again: the job carries it sealed, the target stores what it\n\
         stores (here a hash), and neither the log nor the audit trail ever holds it.\n",
    );
    let id = student["id"].as_str().unwrap_or_default();
    let call = Call::post(format!("/api/v1/users/{id}/actions/reset-password"))
        .cli(format!("command-center users reset-password {STUDENT}"));
    let accepted = n.call(call).await?;
    match accepted["temporary_password"].as_str() {
        Some(password) => n.show(&format!(
            "temporary password (hand it over now): {password}"
        )),
        None => n.show("no temporary password: no configured target keeps passwords"),
    }
    let job = n.wait_job(job_id(&accepted)?).await?;
    show_job(n, &job);
    show_account(n, s, &["password_sha256"])?;
    Ok(())
}

async fn failed_job(n: &mut Narrator, s: &Setting, student: &Value) -> anyhow::Result<()> {
    n.step("A job fails, and is retried").await;
    let Some(local) = &s.local else {
        n.say(
            "This step switches the embedded demo target off, which a running server does not\n\
             have; skipped. A failed job is retried the same way: fix the cause, then\n\
             `POST /api/v1/jobs/{id}/retry` (command-center jobs retry ID).",
        );
        return Ok(());
    };
    n.say(
        "Targets fail: a domain controller reboots, a script breaks. Here the demo target is\n\
         switched off on purpose, and the student leaves the school, which suspends the\n\
         account.\n",
    );
    let switch = local.offline_switch.display().to_string();
    n.shell(&format!("touch {}", shell_quote(&switch)));
    std::fs::write(&local.offline_switch, b"")?;
    let id = student["id"].as_str().unwrap_or_default();
    let call = Call::post(format!("/api/v1/users/{id}/actions/suspend"))
        .cli(format!("command-center users suspend {STUDENT}"));
    let accepted = n.call(call).await?;
    let job_id = job_id(&accepted)?;
    let job = n.wait_job(job_id).await?;
    n.say("\nThe job failed and was set aside as a dead letter, with the target's error:\n");
    let call = Call::get(format!("/api/v1/jobs/{job_id}"))
        .cli(format!("command-center jobs get {job_id}"));
    n.call(call).await?;
    show_job(n, &job);
    anyhow::ensure!(
        job["state"] == "discarded",
        "the job should have failed while the target was off"
    );
    n.say("\nThe cause is fixed (the target is back), and the job is retried:\n");
    n.shell(&format!("rm {}", shell_quote(&switch)));
    std::fs::remove_file(&local.offline_switch)?;
    let call = Call::post(format!("/api/v1/jobs/{job_id}/retry"))
        .cli(format!("command-center jobs retry {job_id}"));
    n.call(call).await?;
    let job = n.wait_job(job_id).await?;
    show_job(n, &job);
    anyhow::ensure!(
        job["state"] == "completed",
        "the retried job did not complete"
    );
    show_account(n, s, &["enabled"])?;
    Ok(())
}

async fn audit(n: &mut Narrator, s: &Setting) -> anyhow::Result<()> {
    n.step("The audit trail, verified").await;
    n.say(
        "Every change above wrote an audit event in its own transaction, chained by hashes:\n\
         editing or deleting an event in the database breaks the chain, and verification says\n\
         where.\n",
    );
    let call = Call::get("/api/v1/audit?limit=5").cli("command-center audit list --limit 5");
    let page = n.call(call).await?;
    let lines: Vec<String> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            format!(
                "#{} {} {} by {}",
                e["seq"],
                e["action"].as_str().unwrap_or("?"),
                e["target_type"].as_str().unwrap_or("?"),
                e["actor"].as_str().unwrap_or("?")
            )
        })
        .collect();
    n.show(&lines.join("\n"));
    let call =
        Call::get("/api/v1/audit/verify").cli(format!("command-center{} audit verify", s.db_flag));
    let verdict = n.call(call).await?;
    anyhow::ensure!(
        verdict["intact"] == true,
        "the audit chain is broken: {verdict}"
    );
    n.show(&format!(
        "audit trail intact: {} events checked",
        verdict["checked"]
    ));
    Ok(())
}

fn where_to_look(n: &Narrator, s: &Setting) {
    let url = n.client().base_url();
    n.say(&format!(
        "\n== Where to look ==\n\n\
         Console (log in as admin):  {url}/\n\
         API documentation:          {url}/docs\n\
         Prometheus metrics:         {url}/metrics\n\
         Readiness:                  {url}/health/ready\n\
         A deployment's self-check:  command-center check --url {url}\n\
         Guides: README.md, docs/api.md, docs/lifecycle.md, docs/operations.md, and the\n\
         student labs in docs/labs/."
    ));
    if let Some(local) = &s.local {
        n.say(&format!(
            "Accounts on the demo target:  {}",
            local.accounts.display()
        ));
    }
    n.say("\nThe demo is complete.");
}

/// Waits for an import run that answered 202 to finish its phase.
async fn finished_import(n: &Narrator, mut run: Value) -> anyhow::Result<Value> {
    let id = run["id"].as_str().unwrap_or_default().to_owned();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while matches!(run["status"].as_str(), Some("planning" | "applying")) {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "import {id} is still {} after 2 minutes",
            run["status"]
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        run = n.quiet(Call::get(format!("/api/v1/imports/{id}"))).await?;
    }
    Ok(run)
}

/// Waits until no job of `kind` (among the newest 100) is still to run; answers them.
async fn wait_all(n: &Narrator, kind: &str) -> anyhow::Result<Vec<Value>> {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let page = n
            .quiet(Call::get(format!("/api/v1/jobs?kind={kind}&limit=100")))
            .await?;
        let jobs = page["items"].as_array().cloned().unwrap_or_default();
        let ended = |j: &Value| {
            matches!(
                j["state"].as_str(),
                Some("completed" | "cancelled" | "discarded")
            )
        };
        if jobs.iter().all(ended) {
            return Ok(jobs);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{kind} jobs are still running after 2 minutes: {}",
            state_counts(&jobs)
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

async fn newest_job(n: &Narrator, kind: &str) -> anyhow::Result<i64> {
    let page = n
        .quiet(Call::get(format!("/api/v1/jobs?kind={kind}&limit=1")))
        .await?;
    page["items"][0]["id"]
        .as_i64()
        .with_context(|| format!("no {kind} job was enqueued"))
}

fn job_id(accepted: &Value) -> anyhow::Result<i64> {
    accepted["id"]
        .as_i64()
        .context("the answer carries no job id")
}

fn show_job(n: &Narrator, job: &Value) {
    let outcome = job["result"]["targets"]
        .as_array()
        .or_else(|| job["progress"]["targets"].as_array())
        .into_iter()
        .flatten()
        .map(|t| {
            let mut s = format!(
                "{}: {}",
                t["target"].as_str().unwrap_or("?"),
                t["status"].as_str().unwrap_or("?")
            );
            if let Some(e) = t["error"].as_str() {
                s.push_str(&format!(" ({e})"));
            }
            s
        })
        .collect::<Vec<_>>()
        .join(", ");
    n.show(&format!(
        "job {} {}: {} after {} attempt(s){}",
        job["id"],
        job["kind"].as_str().unwrap_or("?"),
        job["state"].as_str().unwrap_or("?"),
        job["attempt"],
        if outcome.is_empty() {
            String::new()
        } else {
            format!(" [{outcome}]")
        }
    ));
}

/// Shows these fields of the student's account file on the demo target.
fn show_account(n: &Narrator, s: &Setting, fields: &[&str]) -> anyhow::Result<()> {
    let Some(local) = &s.local else {
        return Ok(());
    };
    let file = local.accounts.join(format!("{STUDENT}.json"));
    let filter = fields.join(", ");
    n.shell(&format!(
        "jq -c '{{{filter}}}' {}",
        shell_quote(&file.display().to_string())
    ));
    let account: Value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    let picked: serde_json::Map<String, Value> = fields
        .iter()
        .map(|f| ((*f).to_owned(), account[*f].clone()))
        .collect();
    n.show(&Value::Object(picked).to_string());
    Ok(())
}

fn list_accounts(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

fn pretty_file(file: &Path) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(file)?)?;
    Ok(serde_json::to_string_pretty(&v)?)
}

fn nonzero_counts(counts: &Value) -> String {
    counts
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| *k != "rows" && v.as_i64().is_some_and(|n| n != 0))
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn state_counts(jobs: &[Value]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for j in jobs {
        *counts
            .entry(j["state"].as_str().unwrap_or("?"))
            .or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
