//! `command-center import PATH`: preview a roster export as a plan, then apply it.
//!
//! Works on the database directly (`CC_DATABASE_URL`). A dry run changes nothing; an apply
//! asks for confirmation unless `--yes`, and refuses to apply without `--yes` when stdin is
//! not a terminal. Exit codes: 0 done (or previewed), 1 error, 2 not confirmed, 3 refused by
//! a guard (the message names the flag that overrides it).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use cc_roster::{FormatChoice, Input, Overrides, Refusal};
use cc_service::imports::{self, ImportError, ImportOptions, Preview, Progress};

use super::{open_store, require_current_schema, Output};
use crate::config::Config;

/// Exit code of an import a guard refused.
pub const REFUSED: u8 = 3;
/// Exit code of an apply that was not confirmed.
pub const NOT_CONFIRMED: u8 = 2;

#[derive(clap::Args)]
pub struct Args {
    /// The export: a CSV file, a OneRoster or SDS folder, or a .zip of one.
    path: PathBuf,
    /// auto (by file names and headers), csv, oneroster or sds.
    #[arg(long, default_value = "auto", value_parser = parse_format)]
    format: FormatChoice,
    /// Show the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Apply without asking for confirmation.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Reject the whole file when any row has an error.
    #[arg(long)]
    strict: bool,
    /// Allow a plan that suspends more people than import.max_suspend_percent / max_suspend_count.
    #[arg(long)]
    allow_mass_suspend: bool,
    /// Allow a complete file much smaller than the directory (import.min_row_percent).
    #[arg(long)]
    allow_shrink: bool,
    /// Allow a file that looks truncated (its damaged last row is skipped).
    #[arg(long)]
    allow_truncated: bool,
    /// Allow an export that lacks files its manifest declares.
    #[arg(long)]
    allow_missing_files: bool,
    /// Allow a complete file with no rows (suspends everyone the SIS manages).
    #[arg(long)]
    allow_empty: bool,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Write every row error to this CSV file (file,line,field,message).
    #[arg(long)]
    errors_csv: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<FormatChoice, String> {
    s.parse()
}

impl Args {
    fn overrides(&self) -> Overrides {
        Overrides {
            allow_mass_suspend: self.allow_mass_suspend,
            allow_shrink: self.allow_shrink,
            allow_truncated: self.allow_truncated,
            allow_missing_files: self.allow_missing_files,
            allow_empty: self.allow_empty,
            strict: self.strict,
        }
    }
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    require_current_schema(store.as_ref()).await?;
    let settings = cfg.import_settings();
    let overrides = args.overrides();
    let progress = Arc::new(Progress::default());
    let bar = ProgressBar::start(progress.clone());

    let input = Input::Path(args.path.clone());
    let file_name = input.display_name();
    let preview = imports::preview_input(
        store.as_ref(),
        input,
        args.format,
        &settings,
        &overrides,
        progress.clone(),
    )
    .await;
    let preview = match preview {
        Ok(p) => p,
        Err(ImportError::Unreadable(e)) => {
            bar.finish();
            anyhow::bail!("{}: {e}", args.path.display());
        }
        Err(e) => {
            bar.finish();
            return Err(e.into());
        }
    };
    bar.finish();

    if let Some(path) = &args.errors_csv {
        let f = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        cc_roster::render::errors_csv(preview.errors(), std::io::BufWriter::new(f))?;
        let total = preview.plan.counts.errors;
        let kept = preview.errors().count() as u64;
        if total > kept {
            eprintln!(
                "{} holds the first {kept} of {total} row errors",
                path.display()
            );
        }
    }
    show(&preview, &args)?;

    let actor = cc_domain::Actor::system("cli");
    if !preview.refusals.is_empty() {
        print_refusals(&preview.refusals);
        if !args.dry_run {
            let mut run = imports::new_run(
                &actor,
                &file_name,
                &[],
                false,
                &ImportOptions {
                    format: args.format,
                    overrides,
                },
            );
            imports::fill(&mut run, &preview);
            imports::record_refusal(store.as_ref(), &actor, &run, &imports::row_errors(&preview))
                .await?;
        }
        store.close().await;
        return Ok(ExitCode::from(REFUSED));
    }
    if args.dry_run {
        eprintln!("dry run: nothing was changed");
        store.close().await;
        return Ok(ExitCode::SUCCESS);
    }
    if preview.plan.counts.is_empty() {
        eprintln!("nothing to change: the directory already matches {file_name}");
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!("error: refusing to apply without --yes because stdin is not a terminal; run with --dry-run to preview or --yes to apply");
            store.close().await;
            return Ok(ExitCode::from(NOT_CONFIRMED));
        }
        eprint!("Apply these changes to the directory? [y/N] ");
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).ok();
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            eprintln!("not applied");
            store.close().await;
            return Ok(ExitCode::from(NOT_CONFIRMED));
        }
    }
    let run = imports::new_run(
        &actor,
        &file_name,
        &[],
        false,
        &ImportOptions {
            format: args.format,
            overrides,
        },
    );
    let bar = ProgressBar::start(progress.clone());
    let result = imports::apply_preview(
        store.as_ref(),
        &actor,
        &preview,
        &settings,
        &overrides,
        run,
        &progress,
    )
    .await;
    bar.finish();
    store.close().await;
    match result {
        Ok(out) => {
            match args.output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"applied": true, "run": out.run}))?
                ),
                Output::Table => println!(
                    "applied: import run {} ({} created, {} updated, {} moved, {} suspended, {} reactivated; {} lifecycle jobs, {} enqueued)",
                    out.run.id,
                    out.counts.created,
                    out.counts.updated,
                    out.counts.moved,
                    out.counts.suspended,
                    out.counts.reactivated,
                    out.counts.lifecycle_jobs,
                    out.jobs_enqueued
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Refused(r)) => {
            print_refusals(&r);
            Ok(ExitCode::from(REFUSED))
        }
        Err(e) => Err(e.into()),
    }
}

fn show(p: &Preview, args: &Args) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match args.output {
        Output::Json => {
            serde_json::to_writer_pretty(
                &mut out,
                &cc_roster::render::PlanDocument {
                    plan: &p.plan,
                    roster: &p.roster,
                    dir: &p.view,
                    refusals: &p.refusals,
                    limit: None,
                },
            )?;
            writeln!(out)?;
        }
        Output::Table => {
            writeln!(
                out,
                "{} ({}, people file {})\n",
                args.path.display(),
                p.roster.format.map_or("?", |f| f.as_str()),
                match p.roster.users_mode {
                    cc_roster::FileMode::Bulk => "bulk: whoever is missing is suspended",
                    cc_roster::FileMode::Delta => "delta",
                    cc_roster::FileMode::Absent => "absent",
                }
            )?;
            write!(out, "{}", cc_roster::render::summary_table(&p.plan.counts))?;
            for g in &p.plan.new_groups {
                writeln!(out, "new group   {} ({})", g.name, g.kind.as_str())?;
            }
            const SHOWN: usize = 50;
            if !p.plan.changes.is_empty() {
                writeln!(out, "\n{:<11} {:<32} DETAIL", "CHANGE", "PERSON")?;
            }
            for c in p.plan.changes.iter().take(SHOWN) {
                let v = cc_roster::render::change_json(&p.plan, c, &p.roster, &p.view);
                let who = v["username"].as_str().unwrap_or("");
                let detail = detail(&v);
                writeln!(
                    out,
                    "{:<11} {:<32} {detail}",
                    v["kind"].as_str().unwrap_or(""),
                    who
                )?;
            }
            if p.plan.changes.len() > SHOWN {
                writeln!(
                    out,
                    "… and {} more changes (--output json lists them all)",
                    p.plan.changes.len() - SHOWN
                )?;
            }
            let total = p.plan.counts.errors;
            if total > 0 {
                writeln!(out, "\nROW ERRORS (skipped)")?;
                for e in p.errors().take(SHOWN) {
                    writeln!(out, "{}:{}  {}: {}", e.file, e.line, e.field, e.message)?;
                }
                let shown = p.errors().take(SHOWN).count() as u64;
                if total > shown {
                    let kept = p.errors().count() as u64;
                    let csv = if total > kept {
                        format!("--errors-csv FILE writes the first {kept}")
                    } else {
                        "--errors-csv FILE writes them all".to_owned()
                    };
                    writeln!(out, "… and {} more ({csv})", total - shown)?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn detail(v: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if v["kind"] != "create" {
        if let Some(fields) = v["fields"].as_object() {
            for (k, f) in fields {
                parts.push(format!("{k}: {} → {}", f["before"], f["after"]));
            }
        }
    }
    if let Some(s) = v["status"].as_object() {
        parts.push(format!("status: {} → {}", s["before"], s["after"]));
    }
    if let Some(a) = v["groups_add"].as_array().filter(|a| !a.is_empty()) {
        parts.push(format!(
            "+{}",
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if let Some(r) = v["groups_remove"].as_array().filter(|a| !a.is_empty()) {
        parts.push(format!(
            "-{}",
            r.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ));
    }
    if v["reason"] != "in_file" {
        parts.push(format!(
            "({})",
            v["reason"].as_str().unwrap_or("").replace('_', " ")
        ));
    }
    parts.join("; ").replace('"', "")
}

fn print_refusals(r: &[Refusal]) {
    eprintln!("refused: nothing was changed");
    for x in r {
        match &x.overridden_by {
            Some(allow) => eprintln!(
                "  - {} [{}]: override with --{}",
                x.message,
                x.code,
                allow.replace('_', "-")
            ),
            None => eprintln!("  - {} [{}]", x.message, x.code),
        }
    }
}

/// A progress bar on stderr while work runs, only when stderr is a terminal.
struct ProgressBar {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ProgressBar {
    fn start(progress: Arc<Progress>) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self {
                stop: None,
                task: None,
            };
        }
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
            );
            loop {
                let (phase, rows, written, total) = progress.get();
                let msg = if total > 0 {
                    format!("{phase}: {written}/{total} changes")
                } else {
                    format!("{phase}: {rows} rows read")
                };
                bar.set_message(msg);
                bar.tick();
                tokio::select! {
                    _ = &mut rx => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
            bar.finish_and_clear();
        });
        Self {
            stop: Some(tx),
            task: Some(task),
        }
    }

    fn finish(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
