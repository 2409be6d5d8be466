//! `command-center bench import`: a synthetic OneRoster 1.2 export of `--rows` people, applied
//! into an empty directory (the first load); then previewed (dry run) against the directory
//! that apply left — a directory of the same size — with 2% of the students moved; then a
//! drifted export applied to that directory: `--drift` % of the students moved on a school and
//! a grade, and a tenth as many people (`--drift` / 10 %) left and replaced by newcomers. The
//! three scenarios alternate, one run of each per round. Reports the median, min and max wall
//! time of each, the drift apply's ratio to the first load, and the peak resident memory
//! (VmHWM) of the process that ran it: each run is measured in a fresh child process, as an
//! operator's `import` would run.

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
    /// Percent of students the drift scenario moves (0: no drift scenario).
    #[arg(long, default_value_t = 30)]
    drift: u32,
    /// A PostgreSQL URL naming an empty, disposable database (it is wiped between runs);
    /// default: fresh SQLite files in a temporary directory.
    #[arg(long)]
    bench_database_url: Option<String>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Internal: measure one run in this process and print it as JSON (`apply` or `dry-run`),
    /// against `--measure-database` with the export at `--measure-file`.
    #[arg(long, hide = true)]
    measure: Option<String>,
    #[arg(long, hide = true)]
    measure_database: Option<String>,
    #[arg(long, hide = true)]
    measure_file: Option<std::path::PathBuf>,
}

/// One measured run, as a child process reports it.
#[derive(Debug, Serialize, serde::Deserialize)]
struct Measured {
    seconds: f64,
    read_seconds: f64,
    peak_rss_mb: f64,
    counts: serde_json::Value,
}

/// Measures one run in this process: read + (snapshot, plan, guards) or read + apply.
async fn measure_one(
    cfg: &Config,
    what: &str,
    url: &str,
    file: std::path::PathBuf,
    rows: u64,
) -> anyhow::Result<Measured> {
    let mut settings = cfg.import.settings();
    settings.limits.max_rows = settings.limits.max_rows.max(rows * 2 + 1);
    let actor = cc_domain::Actor::system("bench");
    let store = cc_store::connect(url, &cfg.pool()).await?;
    reset_peak();
    let start = Instant::now();
    let limits = settings.limits;
    let (counts, read_seconds) = if what == "apply" {
        let roster = tokio::task::spawn_blocking(move || {
            imports::read(
                &Input::Path(file),
                FormatChoice::Auto,
                limits,
                &Progress::default(),
            )
        })
        .await??;
        let read_seconds = start.elapsed().as_secs_f64();
        let run = imports::new_run(&actor, "bench", &[], false, &ImportOptions::default());
        // The drift's leavers are suspended: more than the mass-suspension guard lets by.
        let overrides = Overrides {
            allow_mass_suspend: true,
            ..Overrides::default()
        };
        let req = imports::ApplyRequest {
            actor: &actor,
            roster: &roster,
            settings: &settings,
            overrides: &overrides,
            expected: None,
            stored: false,
            progress: &Progress::default(),
        };
        let out = imports::apply(store.as_ref(), req, run)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!(
            "    apply steps: {}",
            out.timings
                .iter()
                .map(|(n, t)| format!("{n} {t:.1}s"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        (serde_json::to_value(out.counts)?, read_seconds)
    } else {
        // Reading and loading the directory run at the same time, as the CLI's dry run does.
        let overrides = Overrides {
            allow_mass_suspend: true,
            ..Overrides::default()
        };
        let progress = std::sync::Arc::new(Progress::default());
        let p = imports::preview_input(
            store.as_ref(),
            Input::Path(file),
            FormatChoice::Auto,
            &settings,
            &overrides,
            progress,
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        (serde_json::to_value(p.plan.counts)?, 0.0)
    };
    let seconds = start.elapsed().as_secs_f64();
    let peak_rss_mb = peak_rss_mb();
    store.close().await;
    Ok(Measured {
        seconds,
        read_seconds,
        peak_rss_mb,
        counts,
    })
}

/// Runs one measurement in a child process, so its peak memory is its own.
async fn measure_in_child(
    what: &str,
    url: &str,
    file: &std::path::Path,
    rows: u64,
) -> anyhow::Result<Measured> {
    let exe = std::env::current_exe()?;
    let out = tokio::process::Command::new(exe)
        .args([
            "bench",
            "import",
            "--rows",
            &rows.to_string(),
            "--measure",
            what,
            "--measure-database",
            url,
        ])
        .arg("--measure-file")
        .arg(file)
        .output()
        .await?;
    // `output()` captures stderr too: pass the child's step timings and errors on.
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    anyhow::ensure!(
        out.status.success(),
        "the measuring process failed ({})",
        out.status
    );
    Ok(serde_json::from_slice(&out.stdout)?)
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
    median_read_s: f64,
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

fn summarize(name: &'static str, backend: &str, rows: u64, runs: &[Measured]) -> Scenario {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let secs: Vec<f64> = runs.iter().map(|m| m.seconds).collect();
    Scenario {
        name,
        backend: backend.to_owned(),
        rows,
        median_s: median(secs.clone()),
        min_s: secs.iter().copied().fold(f64::INFINITY, f64::min),
        max_s: secs.iter().copied().fold(0.0, f64::max),
        median_read_s: median(runs.iter().map(|m| m.read_seconds).collect()),
        runs: secs,
        peak_rss_mb: runs.iter().map(|m| m.peak_rss_mb).fold(0.0, f64::max),
        counts: runs.last().map(|m| m.counts.clone()).unwrap_or_default(),
    }
}

async fn wipe_postgres(url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::query(
        "TRUNCATE group_members, users, groups, audit_events, import_files, import_runs, jobs, job_events CASCADE",
    )
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
    if let Some(what) = &args.measure {
        let (Some(url), Some(file)) = (args.measure_database.as_deref(), args.measure_file.clone())
        else {
            anyhow::bail!("--measure needs --measure-database and --measure-file");
        };
        let m = measure_one(cfg, what, url, file, args.rows).await?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(ExitCode::SUCCESS);
    }
    let dir = tempfile::tempdir()?;
    let base = dir.path().join("base");
    let drift = dir.path().join("drift");
    let moved = dir.path().join("moved");
    eprintln!(
        "bench import: generating {} people (OneRoster 1.2)…",
        args.rows
    );
    let gen = GenOptions {
        rows: args.rows,
        seed: args.seed,
        ..GenOptions::default()
    };
    let drift_percent = args.drift.min(100);
    let (b, d, m) = (base.clone(), drift.clone(), moved.clone());
    tokio::task::spawn_blocking(move || {
        generate(&gen, &b)?;
        generate(
            &GenOptions {
                drift_percent: 2,
                ..gen
            },
            &d,
        )?;
        if drift_percent > 0 {
            generate(
                &GenOptions {
                    drift_percent,
                    turnover_percent: drift_percent / 10,
                    ..gen
                },
                &m,
            )?;
        }
        std::io::Result::Ok(())
    })
    .await??;
    let backend = if args.bench_database_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    // Rounds of: apply into an empty directory, dry run against it, apply the drift to it.
    let (mut apply_runs, mut dry_runs, mut drift_runs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..args.runs.max(1) {
        let url = match &args.bench_database_url {
            Some(u) => {
                wipe_postgres_after_migrating(cfg, u).await?;
                u.clone()
            }
            None => format!(
                "sqlite://{}",
                dir.path().join(format!("apply-{i}.db")).display()
            ),
        };
        let store = cc_store::connect(&url, &cfg.pool())
            .await
            .context("opening the benchmark database")?;
        store.migrate_up().await?;
        store.close().await;
        let m = measure_in_child("apply", &url, &base, args.rows).await?;
        eprintln!(
            "  apply run {}: {:.1} s (reading {:.1} s), peak {:.0} MB",
            i + 1,
            m.seconds,
            m.read_seconds,
            m.peak_rss_mb
        );
        apply_runs.push(m);
        let m = measure_in_child("dry-run", &url, &drift, args.rows).await?;
        eprintln!(
            "  dry run {}: {:.1} s (reading {:.1} s), peak {:.0} MB",
            i + 1,
            m.seconds,
            m.read_seconds,
            m.peak_rss_mb
        );
        dry_runs.push(m);
        if drift_percent > 0 {
            let m = measure_in_child("apply", &url, &moved, args.rows).await?;
            eprintln!(
                "  drift apply run {}: {:.1} s (reading {:.1} s), peak {:.0} MB, {}",
                i + 1,
                m.seconds,
                m.read_seconds,
                m.peak_rss_mb,
                m.counts
            );
            drift_runs.push(m);
        }
        // A million people take about a gigabyte: keep no SQLite file past its round.
        if let Some(path) = url.strip_prefix("sqlite://") {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
        }
    }
    let mut results = vec![
        summarize(
            "dry run against the same size",
            backend,
            args.rows,
            &dry_runs,
        ),
        summarize(
            "apply into an empty directory",
            backend,
            args.rows,
            &apply_runs,
        ),
    ];
    if !drift_runs.is_empty() {
        results.push(summarize(
            "apply a drift to the same size",
            backend,
            args.rows,
            &drift_runs,
        ));
        eprintln!(
            "drift apply / first load: {:.2} (medians; {}% of students moved, {}% left and replaced)",
            results[2].median_s / results[1].median_s.max(f64::EPSILON),
            drift_percent,
            drift_percent / 10
        );
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&results)?),
        Output::Table => {
            println!(
                "{:<32} {:<9} {:>9} {:>9} {:>7} {:>7} {:>10} {:>12}",
                "scenario",
                "backend",
                "rows",
                "median s",
                "min s",
                "max s",
                "reading s",
                "peak RSS MB"
            );
            for r in &results {
                println!(
                    "{:<32} {:<9} {:>9} {:>9.1} {:>7.1} {:>7.1} {:>10.1} {:>12.0}",
                    r.name,
                    r.backend,
                    r.rows,
                    r.median_s,
                    r.min_s,
                    r.max_s,
                    r.median_read_s,
                    r.peak_rss_mb
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn wipe_postgres_after_migrating(cfg: &Config, url: &str) -> anyhow::Result<()> {
    let store = cc_store::connect(url, &cfg.pool())
        .await
        .context("opening the benchmark database")?;
    store.migrate_up().await?;
    store.close().await;
    wipe_postgres(url).await
}
