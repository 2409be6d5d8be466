//! `command-center sync`: people whose targets have not caught up with the directory, through
//! a running server (`--url` / `CC_URL`, `--token` / `CC_TOKEN`).

use std::process::ExitCode;

use cc_domain::SyncState;
use serde_json::{json, Value};

use super::remote::RemoteArgs;
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
    /// Which people: `failed` (a target's last operation failed), `pending` (a lifecycle job
    /// unfinished) or `in_sync`.
    #[arg(long, value_parser = parse_state, default_value = "failed")]
    state: SyncState,
    /// At most this many people (1-500).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

fn parse_state(s: &str) -> Result<SyncState, String> {
    SyncState::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| format!("expected in_sync, pending or failed, not `{s}`"))
}

/// Lists the people in the state, each with the targets whose last operation failed.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    let limit = args.limit.to_string();
    let page = client
        .list_users(&[("sync", args.state.as_str()), ("limit", &limit)])
        .await?;
    // Each person in the page carries their sync state and per-target detail.
    let rows: Vec<Value> = page
        .items
        .iter()
        .map(|user| {
            let failed: Vec<Value> = user
                .sync
                .iter()
                .flat_map(|s| &s.targets)
                .filter(|t| t.state == SyncState::Failed)
                .map(|t| json!({"target": t.target, "error": t.error}))
                .collect();
            json!({
                "id": user.id,
                "username": user.username,
                "status": user.status,
                "sync": user.sync.as_ref().map(|s| s.state),
                "failed_targets": failed,
            })
        })
        .collect();
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Table => {
            println!(
                "{:<24} {:<14} {:<8} FAILED TARGETS",
                "USERNAME", "STATUS", "SYNC"
            );
            for r in &rows {
                let failed: Vec<String> = r["failed_targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        format!(
                            "{}: {}",
                            f["target"].as_str().unwrap_or("?"),
                            f["error"].as_str().unwrap_or("")
                        )
                    })
                    .collect();
                println!(
                    "{:<24} {:<14} {:<8} {}",
                    r["username"].as_str().unwrap_or(""),
                    r["status"].as_str().unwrap_or(""),
                    r["sync"].as_str().unwrap_or(""),
                    failed.join("; ")
                );
            }
            if page.next_cursor.is_some() {
                println!("(more: raise --limit, or use GET /api/v1/users?sync=…)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
