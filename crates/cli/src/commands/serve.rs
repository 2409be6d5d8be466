//! `command-center serve`

use std::process::ExitCode;

use anyhow::Context;
use cc_api::{AppState, Server};

use super::open_store_with;
use crate::config::Config;

/// How often each lifecycle target is checked (readiness detail, `cc_target_up`).
const TARGET_CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

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
    let store = open_store_with(&cfg, &cfg.server_pool()).await?;
    if cfg.migrate_on_start && !args.no_migrate {
        let applied = store.migrate_up().await.context("applying migrations")?;
        if !applied.is_empty() {
            tracing::info!(?applied, "applied migrations");
        }
    } else if !store.migration_status().await?.is_current() {
        tracing::warn!("the database schema is not current; /health/ready will fail until `command-center migrate up`");
    }
    let demo_loaded = args.demo && load_demo(&store).await?;
    let state = AppState::try_new(store.clone(), cfg.api()).context("invalid security settings")?;
    let engine = cfg.lifecycle_engine(store.clone(), state.auth.clone())?;
    if !engine.targets().is_empty() {
        let names: Vec<&str> = engine.targets().iter().map(|t| t.name()).collect();
        tracing::info!(targets = ?names, "lifecycle targets configured");
    }
    if demo_loaded {
        provision_demo(&store, &engine).await?;
    }
    let stop_target_checks = tokio_util::sync::CancellationToken::new();
    // The first check runs now: a target that cannot bind, read its base or offer the
    // attributes its configuration uses is a start-up warning, not a silent failure later.
    engine.spawn_health_monitor(TARGET_CHECK_INTERVAL, stop_target_checks.clone());
    let notifier = cfg.notifier(store.clone())?;
    if notifier.is_enabled() {
        let channels: Vec<String> = notifier.channels().into_iter().map(|(n, _)| n).collect();
        tracing::info!(?channels, "notification channels configured");
    }
    let mut state = state
        .with_lifecycle(engine.clone(), cfg.lifecycle.policy())
        .with_field_owners(cfg.directory.field_owners.clone())
        .with_notifier(notifier.clone());
    // The Cloudflare token is verified now and then every few minutes; readiness and
    // `command-center check` show the last result without calling Cloudflare.
    let cloudflare = cfg.cloudflare_health()?;
    if let Some(health) = &cloudflare {
        health.spawn_monitor(
            cc_lifecycle::cloudflare::TOKEN_CHECK_INTERVAL,
            stop_target_checks.clone(),
        );
        state = state.with_cloudflare(health.clone());
    }
    if store.migration_status().await?.is_current() {
        state
            .auth
            .load_keys()
            .await
            .context("loading the access-token signing keys")?;
        if !state.auth.keys_protected() {
            tracing::warn!(
                "the access-token signing key is generated and stored in the database in clear: \
                 anyone who can read the database or a backup of it can sign tokens. Set \
                 CC_MASTER_KEY_FILE (a file with `id:secret`, openssl rand -base64 48) to seal \
                 it, or configure CC_AUTH_SIGNING_KEYS_FILE; see docs/security.md"
            );
        }
        bootstrap(&state, &cfg).await?;
    } else {
        tracing::warn!("not creating the first operator until the schema is current");
    }
    let stop_sweeper = spawn_lockout_sweeper(state.auth.clone());
    let stop_metrics = serve_metrics_separately(&cfg, &state).await?;
    let tls = cfg.tls_files();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let app = cc_console::app(state.clone());
    let mut server = Server::bind_app(&cfg.listen, state, app)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    if let Some(files) = tls {
        cc_api::tls::load(&files)
            .await
            .context("cannot use the TLS certificate and key")?;
        server = server.with_tls(files);
    }
    let addr = server.local_addr()?;
    let banner = format!(
        "Command Center {} listening on {scheme}://{addr} ({})",
        env!("CARGO_PKG_VERSION"),
        cc_store::redact_url(&cfg.database_url),
    );
    if crate::telemetry::json_only(&cfg) {
        // One JSON object, like every other line: scripts still find "listening on".
        println!(
            "{}",
            serde_json::json!({
                "message": banner,
                "addr": addr.to_string(),
                "console": format!("{scheme}://{addr}/"),
                "docs": format!("{scheme}://{addr}/docs"),
                "readiness": format!("{scheme}://{addr}/health/ready"),
            })
        );
    } else {
        println!(
            "{banner}\n  Console:   {scheme}://{addr}/\n  API docs:  {scheme}://{addr}/docs\n  Readiness: {scheme}://{addr}/health/ready"
        );
    }
    tracing::info!(%addr, backend = store.backend().as_str(), "serving");
    let token = tokio_util::sync::CancellationToken::new();
    let workers = if args.no_workers {
        None
    } else {
        let rc = super::worker::runtime_config(&cfg, &super::worker::Args::default());
        let cloudflare = cloudflare.as_ref().map(|h| {
            cc_lifecycle::cloudflare::CloudflareJobs::new(h.service().clone(), store.clone())
                .with_notifier(std::sync::Arc::new(notifier.certificate_alerts()))
        });
        let backups = cfg.backup_watch(&notifier);
        let worker = cc_queue::Worker::new(
            store.clone(),
            super::worker::registry(&engine, cloudflare.as_ref(), &notifier, backups.as_ref()),
            rc,
        );
        super::worker::spawn_feed(&notifier, token.clone());
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
    stop_sweeper.cancel();
    stop_metrics.cancel();
    stop_target_checks.cancel();
    if let Some(w) = workers {
        if let Ok(Err(e)) = w.await {
            tracing::error!(error = %e, "job workers failed");
        }
    }
    tracing::info!("shutting down: closing the database pool");
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

/// Loads the demo data when the directory is empty; answers whether it did.
async fn load_demo(store: &std::sync::Arc<dyn cc_store::Store>) -> anyhow::Result<bool> {
    let empty = store
        .list_users(&cc_domain::UserQuery {
            limit: 1,
            ..Default::default()
        })
        .await?
        .items
        .is_empty();
    if !empty {
        tracing::info!("directory is not empty; demo data not loaded again");
        return Ok(false);
    }
    let report = cc_service::seed::demo(&cc_service::Directory::new(store.clone())).await?;
    tracing::info!(created = report.created, "loaded demo data");
    Ok(true)
}

/// Requests accounts for the freshly loaded demo people on the configured targets, through
/// the ordinary lifecycle jobs. Without targets nobody can have an account, so everyone stays
/// `pending`.
async fn provision_demo(
    store: &std::sync::Arc<dyn cc_store::Store>,
    engine: &cc_lifecycle::Engine,
) -> anyhow::Result<()> {
    if engine.targets().is_empty() {
        tracing::info!(
            "no lifecycle targets configured: the demo people stay pending (configure a target, \
             e.g. examples/targets/script-bash.toml, to see them provisioned)"
        );
        return Ok(());
    }
    let requested = cc_service::seed::provision_demo(&cc_service::Directory::new(store.clone()))
        .await
        .context("requesting accounts for the demo people")?;
    tracing::info!(
        provisioned = requested.provisioned,
        batch_id = requested.batch_id.map(|b| b.to_string()),
        "requested accounts for the demo people on the configured targets"
    );
    Ok(())
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

/// Creates the first operator, `admin`, when there is none: with the configured password, or
/// with a generated one printed once on standard output (never to the log).
async fn bootstrap(state: &AppState, cfg: &Config) -> anyhow::Result<()> {
    let configured = Some(cfg.bootstrap_admin_password.as_str()).filter(|p| !p.is_empty());
    match state.auth.bootstrap_admin(configured).await {
        Ok(cc_service::auth::Bootstrap::NotNeeded) => {}
        Ok(cc_service::auth::Bootstrap::Configured) => {
            tracing::info!(
                "created the first operator `admin` with the configured bootstrap password"
            );
        }
        Ok(cc_service::auth::Bootstrap::Generated(password)) => {
            tracing::warn!("created the first operator `admin` with a generated password, shown once on standard output");
            println!(
                "\n==============================================================================\n\
                 First start: created the operator `admin` with this one-time password:\n\n    {password}\n\n\
                 It is shown only now and stored only as a hash. Log in as `admin`, then create\n\
                 named operators, or set your own password with\n\
                 `command-center operator reset-password --username admin`.\n\
                 To choose it up front, set CC_BOOTSTRAP_ADMIN_PASSWORD_FILE (or _PASSWORD).\n\
                 ==============================================================================\n"
            );
        }
        Err(cc_service::ServiceError::Validation(v)) => {
            let why = v.0.first().map_or_else(String::new, |e| e.message.clone());
            anyhow::bail!("bootstrap_admin_password (CC_BOOTSTRAP_ADMIN_PASSWORD) is not acceptable: it {why}");
        }
        Err(e) => return Err(e).context("creating the first operator"),
    }
    Ok(())
}

/// Ends expired login locks (auditing each end) and forgets stale login throttle rows every
/// 30 seconds, until cancelled.
fn spawn_lockout_sweeper(auth: cc_service::Auth) -> tokio_util::sync::CancellationToken {
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(30)) => {}
            }
            if let Err(e) = auth.end_expired_lockouts().await {
                tracing::warn!(error = %e, "could not end expired login locks");
            }
            if let Err(e) = auth.prune_throttles().await {
                tracing::warn!(error = %e, "could not prune stale login throttle rows");
            }
        }
    });
    stop
}

/// Serves `/metrics` on `metrics.listen` when set (the API listener then does not serve it).
async fn serve_metrics_separately(
    cfg: &Config,
    state: &AppState,
) -> anyhow::Result<tokio_util::sync::CancellationToken> {
    let stop = tokio_util::sync::CancellationToken::new();
    if cfg.metrics.listen.is_empty() {
        return Ok(stop);
    }
    let listener = tokio::net::TcpListener::bind(&cfg.metrics.listen)
        .await
        .with_context(|| format!("cannot listen on {} (metrics.listen)", cfg.metrics.listen))?;
    let addr = listener.local_addr()?;
    let app = cc_api::metrics_router(state.clone());
    let token = stop.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the metrics listener failed");
        }
    });
    if crate::telemetry::json_only(cfg) {
        println!(
            "{}",
            serde_json::json!({ "message": "serving metrics", "metrics": format!("http://{addr}/metrics") })
        );
    } else {
        println!("  Metrics:   http://{addr}/metrics");
    }
    tracing::info!(%addr, "serving metrics on a separate address");
    Ok(stop)
}
