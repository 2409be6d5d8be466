//! `jobs watch`: job changes as they happen, from `GET /api/v1/events`. With `--batch` (or
//! `--import`, whose lifecycle jobs form a batch named after the run) a progress bar shows on
//! a terminal and the command ends when every job of the batch has finished: exit 0, or 1
//! when any was discarded.
//!
//! `--import` first follows the run on the same stream: its notices (`event: import`) report
//! rows read while it is read and planned, then that it is applied, then its outcome; exit 1
//! when it was refused or failed. No animation off a terminal or with `NO_COLOR`: plain
//! lines instead.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use cc_client::{Client, JobEventStream};
use cc_domain::{BatchProgress, ImportRun, ImportStatus, Job, JobEvent, JobState, StreamEvent};
use uuid::Uuid;

use crate::output::{note, print_json, Format, OutputArg};

/// How often the batch is read again when no event arrives (the stream is the fast path;
/// this only guards against a missed event).
const REFRESH: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Follow this batch and end when it has finished.
    #[arg(long, conflicts_with = "import")]
    batch: Option<Uuid>,
    /// Follow this import run (planning, applying) and then its lifecycle jobs.
    #[arg(long)]
    import: Option<Uuid>,
    #[command(flatten)]
    out: OutputArg,
}

pub async fn run(client: &Client, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let json = args.out.output == Format::Json;
    // Open the stream before reading any state, so no change falls between the two.
    let mut events = client
        .job_events(None)
        .await
        .context("opening the event stream")?;
    let batch = match (args.batch, args.import) {
        (Some(b), _) => b,
        (None, Some(run)) => {
            if let Some(code) = follow_import(client, &mut events, run, json).await? {
                return Ok(code);
            }
            run
        }
        (None, None) => return follow_all(client, &mut events, json).await,
    };
    follow_batch(client, &mut events, batch, json).await
}

/// Every event, forever (until interrupted).
async fn follow_all(
    client: &Client,
    events: &mut JobEventStream,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let mut last = None;
    loop {
        match events.next().await? {
            Some(e) => {
                last = Some(e.seq);
                print_event(&e, json)?;
            }
            None => *events = client.job_events(last).await?,
        }
    }
}

async fn follow_batch(
    client: &Client,
    events: &mut JobEventStream,
    batch: Uuid,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let batch_s = batch.to_string();
    let mut progress = client.get_batch(batch).await?;
    let jobs: HashSet<i64> = client
        .list_all::<Job>("/jobs", &[("batch_id", &batch_s)], None)
        .await?
        .items
        .iter()
        .map(|j| j.id)
        .collect();
    let bar = Bar::new(&progress);
    let mut last = None;
    while !progress.finished {
        tokio::select! {
            next = events.next() => match next? {
                Some(e) => {
                    last = Some(e.seq);
                    if !jobs.contains(&e.job_id) {
                        continue;
                    }
                    bar.suspend(|| print_event(&e, json))?;
                    if e.state.is_final() {
                        progress = client.get_batch(batch).await?;
                        bar.show(&progress);
                    }
                }
                None => *events = client.job_events(last).await?,
            },
            () = tokio::time::sleep(REFRESH) => {
                progress = client.get_batch(batch).await?;
                bar.show(&progress);
            }
        }
    }
    bar.finish();
    summary(&progress, json)
}

fn summary(progress: &BatchProgress, json: bool) -> anyhow::Result<ExitCode> {
    if json {
        print_json(progress)?;
    } else {
        let counts: Vec<String> = progress
            .counts
            .iter()
            .map(|(state, n)| format!("{n} {state}"))
            .collect();
        println!(
            "batch {} finished: {} jobs ({})",
            progress.batch_id,
            progress.total,
            counts.join(", ")
        );
    }
    let discarded = progress
        .counts
        .get(&JobState::Discarded)
        .copied()
        .unwrap_or(0);
    Ok(if discarded > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether a run has reached an end for the watch: applied, refused or failed. A planned
/// run (an upload's preview) is waited on until someone applies it.
fn run_ended(run: &ImportRun) -> bool {
    matches!(
        run.status,
        ImportStatus::Applied | ImportStatus::Refused | ImportStatus::Failed
    )
}

/// Follows an import run on the event stream until it ends. `None` when it was applied with
/// lifecycle jobs to follow; otherwise the exit code (1 when refused or failed).
async fn follow_import(
    client: &Client,
    events: &mut JobEventStream,
    id: Uuid,
    json: bool,
) -> anyhow::Result<Option<ExitCode>> {
    let subject = id.to_string();
    let bar = Bar::spinner();
    let mut run = client.get_import(id).await?;
    let mut seen = None;
    let mut last = None;
    loop {
        if seen != Some(run.status) {
            seen = Some(run.status);
            bar.suspend(|| {
                if json {
                    print_json(&serde_json::json!({"import": run.id, "status": run.status}))
                } else {
                    println!("import {} {}", run.id, run.status.as_str());
                    if run.status == ImportStatus::Planned {
                        note(&format!(
                            "import {} is a preview: waiting for it to be applied \
                             (POST /api/v1/imports/{}/apply); interrupt to stop",
                            run.id, run.id
                        ));
                    }
                    Ok(())
                }
            })?;
        }
        if run_ended(&run) {
            break;
        }
        if let Some(p) = &run.progress {
            bar.message(&progress_text(p));
        }
        tokio::select! {
            next = events.next_event() => match next? {
                Some(StreamEvent::Notice(n)) => {
                    last = Some(n.seq);
                    if n.topic != cc_domain::NoticeTopic::Import || n.subject != subject {
                        continue;
                    }
                    if n.state == "progress" {
                        // Rows read or changes to write: shown as they come, no request.
                        let p: serde_json::Value = n
                            .note
                            .as_deref()
                            .and_then(|t| serde_json::from_str(t).ok())
                            .unwrap_or_default();
                        let text = progress_text(&p);
                        if bar.is_drawn() {
                            bar.message(&text);
                        } else if !json {
                            eprintln!("import {id} {text}");
                        }
                        continue;
                    }
                    run = client.get_import(id).await?;
                }
                Some(StreamEvent::Job(e)) => last = Some(e.seq),
                None => *events = client.job_events(last).await?,
            },
            // The stream is the fast path; this only guards against a missed notice.
            () = tokio::time::sleep(REFRESH) => run = client.get_import(id).await?,
        }
    }
    bar.finish();
    Ok(import_outcome(&run, json))
}

/// What the watch does once the run ended: follow its jobs (`None`), or exit.
fn import_outcome(run: &ImportRun, json: bool) -> Option<ExitCode> {
    let count = |k: &str| run.counts[k].as_i64().unwrap_or(0);
    match run.status {
        ImportStatus::Refused | ImportStatus::Failed => {
            if !json {
                let why = match run.status {
                    ImportStatus::Refused => run
                        .refusals
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|r| r["message"].as_str().or(r["code"].as_str()))
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default(),
                    _ => run.failure.clone().unwrap_or_default(),
                };
                note(&format!(
                    "import {} was {}: {why}",
                    run.id,
                    run.status.as_str()
                ));
            }
            Some(ExitCode::FAILURE)
        }
        ImportStatus::Applied if count("jobs_enqueued").max(count("lifecycle_jobs")) > 0 => {
            if !json {
                println!(
                    "import {} applied: {} rows, {} created, {} updated, {} lifecycle jobs",
                    run.id,
                    count("rows"),
                    count("created"),
                    count("updated"),
                    count("jobs_enqueued").max(count("lifecycle_jobs"))
                );
            }
            None
        }
        _ => {
            if !json {
                note(&format!(
                    "import {} is {}; no lifecycle jobs to follow",
                    run.id,
                    run.status.as_str()
                ));
            }
            Some(ExitCode::SUCCESS)
        }
    }
}

fn progress_text(p: &serde_json::Value) -> String {
    let total = p["changes_total"].as_u64().unwrap_or(0);
    if p["phase"] == "applying" && total == 0 {
        format!("applying: {} rows read", p["rows_read"])
    } else if total > 0 {
        format!(
            "{}: {}/{} changes",
            p["phase"].as_str().unwrap_or(""),
            p["changes_written"],
            total
        )
    } else {
        format!(
            "{}: {} rows read",
            p["phase"].as_str().unwrap_or(""),
            p["rows_read"]
        )
    }
}

fn print_event(e: &JobEvent, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(e)?);
    } else {
        let style = crate::output::Style::stdout();
        println!(
            "{}  job {}  {}  {}  attempt {}{}",
            e.at.format("%H:%M:%S%.3f"),
            e.job_id,
            e.kind.as_deref().unwrap_or("?"),
            style.by_meaning(e.state.as_str()),
            e.attempt,
            e.note
                .as_deref()
                .map(|n| format!("  ({n})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// A progress bar on standard error, drawn only on a terminal and without `NO_COLOR` (or
/// `TERM=dumb`).
struct Bar(Option<indicatif::ProgressBar>);

fn animated() -> bool {
    std::io::stderr().is_terminal() && crate::output::style::colour_allowed()
}

impl Bar {
    fn new(p: &BatchProgress) -> Self {
        if !animated() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new(u64::try_from(p.total).unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} finished  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let b = Self(Some(bar));
        b.show(p);
        b
    }

    fn spinner() -> Self {
        if !animated() {
            return Self(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(100));
        Self(Some(bar))
    }

    fn show(&self, p: &BatchProgress) {
        if let Some(bar) = &self.0 {
            let done: i64 = p
                .counts
                .iter()
                .filter(|(s, _)| s.is_final())
                .map(|(_, n)| n)
                .sum();
            bar.set_position(u64::try_from(done).unwrap_or(0));
            let failed = p.counts.get(&JobState::Discarded).copied().unwrap_or(0);
            bar.set_message(if failed > 0 {
                format!("{failed} discarded")
            } else {
                String::new()
            });
        }
    }

    fn is_drawn(&self) -> bool {
        self.0.is_some()
    }

    fn message(&self, m: &str) {
        if let Some(bar) = &self.0 {
            bar.set_message(m.to_owned());
        }
    }

    fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.0 {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn finish(self) {
        if let Some(bar) = self.0 {
            bar.finish_and_clear();
        }
    }
}
