//! `command-center worker`: run job workers only (no HTTP server).

use std::process::ExitCode;

use cc_queue::{QueueConfig, QueueSpec, Registry, Worker};
use tokio_util::sync::CancellationToken;

use super::{open_store, require_current_schema};
use crate::config::Config;

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Queues to serve, comma-separated (default: every queue in the configuration).
    #[arg(long, value_delimiter = ',')]
    pub queues: Vec<String>,
    /// Jobs each queue may run at once in this process (overrides the configuration).
    #[arg(long)]
    pub concurrency: Option<u32>,
    /// This worker's id (default: `<host>-<pid>-<random>`).
    #[arg(long)]
    pub id: Option<String>,
}

/// The runtime configuration for a worker started with `args`.
#[must_use]
pub fn runtime_config(cfg: &Config, args: &Args) -> QueueConfig {
    let mut rc = cfg.queue.runtime();
    if !args.queues.is_empty() {
        rc.queues = args
            .queues
            .iter()
            .map(|name| QueueSpec {
                name: name.clone(),
                concurrency: cfg.queue.queues.get(name).map_or(20, |l| l.concurrency),
            })
            .collect();
    }
    if let Some(n) = args.concurrency {
        for q in &mut rc.queues {
            q.concurrency = n;
        }
    }
    rc
}

/// The kinds this binary can run.
#[must_use]
pub fn registry() -> Registry {
    Registry::with_builtins()
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<ExitCode> {
    let _telemetry = crate::telemetry::init(&cfg);
    let rc = runtime_config(&cfg, &args);
    rc.validate().map_err(anyhow::Error::msg)?;
    let store = open_store(&cfg).await?;
    require_current_schema(store.as_ref()).await?;
    let mut worker = Worker::new(store.clone(), registry(), rc);
    if let Some(id) = args.id {
        worker = worker.with_id(id);
    }
    println!("Command Center worker {} started", worker.id());
    let token = CancellationToken::new();
    let signal = token.clone();
    tokio::spawn(async move {
        super::serve::shutdown_signal().await;
        signal.cancel();
    });
    worker.run(token).await.map_err(anyhow::Error::msg)?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
