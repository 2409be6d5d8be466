//! `command-center health`: the container health check. Needs no curl in the image.

use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of the server.
    #[arg(long, env = "CC_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// Print nothing; only the exit code tells.
    #[arg(long, short)]
    quiet: bool,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = cc_client::Client::new(&args.url)?.with_timeout(Duration::from_secs(args.timeout));
    match client.ready().await {
        Ok((ready, report)) => {
            if !args.quiet {
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Ok(if ready {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(e) => {
            if !args.quiet {
                eprintln!("not ready: {e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
