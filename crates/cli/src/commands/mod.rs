//! Subcommands.

pub mod audit;
pub mod bench;
pub mod check;
pub mod cloudflare;
pub mod demo;
pub mod devices;
pub mod groups;
pub mod health;
pub mod import;
pub mod imports;
pub mod jobs;
pub mod listing;
pub mod migrate;
pub mod notifications;
pub mod operator;
pub mod policies;
pub mod remote;
pub mod resolve;
pub mod roster;
pub mod serve;
pub mod sync;
pub mod token;
pub mod users;
pub mod worker;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use cc_store::Store;

use crate::config::Config;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

/// Opens the configured store (without migrating), with a clear message when it fails.
pub async fn open_store(cfg: &Config) -> anyhow::Result<Arc<dyn Store>> {
    open_store_with(cfg, &cfg.pool()).await
}

/// [`open_store`] with these pool settings.
pub async fn open_store_with(
    cfg: &Config,
    pool: &cc_store::PoolConfig,
) -> anyhow::Result<Arc<dyn Store>> {
    cc_store::connect(&cfg.database_url, pool)
        .await
        .with_context(|| {
            format!(
                "cannot open the database at {}",
                cc_store::redact_url(&cfg.database_url)
            )
        })
}

/// Fails unless the schema is current, pointing at `migrate up`.
pub async fn require_current_schema(store: &dyn Store) -> anyhow::Result<()> {
    let status = store.migration_status().await?;
    if !status.is_current() {
        anyhow::bail!(
            "the database schema is not current ({} pending migrations); run `command-center migrate up`",
            status.pending()
        );
    }
    Ok(())
}

pub async fn seed(cfg: &Config, args: &OutputArgs) -> anyhow::Result<ExitCode> {
    let _telemetry = crate::telemetry::init(cfg);
    let store = open_store(cfg).await?;
    store.migrate_up().await.context("applying migrations")?;
    let report = cc_service::seed::demo(&cc_service::Directory::new(store.clone())).await?;
    store.close().await;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        Output::Table => println!(
            "demo data: {} created, {} already present",
            report.created, report.existing
        ),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn print_config(cfg: &Config, args: &OutputArgs) -> anyhow::Result<ExitCode> {
    let redacted = cfg.redacted();
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&redacted)?),
        Output::Table => print!("{}", toml::to_string_pretty(&redacted)?),
    }
    Ok(ExitCode::SUCCESS)
}
