//! `command-center worker`: run job workers only (no HTTP server).

use anyhow::Context;
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
    /// Serve `/health/live`, `/health/ready` and `/metrics` on this address (for container
    /// health checks and Prometheus). Off by default so a worker can run beside `serve`.
    #[arg(long, env = "CC_WORKER_LISTEN")]
    pub listen: Option<String>,
}

/// The runtime configuration for a worker started with `args`.
#[must_use]
pub fn runtime_config(cfg: &Config, args: &Args) -> QueueConfig {
    let mut rc = cfg.queue.runtime();
    let days = |d: u64| std::time::Duration::from_secs(d.saturating_mul(24 * 3600));
    rc.upload_retention = days(cfg.import.retention_days);
    rc.failed_upload_retention = days(cfg.import.failed_retention_days);
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
    if cfg.backups.is_configured() {
        let kind = cc_notify::backups::CHECK_KIND;
        if !rc.cron.iter().any(|c| c.kind == kind) {
            rc.cron.push(cc_queue::CronEntry {
                name: "backup-check".into(),
                schedule: cc_notify::backups::CHECK_SCHEDULE.into(),
                kind: kind.into(),
                args: serde_json::json!({}),
                queue: cc_domain::job::DEFAULT_QUEUE.into(),
            });
        }
    }
    if let Some(cf) = &cfg.cloudflare {
        let kind = cc_lifecycle::cloudflare::CERTIFICATES_KIND;
        if !rc.cron.iter().any(|c| c.kind == kind) {
            rc.cron.push(cc_queue::CronEntry {
                name: "cloudflare-certificates".into(),
                schedule: cf.certificate_schedule.clone(),
                kind: kind.into(),
                args: serde_json::json!({}),
                queue: cc_domain::job::DEFAULT_QUEUE.into(),
            });
        }
    }
    rc
}

/// The kinds this binary can run: the built-in `system.*` kinds, the `lifecycle.*` kinds
/// on `engine`'s targets, the `notify.*` kinds (always: events are enqueued only when a
/// channel wants them, but jobs queued before a channel was removed must still end), the
/// `cloudflare.*` kinds when `[cloudflare]` is configured, and `backup.check` when
/// `[backups]` is.
#[must_use]
pub fn registry(
    engine: &cc_lifecycle::Engine,
    cloudflare: Option<&cc_lifecycle::cloudflare::CloudflareJobs>,
    notifier: &cc_notify::Notifier,
    backups: Option<&cc_notify::BackupWatch>,
) -> Registry {
    let mut r = Registry::with_builtins();
    engine.register(&mut r);
    notifier.register(&mut r);
    if let Some(c) = cloudflare {
        c.register(&mut r);
    }
    if let Some(b) = backups {
        b.register(&mut r);
    }
    r
}

/// How often the notifications feed reads the event log.
const FEED_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs the notifications feed (discarded jobs, import outcomes, targets failing and
/// recovering) until `stop`, when channels are configured.
pub fn spawn_feed(notifier: &cc_notify::Notifier, stop: CancellationToken) {
    if notifier.is_enabled() {
        let n = notifier.clone();
        tokio::spawn(async move { n.run_feed(FEED_INTERVAL, stop).await });
    }
}

pub async fn run(cfg: Config, args: Args) -> anyhow::Result<ExitCode> {
    let _telemetry = crate::telemetry::init(&cfg);
    let rc = runtime_config(&cfg, &args);
    rc.validate().map_err(anyhow::Error::msg)?;
    let store = open_store(&cfg).await?;
    require_current_schema(store.as_ref()).await?;
    let auth = cc_service::Auth::new(store.clone(), cfg.auth_settings())
        .context("invalid security settings")?;
    let engine = cfg.lifecycle_engine(store.clone(), auth)?;
    let token = CancellationToken::new();
    if args.listen.is_some() {
        // The recorder first, then the worker (which creates its series at 0), then the
        // listener: the first scrape sees every series.
        cc_api::metrics_handle();
    }
    let cloudflare = cfg.cloudflare_jobs(store.clone()).await?;
    let notifier = cfg.notifier(store.clone())?;
    let backups = cfg.backup_watch(&notifier);
    let mut worker = Worker::new(
        store.clone(),
        registry(&engine, cloudflare.as_ref(), &notifier, backups.as_ref()),
        rc,
    );
    spawn_feed(&notifier, token.clone());
    if let Some(id) = args.id {
        worker = worker.with_id(id);
    }
    if let Some(addr) = &args.listen {
        let state = cc_api::AppState::try_new(store.clone(), cfg.api())
            .context("invalid security settings")?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let probes = listener.local_addr()?;
        if crate::telemetry::json_only(&cfg) {
            println!(
                "{}",
                serde_json::json!({ "message": format!("Probes and metrics: http://{probes}"), "addr": probes.to_string() })
            );
        } else {
            println!("  Probes and metrics: http://{probes}");
        }
        tracing::info!(addr = %probes, "serving probes and metrics");
        let app = cc_api::probe_router(state);
        let stop = token.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "the probe listener failed");
            }
        });
    }
    if !crate::telemetry::json_only(&cfg) {
        println!("Command Center worker {} started", worker.id());
    }
    let signal = token.clone();
    tokio::spawn(async move {
        super::serve::shutdown_signal().await;
        signal.cancel();
    });
    worker.run(token).await.map_err(anyhow::Error::msg)?;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
