//! `command-center jobs …`: the job queue over the API, and `jobs watch`, which follows the
//! live event stream.

mod watch;

use std::process::ExitCode;

use uuid::Uuid;

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use crate::output::{print_list, print_one, Format, OutputArg};

const COLUMNS: &[&str] = &[
    "id",
    "kind",
    "state",
    "attempt",
    "queue",
    "created_at",
    "created_by",
    "batch_id",
];

const STATES: [&str; 7] = [
    "scheduled",
    "available",
    "running",
    "retryable",
    "completed",
    "cancelled",
    "discarded",
];

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// List jobs, newest first.
    List {
        #[arg(long, value_parser = STATES)]
        state: Option<String>,
        /// e.g. lifecycle.provision
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        queue: Option<String>,
        /// Only the jobs of this batch.
        #[arg(long)]
        batch: Option<Uuid>,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show a job with its errors and its history.
    Get {
        id: i64,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Cancel a job (a running one is told to stop).
    Cancel {
        id: i64,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Run a discarded or cancelled job again.
    Retry {
        id: i64,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Follow job changes live; with --batch (or --import) show a progress bar and end when
    /// the batch has finished.
    Watch(watch::WatchArgs),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::List {
            state,
            kind,
            queue,
            batch,
            limit,
            out,
        } => {
            let batch = batch.map(|b| b.to_string());
            let mut q: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [
                ("state", &state),
                ("kind", &kind),
                ("queue", &queue),
                ("batch_id", &batch),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            listing::list(&client, "/jobs", &q, limit, out.output, COLUMNS).await
        }
        Action::Get { id, out } => {
            let detail = client.get_job(id).await?;
            if out.output != Format::Table {
                print_one(out.output, &detail, &[])?;
                return Ok(ExitCode::SUCCESS);
            }
            print_one(
                Format::Table,
                &detail.job,
                &[
                    "id",
                    "kind",
                    "state",
                    "queue",
                    "attempt",
                    "max_attempts",
                    "args",
                    "result",
                    "created_by",
                    "created_at",
                    "run_at",
                    "finalized_at",
                    "batch_id",
                    "worker_id",
                ],
            )?;
            if !detail.job.errors.is_empty() {
                println!();
                print_list(
                    Format::Table,
                    &detail.job.errors,
                    &["attempt", "at", "error"],
                )?;
            }
            println!();
            print_list(
                Format::Table,
                &detail.history,
                &["at", "state", "attempt", "worker_id", "note"],
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Cancel { id, out } => {
            let job = client.cancel_job(id).await?;
            print_one(
                out.output,
                &job,
                &["id", "kind", "state", "cancel_requested"],
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Retry { id, out } => {
            let job = client.retry_job(id).await?;
            print_one(
                out.output,
                &job,
                &["id", "kind", "state", "attempt", "run_at"],
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Watch(w) => watch::run(&client, w).await,
    }
}
