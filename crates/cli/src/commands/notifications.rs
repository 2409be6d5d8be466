//! `command-center notifications …`: a test message to a channel and the deliveries log,
//! through a running server.

use std::process::ExitCode;

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use crate::output::{print_one, OutputArg};

const COLUMNS: &[&str] = &[
    "id",
    "channel",
    "event",
    "severity",
    "state",
    "attempts",
    "title",
    "error",
    "created_at",
];

const OUTCOMES: [&str; 6] = [
    "pending",
    "sent",
    "failed",
    "deduplicated",
    "held",
    "digested",
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
    /// Queue a test message to a configured channel (past its filters and dedupe) and print
    /// the delivery's id; follow it with `notifications deliveries --channel CHANNEL`.
    Test {
        /// The channel's name, as configured under [[notifications.channels]].
        channel: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// List deliveries, newest first: each event for each channel and what became of it.
    Deliveries {
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, value_parser = OUTCOMES)]
        outcome: Option<String>,
        /// An event kind, e.g. job.discarded or import.refused.
        #[arg(long)]
        event: Option<String>,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::Test { channel, out } => {
            let queued = client.test_notification(&channel).await?;
            print_one(out.output, &queued, &["delivery_id", "channel"])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Deliveries {
            channel,
            outcome,
            event,
            limit,
            out,
        } => {
            let mut q: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [
                ("channel", &channel),
                ("outcome", &outcome),
                ("event", &event),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            listing::list(
                &client,
                "/notifications/deliveries",
                &q,
                limit,
                out.output,
                COLUMNS,
            )
            .await
        }
    }
}
