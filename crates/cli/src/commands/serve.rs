//! `command-center serve`

use std::process::ExitCode;

use anyhow::Context;
use cc_api::{AppState, Server};

use super::open_store;
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// Load the demo data set into an empty directory.
    #[arg(long)]
    demo: bool,
    /// Address to bind (overrides `listen` / CC_LISTEN).
    #[arg(long)]
    listen: Option<String>,
    /// Do not apply pending migrations at start (readiness reports them instead).
    #[arg(long)]
    no_migrate: bool,
    /// Serve the API only; run no job workers in this process.
    #[arg(long)]
    no_workers: bool,
}

pub async fn run(mut cfg: Config, args: Args) -> anyhow::Result<ExitCode> {
    if let Some(listen) = args.listen {
        cfg.listen = listen;
    }
    let _telemetry = crate::telemetry::init(&cfg);
    let store = open_store(&cfg).await?;
    if cfg.migrate_on_start && !args.no_migrate {
        let applied = store.migrate_up().await.context("applying migrations")?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    } else if !store.migration_status().await?.is_current() {
        tracing::warn!("the database schema is not current; /health/ready will fail until `command-center migrate up`");
    }
    if args.demo {
        let empty = store
            .list_users(&cc_domain::UserQuery {
                limit: 1,
                ..Default::default()
            })
            .await?
            .items
            .is_empty();
        if empty {
            let report = cc_service::seed::demo(&cc_service::Directory::new(store.clone())).await?;
            tracing::info!(created = report.created, "loaded demo data");
        } else {
            tracing::info!("directory is not empty; demo data not loaded again");
        }
    }
    let state = AppState::new(store.clone(), cfg.api());
    let server = Server::bind(&cfg.listen, state)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = server.local_addr()?;
    println!(
        "Command Center {} listening on http://{addr} ({})\n  API docs:  http://{addr}/docs\n  Readiness: http://{addr}/health/ready",
        env!("CARGO_PKG_VERSION"),
        cc_store::redact_url(&cfg.database_url),
    );
    tracing::info!(%addr, backend = store.backend().as_str(), "serving");
    let token = tokio_util::sync::CancellationToken::new();
    let workers = if args.no_workers {
        None
    } else {
        let rc = super::worker::runtime_config(&cfg, &super::worker::Args::default());
        let worker = cc_queue::Worker::new(store.clone(), super::worker::registry(), rc);
        tracing::info!(
            worker_id = worker.id(),
            "running job workers in this process"
        );
        Some(tokio::spawn(worker.run(token.clone())))
    };
    let stop = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.cancel();
    });
    server.run(async move { token.cancelled().await }).await?;
    if let Some(w) = workers {
        if let Ok(Err(e)) = w.await {
            tracing::error!(error = %e, "job workers failed");
        }
    }
    tracing::info!("shutting down: closing the database pool");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown signal received; draining in-flight requests");
}
