//! `command-center bench api`: list and create throughput against an in-process server, with
//! a bare endpoint (no middleware, no database) on the same machine as the ceiling.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use cc_api::{AppState, Server};

use super::load::{self, MakeRequest, Measurement};
use crate::commands::Output;
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds measured per scenario (after a 2-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Users in the directory before measuring.
    #[arg(long, default_value_t = 2_000)]
    users: usize,
    /// Database to measure; default: a fresh SQLite file in a temporary directory. A PostgreSQL
    /// URL must name an empty, disposable database.
    #[arg(long)]
    bench_database_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let url = args
        .bench_database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let mut pool = cfg.pool();
    pool.max_connections = pool.max_connections.max(16);
    let store = cc_store::connect(&url, &pool)
        .await
        .context("opening the benchmark database")?;
    store.migrate_up().await?;
    let backend = store.backend().as_str();
    eprintln!(
        "bench api: {backend}, {} connections, {} s per scenario, {} users",
        args.connections, args.seconds, args.users
    );

    let dirsvc = cc_service::Directory::new(store.clone());
    let actor = cc_domain::Actor::system("bench");
    for i in 0..args.users {
        dirsvc
            .create_user(&actor, bench_user(&format!("seed{i:07}")))
            .await?;
    }

    // The benchmark measures throughput, not the rate limits; requests carry an API token, so
    // authentication is part of what is measured.
    let mut api = cfg.api();
    api.rate_limit.enabled = false;
    let state = AppState::new(store.clone(), api);
    let token = bench_token(&state.auth).await?;
    let server = Server::bind("127.0.0.1:0", state).await?;
    let base = format!("http://{}", server.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(server.run(async move { s.cancelled().await }));

    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_base = format!("http://{}", bare.local_addr()?);
    let bare_app = axum::Router::new().route("/", get(|| async { "ok" }));
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(bare, bare_app)
            .with_graceful_shutdown(async move { s.cancelled().await })
            .await;
    });

    let warmup = Duration::from_secs(2);
    let duration = Duration::from_secs(args.seconds);
    let mut results: Vec<Measurement> = Vec::new();

    let b = bare_base.clone();
    let ceiling: MakeRequest = Arc::new(move |c, _, _| c.get(format!("{b}/")));
    results.push(
        load::run(
            "ceiling: bare GET /",
            args.connections,
            warmup,
            duration,
            ceiling,
        )
        .await,
    );

    let b = base.clone();
    let live: MakeRequest = Arc::new(move |c, _, _| c.get(format!("{b}/health/live")));
    results.push(load::run("GET /health/live", args.connections, warmup, duration, live).await);

    let b = base.clone();
    let t = token.clone();
    let list: MakeRequest =
        Arc::new(move |c, _, _| c.get(format!("{b}/api/v1/users?limit=50")).bearer_auth(&t));
    results.push(
        load::run(
            "GET /api/v1/users?limit=50",
            args.connections,
            warmup,
            duration,
            list,
        )
        .await,
    );

    let b = base.clone();
    let t = token.clone();
    let create: MakeRequest = Arc::new(move |c, conn, n| {
        c.post(format!("{b}/api/v1/users"))
            .bearer_auth(&t)
            .json(&bench_user(&format!("b{conn:03}x{n:09}")))
    });
    results.push(
        load::run(
            "POST /api/v1/users",
            args.connections,
            warmup,
            duration,
            create,
        )
        .await,
    );

    stop.cancel();
    store.close().await;

    let ceiling_rps = results[0].rps;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "backend": backend, "connections": args.connections, "results": results
            }))?
        ),
        Output::Table => {
            println!(
                "{:<30} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>8}",
                "scenario", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms", "ceiling"
            );
            for r in &results {
                println!(
                    "{:<30} {:>9} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7.0}%",
                    r.scenario,
                    r.requests,
                    r.errors,
                    r.rps,
                    r.p50_ms,
                    r.p99_ms,
                    r.max_ms,
                    100.0 * r.rps / ceiling_rps
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn bench_user(username: &str) -> cc_domain::NewUser {
    cc_domain::NewUser {
        external_id: Some(format!("B-{username}")),
        username: username.to_owned(),
        given_name: "Bench".into(),
        family_name: format!("User {username}"),
        email: Some(format!("{username}@bench.example.org")),
        role: cc_domain::Role::Student,
        grade: Some(10),
        school: Some("bench-hs".into()),
        status: None,
        groups: vec![],
    }
}

/// An operator-role API token for the benchmark's requests, created by a `bench` admin.
async fn bench_token(auth: &cc_service::Auth) -> anyhow::Result<String> {
    let actor = cc_domain::Actor::system("bench");
    let admin = auth
        .create_operator(
            &actor,
            cc_domain::NewOperator {
                username: "bench".into(),
                password: cc_auth::secret::random_b64(24),
                role: cc_domain::OperatorRole::Admin,
            },
        )
        .await?;
    let principal = cc_service::Principal {
        name: "operator:bench".into(),
        operator_id: admin.id,
        username: admin.username,
        role: admin.role,
        kind: cc_service::auth::PrincipalKind::Session {
            session_id: uuid::Uuid::nil(),
        },
    };
    let token = auth
        .create_api_token(
            &principal,
            cc_domain::NewApiToken {
                name: "bench".into(),
                role: cc_domain::OperatorRole::Operator,
                expires_in_days: Some(1),
            },
            None,
        )
        .await?;
    Ok(token.secret)
}
