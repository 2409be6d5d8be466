//! `command-center bench import`: a synthetic OneRoster 1.2 export of `--rows` people, applied
//! into an empty directory, then previewed (dry run) against the directory that apply left —
//! a directory of the same size — with 2% of the students moved. Reports the median, min and
//! max wall time of each, and the peak resident memory (VmHWM, reset before each run).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use cc_roster::generate::{generate, GenOptions};
use cc_roster::{FormatChoice, Input, Overrides};
use cc_service::imports::{self, ImportOptions, Progress};
use serde::Serialize;

use crate::commands::Output;
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    /// People in the export (and in the directory the dry run compares with).
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Measured runs of each scenario.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A PostgreSQL URL naming an empty, disposable database (it is wiped between runs);
    /// default: fresh SQLite files in a temporary directory.
    #[arg(long)]
    bench_database_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Debug, Serialize)]
struct Scenario {
    name: &'static str,
    backend: String,
    rows: u64,
    runs: Vec<f64>,
    median_s: f64,
    min_s: f64,
    max_s: f64,
    peak_rss_mb: f64,
    counts: serde_json::Value,
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Resets the peak-RSS watermark (Linux: writing 5 to clear_refs).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn summarize(name: &'static str, backend: &str, rows: u64, mut runs: Vec<f64>, peak: f64, counts: serde_json::Value) -> Scenario {
    let shown = runs.clone();
    runs.sort_by(f64::total_cmp);
    let median = runs.get(runs.len() / 2).copied().unwrap_or(0.0);
    Scenario {
        name,
        backend: backend.to_owned(),
        rows,
        median_s: median,
        min_s: runs.first().copied().unwrap_or(0.0),
        max_s: runs.last().copied().unwrap_or(0.0),
        runs: shown,
        peak_rss_mb: peak,
        counts,
    }
}

async fn wipe_postgres(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query("TRUNCATE group_members, users, groups, audit_events, import_files, import_runs CASCADE")
        .execute(&mut conn)
        .await?;
    sqlx::query("UPDATE audit_head SET seq = 0, hash = $1 WHERE id = 1")
        .bind(cc_domain::audit::GENESIS_HASH)
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}

#[allow(clippy::too_many_lines)]
pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let base = dir.path().join("base");
    let drift = dir.path().join("drift");
    eprintln!("bench import: generating {} people (OneRoster 1.2)…", args.rows);
    let gen = GenOptions { rows: args.rows, seed: args.seed, ..GenOptions::default() };
    let (b, d) = (base.clone(), drift.clone());
    tokio::task::spawn_blocking(move || {
        generate(&gen, &b)?;
        generate(&GenOptions { drift_percent: 2, ..gen }, &d)
    })
    .await??;
    let mut settings = cfg.import.settings();
    settings.limits.max_rows = settings.limits.max_rows.max(args.rows + 1);
    let actor = cc_domain::Actor::system("bench");
    let backend = if args.bench_database_url.is_some() { "postgres" } else { "sqlite" };

    let read = |path: std::path::PathBuf| {
        let limits = settings.limits;
        tokio::task::spawn_blocking(move || imports::read(&Input::Path(path), FormatChoice::Auto, limits, &Progress::default()))
    };

    // Apply into an empty directory.
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    let mut counts = serde_json::Value::Null;
    let mut last_url = String::new();
    for i in 0..args.runs.max(1) {
        let url = match &args.bench_database_url {
            Some(u) => {
                let store = cc_store::connect(u, &cfg.pool()).await.context("opening the benchmark database")?;
                store.migrate_up().await?;
                store.close().await;
                wipe_postgres(u).await?;
                u.clone()
            }
            None => format!("sqlite://{}", dir.path().join(format!("apply-{i}.db")).display()),
        };
        let store = cc_store::connect(&url, &cfg.pool()).await?;
        store.migrate_up().await?;
        reset_peak();
        let start = Instant::now();
        let roster = read(base.clone()).await??;
        let run = imports::new_run(&actor, "bench", &[], false, &ImportOptions::default());
        let out = imports::apply(store.as_ref(), &actor, &roster, &settings, &Overrides::default(), None, run, false, &Progress::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        drop(roster);
        let secs = start.elapsed().as_secs_f64();
        peak = peak.max(peak_rss_mb());
        eprintln!("  apply run {}: {secs:.1} s, {} created", i + 1, out.counts.created);
        counts = serde_json::to_value(out.counts)?;
        times.push(secs);
        store.close().await;
        last_url = url;
    }
    let apply = summarize("apply into an empty directory", backend, args.rows, times, peak, counts);

    // Dry run against the directory the last apply left.
    let store = cc_store::connect(&last_url, &cfg.pool()).await?;
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    let mut counts = serde_json::Value::Null;
    for i in 0..args.runs.max(1) {
        reset_peak();
        let start = Instant::now();
        let roster = read(drift.clone()).await??;
        let p = imports::preview(store.as_ref(), roster, &settings, &Overrides { allow_mass_suspend: true, ..Overrides::default() }, &Progress::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = start.elapsed().as_secs_f64();
        peak = peak.max(peak_rss_mb());
        eprintln!("  dry run {}: {secs:.1} s, {} moved", i + 1, p.plan.counts.moved);
        counts = serde_json::to_value(p.plan.counts)?;
        drop(p);
        times.push(secs);
    }
    store.close().await;
    let dry = summarize("dry run against the same size", backend, args.rows, times, peak, counts);

    let results = [dry, apply];
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Output::Table => {
            println!(
                "{:<34} {:<9} {:>9} {:>9} {:>8} {:>8} {:>12}",
                "scenario", "backend", "rows", "median s", "min s", "max s", "peak RSS MB"
            );
            for r in &results {
                println!(
                    "{:<34} {:<9} {:>9} {:>9.1} {:>8.1} {:>8.1} {:>12.0}",
                    r.name, r.backend, r.rows, r.median_s, r.min_s, r.max_s, r.peak_rss_mb
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
