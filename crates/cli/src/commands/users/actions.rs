//! `users provision|suspend|reset-password|deprovision|update-targets`: lifecycle operations
//! on named people, or on everyone a filter matches (`--all-matching`, after a confirmation
//! that states the count).

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use cc_client::Client;
use serde_json::{json, Value};

use super::UserFilter;
use crate::commands::resolve;
use crate::exit::{Usage, CONFLICT};
use crate::output::{note, print_json, print_list, Format, OutputArg};

#[derive(clap::Args)]
pub struct ActionArgs {
    /// People by username, external id or id.
    names: Vec<String>,
    /// Show the plan per person and target; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Everyone the filters match, as one batch (asks for confirmation, stating the count).
    #[arg(long, conflicts_with = "names")]
    all_matching: bool,
    #[command(flatten)]
    filter: UserFilter,
    /// Do not ask for confirmation (needed for --all-matching when standard input is not a
    /// terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    #[command(flatten)]
    out: OutputArg,
}

pub async fn run(client: &Client, op: &str, args: ActionArgs) -> anyhow::Result<ExitCode> {
    if args.all_matching {
        return all_matching(client, op, &args).await;
    }
    if args.names.is_empty() {
        return Err(Usage(
            "name the people (username, external id or id), or pass --all-matching with filters"
                .into(),
        )
        .into());
    }
    if !args.filter.is_empty() {
        return Err(Usage("filters select people only with --all-matching".into()).into());
    }
    let mut users = Vec::with_capacity(args.names.len());
    for name in &args.names {
        users.push(resolve::user(client, name).await?);
    }
    if args.dry_run {
        let mut plans = Vec::with_capacity(users.len());
        for u in &users {
            let (_, plan) = client
                .user_action(u.id, op, true)
                .await
                .with_context(|| format!("planning {op} for {}", u.username))?;
            plans.push(plan);
        }
        return print_plans(args.out.output, &plans);
    }
    if let [user] = users.as_slice() {
        let (_, body) = client
            .user_action(user.id, op, false)
            .await
            .with_context(|| format!("{op} {}", user.username))?;
        return print_accepted(args.out.output, op, &body);
    }
    let ids: Vec<_> = users.iter().map(|u| u.id).collect();
    let (_, body) = client.bulk_action(op, &json!({ "ids": ids })).await?;
    print_batch(args.out.output, op, &body)
}

/// Counts who the filters match (a dry run), asks, then runs the batch on exactly them.
async fn all_matching(client: &Client, op: &str, args: &ActionArgs) -> anyhow::Result<ExitCode> {
    let filter: serde_json::Map<String, Value> = args
        .filter
        .pairs()
        .into_iter()
        .map(|(k, v)| {
            let v = if k == "grade" {
                v.parse::<i64>().map_or(Value::String(v), Value::from)
            } else {
                Value::String(v)
            };
            (k.to_owned(), v)
        })
        .collect();
    let (_, preview) = client
        .bulk_action(op, &json!({ "filter": filter, "dry_run": true }))
        .await?;
    let ids: Vec<Value> = preview["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| j["user_id"].clone())
        .collect();
    let skipped = preview["skipped"].as_array().map_or(0, Vec::len);
    if args.dry_run {
        return print_batch(args.out.output, op, &preview);
    }
    if ids.is_empty() {
        note(&format!(
            "nobody to {op}: the filters match no one it applies to ({skipped} skipped)"
        ));
        return Ok(ExitCode::SUCCESS);
    }
    if !args.yes {
        confirm(&format!(
            "{op} {} {} matching the filters ({skipped} skipped)?",
            ids.len(),
            if ids.len() == 1 { "person" } else { "people" }
        ))?;
    }
    let (_, body) = client.bulk_action(op, &json!({ "ids": ids })).await?;
    print_batch(args.out.output, op, &body)
}

/// Asks on the terminal; refuses (a usage error) when standard input is not one.
fn confirm(question: &str) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        return Err(Usage(format!(
            "{question} Standard input is not a terminal to confirm on; pass --yes to go ahead"
        ))
        .into());
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(anyhow::anyhow!("not confirmed; nothing was changed"))
    }
}

fn print_plans(format: Format, plans: &[Value]) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        print_json(&plans)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = Vec::new();
    for plan in plans {
        let targets = plan["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            rows.push(json!({
                "username": plan["user"]["username"], "status": plan["user"]["status"],
                "next_status": plan["next_status"], "target": "", "changes": "(no targets configured)",
            }));
        }
        for t in targets {
            let changes: Vec<String> = t["plan"]["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(describe_change)
                .collect();
            let changes = if t["error"].is_string() {
                format!("cannot plan: {}", t["error"].as_str().unwrap_or(""))
            } else if changes.is_empty() {
                "no change".into()
            } else {
                changes.join("; ")
            };
            rows.push(json!({
                "username": plan["user"]["username"], "status": plan["user"]["status"],
                "next_status": plan["next_status"], "target": t["target"], "changes": changes,
            }));
        }
    }
    print_list(
        format,
        &rows,
        &["username", "status", "next_status", "target", "changes"],
    )?;
    Ok(ExitCode::SUCCESS)
}

fn describe_change(c: &Value) -> String {
    let kind = c["kind"].as_str().unwrap_or("change");
    match c["object"].as_str() {
        Some(o) => format!("{kind} {o}"),
        None => kind.to_owned(),
    }
}

fn print_accepted(format: Format, op: &str, body: &Value) -> anyhow::Result<ExitCode> {
    if format == Format::Json {
        print_json(body)?;
        return Ok(ExitCode::SUCCESS);
    }
    let username = body["user"]["username"].as_str().unwrap_or("?");
    println!(
        "{op} {username}: job {} {} (status now {})",
        body["id"],
        body["state"].as_str().unwrap_or(""),
        body["user"]["status"].as_str().unwrap_or("")
    );
    if let Some(pw) = body["temporary_password"].as_str() {
        println!("temporary password for {username} (shown once): {pw}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A bulk answer: the batch and its jobs, and who was skipped. Exit 4 when everyone was.
fn print_batch(format: Format, op: &str, body: &Value) -> anyhow::Result<ExitCode> {
    let jobs = body["jobs"].as_array().cloned().unwrap_or_default();
    let skipped = body["skipped"].as_array().cloned().unwrap_or_default();
    let dry_run = body["dry_run"].as_bool().unwrap_or(false);
    match format {
        Format::Json => print_json(body)?,
        _ => {
            let columns: &[&str] = if jobs.iter().any(|j| j["temporary_password"].is_string()) {
                &["username", "job_id", "temporary_password"]
            } else {
                &["username", "job_id"]
            };
            print_list(format, &jobs, columns)?;
            if dry_run {
                note(&format!(
                    "dry run: {op} would include {} and skip {}; nothing changed",
                    jobs.len(),
                    skipped.len()
                ));
            } else {
                note(&format!(
                    "{op}: batch {} with {} jobs (follow it: command-center jobs watch --batch {})",
                    body["batch_id"].as_str().unwrap_or("?"),
                    jobs.len(),
                    body["batch_id"].as_str().unwrap_or("?")
                ));
            }
            for s in &skipped {
                note(&format!(
                    "skipped {}: {}",
                    s["user_id"].as_str().unwrap_or("?"),
                    s["reason"].as_str().unwrap_or("")
                ));
            }
        }
    }
    if !dry_run && jobs.is_empty() && !skipped.is_empty() {
        return Ok(ExitCode::from(CONFLICT));
    }
    Ok(ExitCode::SUCCESS)
}
