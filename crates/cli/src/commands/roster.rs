//! `command-center roster generate`: synthetic rosters for tests, demos and benchmarks.

use std::path::PathBuf;
use std::process::ExitCode;

use cc_roster::generate::{generate, GenFormat, GenOptions};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// Write a seeded synthetic roster of any size.
    Generate(GenerateArgs),
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// People to generate.
    #[arg(long, default_value_t = 1000)]
    rows: u64,
    /// The same seed always gives the same people.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// oneroster-1.2 (a folder, or a .zip when OUT ends in .zip) or csv (a file).
    #[arg(long, default_value = "oneroster-1.2", value_parser = parse_format)]
    format: GenFormat,
    /// Schools people are spread over.
    #[arg(long, default_value_t = 20)]
    schools: u32,
    /// Percent of students moved one school and grade on (a new school year).
    #[arg(long, default_value_t = 0)]
    drift: u32,
    /// Percent of people left out (they left), and as many newcomers added.
    #[arg(long, default_value_t = 0)]
    turnover: u32,
    /// Where to write.
    out: PathBuf,
}

fn parse_format(s: &str) -> Result<GenFormat, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let What::Generate(a) = args.what;
    let opts = GenOptions {
        rows: a.rows,
        seed: a.seed,
        format: a.format,
        schools: a.schools.max(1),
        drift_percent: a.drift.min(100),
        turnover_percent: a.turnover.min(100),
    };
    generate(&opts, &a.out)?;
    eprintln!(
        "wrote {} people to {}",
        opts.people().count(),
        a.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
