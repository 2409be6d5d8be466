//! `command-center bench provision`: a synthetic OneRoster export of `--people` people is
//! imported and applied into an empty directory, and the provision jobs it enqueues run
//! against a real OpenLDAP slapd through the LDAP target (accounts in OUs created on
//! demand, each person in their school's group). Measured from the start of the apply to
//! the last job's completion — the last account present with its groups.
//!
//! The physical limit, measured in the same run: `ldapadd` loading the same entries (taken
//! from the target itself) into an empty, identically configured slapd. The two alternate
//! which goes first, `--rounds` times, each on fresh servers and a fresh database; figures
//! are medians of the rounds. After every round a check walks the directory server and
//! compares each account and its groups with Command Center's directory; any difference
//! fails the benchmark.

mod check;
mod ldif;
mod ours;
mod report;
mod slapd;
mod theirs;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use cc_roster::generate::{generate, GenOptions};
use cc_roster::{FormatChoice, Input, Roster};
use cc_service::imports::{self, Progress};

use crate::commands::Output;
use crate::config::Config;
use report::{Report, Round};
use slapd::{Slapd, Tools};

/// The `ldapadd` rate Command Center is to reach, at least (a ratio).
pub const TARGET_RATIO: f64 = 0.6;

#[derive(clap::Args)]
pub struct Args {
    /// People in the synthetic OneRoster export (each gets an account).
    #[arg(long, default_value_t = 20_000)]
    people: u64,
    /// Rounds; each runs Command Center and ldapadd once, alternating which goes first.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Provision jobs the in-process worker runs at once. Well above the number of groups
    /// being filled, so that new members of one group are added together while
    /// `--ldap-connections` bounds what reaches the directory.
    #[arg(long, default_value_t = 256)]
    concurrency: u32,
    /// The LDAP target's `max_connections`: connections (so operations in flight) it opens
    /// to the directory at most.
    #[arg(long, default_value_t = cc_connectors::ldap::DEFAULT_MAX_CONNECTIONS)]
    ldap_connections: u32,
    /// Schools the people are spread over (each has a group).
    #[arg(long, default_value_t = 20)]
    schools: u32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A PostgreSQL URL naming an empty, disposable database (it is wiped before every
    /// round); default: a fresh SQLite file per round in a temporary directory.
    #[arg(long)]
    bench_database_url: Option<String>,
    /// The slapd executable (default: /usr/sbin/slapd, from the Debian package slapd).
    #[arg(long)]
    slapd: Option<PathBuf>,
    /// The ldapadd executable (default: /usr/bin/ldapadd, from the Debian package
    /// ldap-utils).
    #[arg(long)]
    ldapadd: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    if args.rounds == 0 || args.people == 0 || args.concurrency == 0 || args.ldap_connections == 0 {
        return Err(crate::exit::Usage(
            "--people, --rounds, --concurrency and --ldap-connections must be at least 1".into(),
        )
        .into());
    }
    let tools = Tools::find(args.slapd.clone(), args.ldapadd.clone())?;
    let dir = tempfile::tempdir()?;
    eprintln!(
        "bench provision: generating {} people (OneRoster 1.2, {} schools)…",
        args.people, args.schools
    );
    let roster = read_roster(cfg, &args, dir.path()).await?;
    let setup = ours::Setup {
        concurrency: args.concurrency,
        connections: args.ldap_connections,
    };
    let ldif_path = dir.path().join("load.ldif");
    let (load, expected) = prepare_load(cfg, &roster, dir.path(), &ldif_path, setup).await?;
    eprintln!(
        "bench provision: {} accounts, {} OUs, {} groups; {} round(s), concurrency {}, {} LDAP \
         connection(s)",
        load.accounts, load.ous, load.groups, args.rounds, args.concurrency, args.ldap_connections
    );
    // Long enough for a slow machine; a stuck job still ends the benchmark.
    let deadline = Duration::from_secs(600 + args.people / 10);
    let mut rounds = Vec::new();
    for i in 0..args.rounds {
        let mut round = Round::default();
        let ours_first = i % 2 == 0;
        for side in [ours_first, !ours_first] {
            if side {
                let url = database_url(cfg, &args, dir.path(), i).await?;
                let mut slapd = Slapd::start(&tools).await?;
                let (m, users) = ours::run(cfg, &url, &roster, &mut slapd, setup, deadline).await?;
                let checked = check::check(&slapd, &users).await?;
                drop(slapd);
                remove_sqlite(&url);
                eprintln!(
                    "  round {}: command-center {:.0} accounts/s ({:.1} s), {:.1} LDAP operations \
                     per account, job latency p99 {:.0} ms; check: {} problem(s)",
                    i + 1,
                    report::rate(m.accounts, m.seconds),
                    m.seconds,
                    report::per(m.ldap.total(), m.accounts),
                    m.job_latency_ms_p99,
                    checked.problems
                );
                fail_on_problems("command-center", &checked)?;
                round.ours = Some((m, checked));
            } else {
                let mut slapd = Slapd::start(&tools).await?;
                let m = theirs::run(&tools, &mut slapd, &ldif_path).await?;
                let checked = check::check(&slapd, &expected).await?;
                drop(slapd);
                eprintln!(
                    "  round {}: ldapadd {:.0} accounts/s ({:.1} s); check: {} problem(s)",
                    i + 1,
                    report::rate(load.accounts, m.seconds),
                    m.seconds,
                    checked.problems
                );
                fail_on_problems("ldapadd", &checked)?;
                round.theirs = Some((m, checked));
            }
        }
        rounds.push(round);
    }
    let report = Report::new(&args, load, rounds);
    report.print(args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// Generates the export and reads it (once: every round applies the same roster).
async fn read_roster(cfg: &Config, args: &Args, dir: &std::path::Path) -> anyhow::Result<Roster> {
    let path = dir.join("oneroster");
    let gen = GenOptions {
        rows: args.people,
        seed: args.seed,
        schools: args.schools,
        ..GenOptions::default()
    };
    let p = path.clone();
    tokio::task::spawn_blocking(move || generate(&gen, &p)).await??;
    let mut limits = cfg.import.settings().limits;
    limits.max_rows = limits.max_rows.max(args.people * 2 + 1);
    let roster = tokio::task::spawn_blocking(move || {
        imports::read(
            &Input::Path(path),
            FormatChoice::Auto,
            limits,
            &Progress::default(),
        )
    })
    .await??;
    Ok(roster)
}

/// The directory the import makes (applied once into a scratch database) and the LDIF of
/// the entries provisioning it writes.
async fn prepare_load(
    cfg: &Config,
    roster: &Roster,
    dir: &std::path::Path,
    ldif_path: &std::path::Path,
    setup: ours::Setup,
) -> anyhow::Result<(ldif::Load, Vec<cc_domain::User>)> {
    let url = format!("sqlite://{}", dir.join("prepare.db").display());
    let users = ours::directory_after_import(cfg, &url, roster).await?;
    remove_sqlite(&url);
    // Rendering entries needs no server: the URL is never contacted.
    let target = ours::target("ldap://127.0.0.1:389", "unused", setup)?;
    let load = ldif::write(&target, &users, ldif_path).context("writing the LDIF")?;
    if load.accounts == 0 {
        bail!("the export has nobody to provision");
    }
    Ok((load, users))
}

/// A fresh database for a round: a new SQLite file, or the PostgreSQL database wiped.
async fn database_url(
    cfg: &Config,
    args: &Args,
    dir: &std::path::Path,
    round: u32,
) -> anyhow::Result<String> {
    Ok(match &args.bench_database_url {
        Some(u) => {
            super::import::wipe_postgres_after_migrating(cfg, u).await?;
            u.clone()
        }
        None => format!(
            "sqlite://{}",
            dir.join(format!("round-{round}.db")).display()
        ),
    })
}

fn remove_sqlite(url: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{path}{suffix}"));
        }
    }
}

fn fail_on_problems(side: &str, checked: &check::Checked) -> anyhow::Result<()> {
    if checked.passed() {
        return Ok(());
    }
    bail!(
        "the check found {} problem(s) in the directory {side} loaded:\n  {}",
        checked.problems,
        checked.examples.join("\n  ")
    )
}
