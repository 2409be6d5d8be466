//! `command-center bench …`: measurements for docs/performance.md. Benchmarks, not tests:
//! they report figures and never fail on a time threshold (`bench api` fails only when a
//! console page is over its weight budget, a size).

mod api;
mod import;
mod load;
mod provision;
mod queue;
mod scim;

use std::process::ExitCode;

use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand)]
enum What {
    /// HTTP throughput and latency: list and create users, console pages, against a minimal endpoint as the ceiling; console page weights.
    Api(api::Args),
    /// Roster import: dry run and apply of a synthetic OneRoster 1.2 export (default 1,000,000 people).
    Import(import::Args),
    /// Provisioning into LDAP: a synthetic roster imported and its accounts provisioned into a real slapd, against ldapadd loading the same entries (alternating, medians).
    Provision(provision::Args),
    /// Job queue: enqueue rate, burn-down rate and idle enqueue-to-start latency.
    Queue(queue::Args),
    /// SCIM endpoint: create, filter by userName and PATCH against scim2-server on the same machine (alternating, medians).
    Scim(scim::Args),
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Api(a) => api::run(cfg, a).await,
        What::Import(a) => import::run(cfg, a).await,
        What::Provision(a) => provision::run(cfg, a).await,
        What::Queue(a) => queue::run(cfg, a).await,
        What::Scim(a) => scim::run(cfg, a).await,
    }
}
