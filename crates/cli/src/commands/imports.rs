//! `command-center imports …`: roster import runs over the API (uploading a file is
//! `command-center import --url …`).

use std::process::ExitCode;

use serde_json::{Map, Value};
use uuid::Uuid;

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use crate::output::{print_list, print_one, Format, OutputArg};

const COLUMNS: &[&str] = &[
    "id",
    "file_name",
    "format",
    "status",
    "dry_run",
    "error_count",
    "actor",
    "created_at",
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
    /// List import runs, newest first.
    List {
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show an import run: its counts, refusals and the first row errors.
    Get {
        id: Uuid,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Every row error of an import run (csv prints the server's errors.csv as it is).
    Errors {
        id: Uuid,
        #[command(flatten)]
        out: OutputArg,
    },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::List { limit, out } => {
            listing::list(&client, "/imports", &[], limit, out.output, COLUMNS).await
        }
        Action::Get { id, out } => {
            let run = client.get_import(id).await?;
            print_one(
                out.output,
                &run,
                &[
                    "id",
                    "file_name",
                    "format",
                    "status",
                    "dry_run",
                    "counts",
                    "refusals",
                    "error_count",
                    "failure",
                    "progress",
                    "actor",
                    "created_at",
                    "planned_at",
                    "applied_at",
                ],
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Errors { id, out } => {
            let text = client.import_errors_csv(id).await?;
            if out.output == Format::Csv {
                print!("{text}");
                return Ok(ExitCode::SUCCESS);
            }
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let headers: Vec<String> = reader.headers()?.iter().map(str::to_owned).collect();
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record?;
                let row: Map<String, Value> = headers
                    .iter()
                    .zip(record.iter())
                    .map(|(h, v)| (h.clone(), Value::String(v.to_owned())))
                    .collect();
                rows.push(Value::Object(row));
            }
            let columns: Vec<&str> = headers.iter().map(String::as_str).collect();
            print_list(out.output, &rows, &columns)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
