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
    let mut rows = Vec::with_capacity(page.items.len());
    for user in &page.items {
        let targets = client.user_targets(user.id).await?;
        let failed: Vec<Value> = targets["links"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|l| l["status"] == "failed")
            .map(|l| json!({"target": l["target"], "error": l["last_error"]}))
            .collect();
        rows.push(json!({
            "id": user.id,
            "username": user.username,
            "status": user.status,
            "sync": targets["sync"],
            "failed_targets": failed,
        }));
    }
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
