//! `command-center audit verify`

use std::process::ExitCode;

use super::{open_store, require_current_schema, Output};
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Check the hash chain and report the first tampered or missing event. Exits 1 when broken.
    Verify {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let Action::Verify { output } = args.action;
    let store = open_store(cfg).await?;
    require_current_schema(store.as_ref()).await?;
    let report = cc_service::verify_chain(store.as_ref()).await?;
    store.close().await;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => match &report.first_break {
            None => println!(
                "audit chain intact: {} events verified (head {})",
                report.checked, report.head_seq
            ),
            Some(b) => println!(
                "audit chain BROKEN at event {} ({}): {}\n{} events verified before the break",
                b.seq, b.kind, b.detail, report.checked
            ),
        },
    }
    Ok(if report.first_break.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
