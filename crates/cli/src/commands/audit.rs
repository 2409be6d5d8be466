//! `command-center audit list|verify`. `list` reads the trail through a server. `verify`
//! checks the hash chain in the database (`CC_DATABASE_URL`), or through a server when given
//! `--url` on the command line: `CC_URL` alone does not switch it, so a check on the server's
//! own machine keeps reading the database it names.

use std::process::ExitCode;

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use super::{open_store, require_current_schema, Output};
use crate::config::Config;
use crate::output::OutputArg;

const COLUMNS: &[&str] = &[
    "seq",
    "occurred_at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "request_id",
];

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List audit events through a server, newest first.
    List {
        #[command(flatten)]
        remote: RemoteArgs,
        /// e.g. operator:admin
        #[arg(long)]
        actor: Option<String>,
        /// e.g. user.create
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        target_type: Option<String>,
        #[arg(long)]
        target_id: Option<String>,
        #[arg(long)]
        request_id: Option<String>,
        /// RFC 3339 time, e.g. 2026-11-01T00:00:00Z
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Check the hash chain and report the first tampered or missing event. Exits 1 when
    /// broken. Reads the database, or asks the server at --url.
    Verify {
        /// Ask this server instead of reading the database.
        #[arg(long)]
        url: Option<String>,
        /// An access token or API token for --url.
        #[arg(long, env = "CC_TOKEN", hide_env_values = true)]
        token: Option<String>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    match args.action {
        Action::List {
            remote,
            actor,
            action,
            target_type,
            target_id,
            request_id,
            since,
            until,
            limit,
            out,
        } => {
            let client = remote.authed_client()?;
            let mut q: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [
                ("actor", &actor),
                ("action", &action),
                ("target_type", &target_type),
                ("target_id", &target_id),
                ("request_id", &request_id),
                ("since", &since),
                ("until", &until),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            listing::list(&client, "/audit", &q, limit, out.output, COLUMNS).await
        }
        Action::Verify {
            url: Some(url),
            token,
            output,
        } => {
            let remote = RemoteArgs {
                url,
                token,
                timeout: 300,
            };
            let report = remote.authed_client()?.verify_audit().await?;
            print_report(&report, output)
        }
        Action::Verify {
            url: None, output, ..
        } => {
            let store = open_store(cfg).await?;
            require_current_schema(store.as_ref()).await?;
            let report = cc_service::verify_chain_notifying(
                store.as_ref(),
                &cfg.notifications.0.subscriptions(),
            )
            .await?;
            store.close().await;
            print_report(&serde_json::to_value(report)?, output)
        }
    }
}

/// Prints a verification report (the database's or the server's: the same fields).
fn print_report(report: &serde_json::Value, output: Output) -> anyhow::Result<ExitCode> {
    let broken = &report["first_break"];
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(report)?),
        Output::Table if broken.is_null() => println!(
            "audit chain intact: {} events verified (head {})",
            report["checked"], report["head_seq"]
        ),
        Output::Table => println!(
            "audit chain BROKEN at event {} ({}): {}\n{} events verified before the break",
            broken["seq"],
            broken["kind"].as_str().unwrap_or(""),
            broken["detail"].as_str().unwrap_or(""),
            report["checked"]
        ),
    }
    Ok(if broken.is_null() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
