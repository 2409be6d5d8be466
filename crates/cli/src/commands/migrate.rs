//! `command-center migrate up|down|status`

use std::process::ExitCode;

use anyhow::Context;

use super::{open_store, Output};
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
    #[arg(long, value_enum, default_value_t = Output::Table, global = true)]
    output: Output,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Apply every pending migration.
    Up,
    /// Revert the most recent migrations.
    Down {
        /// How many migrations to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied.
    Status,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let code = match args.action {
        Action::Up => {
            let applied = store.migrate_up().await.context("applying migrations")?;
            report(args.output, "applied", &applied);
            ExitCode::SUCCESS
        }
        Action::Down { steps } => {
            let reverted = store
                .migrate_down(steps)
                .await
                .context("reverting migrations")?;
            report(args.output, "reverted", &reverted);
            ExitCode::SUCCESS
        }
        Action::Status => {
            let status = store.migration_status().await?;
            match args.output {
                Output::Json => {
                    let list: Vec<_> = status
                        .migrations
                        .iter()
                        .map(|(v, d, a)| serde_json::json!({"version": v, "description": d, "applied": a}))
                        .collect();
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "migrations": list, "unknown_applied": status.unknown_applied, "current": status.is_current()
                        }))?
                    );
                }
                Output::Table => {
                    println!("{:<10} {:<8} DESCRIPTION", "VERSION", "STATE");
                    for (v, d, a) in &status.migrations {
                        println!("{v:<10} {:<8} {d}", if *a { "applied" } else { "pending" });
                    }
                    for v in &status.unknown_applied {
                        println!("{v:<10} {:<8} (applied by a newer binary)", "unknown");
                    }
                }
            }
            if status.is_current() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
    };
    store.close().await;
    Ok(code)
}

fn report(output: Output, verb: &str, versions: &[i64]) {
    match output {
        Output::Json => println!("{}", serde_json::json!({ verb: versions })),
        Output::Table if versions.is_empty() && verb == "applied" => {
            println!("nothing applied; the schema is current");
        }
        Output::Table if versions.is_empty() => println!("nothing {verb}: no migration is applied"),
        Output::Table => {
            for v in versions {
                println!("{verb} {v}");
            }
        }
    }
}
