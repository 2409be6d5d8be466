//! `command-center cloudflare …`: the `[cloudflare]` declared state and actions, run from
//! this machine with the configured token.

use std::process::ExitCode;

use anyhow::Context;
use cc_connectors::cloudflare::{Cloudflare, CloudflarePlan, PurgeRequest};

use super::{Output, OutputArgs};
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Verify the API token and look up every configured zone.
    Check(OutputArgs),
    /// Show the creates, updates and deletes of DNS records and WAF rules (read-only).
    Plan(OutputArgs),
    /// Make DNS records and WAF rules as declared.
    Apply {
        /// Apply even when the delete guard would refuse.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Purge a zone's cache: everything, or by URL, host or prefix.
    Purge {
        /// The zone (as configured).
        zone: String,
        #[arg(long, conflicts_with_all = ["url", "host", "prefix"])]
        everything: bool,
        #[arg(long, conflicts_with_all = ["host", "prefix"])]
        url: Vec<String>,
        #[arg(long, conflicts_with = "prefix")]
        host: Vec<String>,
        #[arg(long)]
        prefix: Vec<String>,
    },
    /// List certificates with their expiry and validation status.
    Certificates(OutputArgs),
    /// Ask Cloudflare to validate a certificate pack again.
    RetryValidation { zone: String, pack_id: String },
}

fn service(cfg: &Config) -> anyhow::Result<Cloudflare> {
    let c = cfg
        .cloudflare
        .clone()
        .context("no [cloudflare] section in the configuration")?;
    Ok(Cloudflare::new(c)?)
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let cf = service(cfg)?;
    match args.command {
        Sub::Check(o) => {
            let state = cf.check().await?;
            match o.output {
                Output::Json => println!("{}", serde_json::json!({ "cloudflare": state })),
                Output::Table => println!("cloudflare: {state}"),
            }
        }
        Sub::Plan(o) => {
            let plan = cf.plan().await?;
            print_plan(&plan, o.output)?;
        }
        Sub::Apply { force, output } => {
            let plan = cf.plan().await?;
            print_plan(&plan, output.output)?;
            let summary = cf.apply(&plan, force).await?;
            match output.output {
                Output::Json => println!("{}", serde_json::to_string(&summary)?),
                Output::Table => println!(
                    "applied: {} DNS change(s), {} WAF change(s)",
                    summary.dns_changes, summary.waf_changes
                ),
            }
        }
        Sub::Purge {
            zone,
            everything,
            url,
            host,
            prefix,
        } => {
            let request = if everything {
                PurgeRequest::Everything
            } else if !url.is_empty() {
                PurgeRequest::Urls(url)
            } else if !host.is_empty() {
                PurgeRequest::Hosts(host)
            } else if !prefix.is_empty() {
                PurgeRequest::Prefixes(prefix)
            } else {
                anyhow::bail!("say what to purge: --everything, --url, --host or --prefix");
            };
            request.validate().map_err(anyhow::Error::msg)?;
            let requests = cf.purge(&zone, &request).await?;
            println!("purged {zone} in {requests} request(s)");
        }
        Sub::Certificates(o) => {
            let certs = cf.certificates().await?;
            match o.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&certs)?),
                Output::Table => {
                    println!(
                        "{:<28} {:<36} {:<20} {:<22} VALIDATION",
                        "ZONE", "HOST", "STATUS", "EXPIRES"
                    );
                    for c in certs {
                        println!(
                            "{:<28} {:<36} {:<20} {:<22} {}",
                            c.zone,
                            c.host,
                            c.status,
                            c.expires_on.map_or_else(
                                || "-".into(),
                                |t| t.format("%Y-%m-%d %H:%M UTC").to_string()
                            ),
                            c.verification_status.as_deref().unwrap_or("-")
                        );
                    }
                }
            }
        }
        Sub::RetryValidation { zone, pack_id } => {
            cf.retry_validation(&zone, &pack_id).await?;
            println!("validation restarted for {pack_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &CloudflarePlan, output: Output) -> anyhow::Result<()> {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(plan)?);
        return Ok(());
    }
    for d in &plan.dns {
        println!("DNS {} ({} managed record(s))", d.zone, d.managed_count);
        for c in &d.creates {
            println!("  + {} {} {}", c.record_type, c.name, c.content);
        }
        for u in &d.updates {
            println!(
                "  ~ {} {} {} -> {}",
                u.after.record_type, u.after.name, u.before.content, u.after.content
            );
        }
        for x in &d.deletes {
            println!(
                "  - {} {} {}",
                x.record.record_type, x.record.name, x.record.content
            );
        }
        for x in &d.conflicts {
            println!(
                "  ! {} {} exists and is not managed: left alone",
                x.record.record_type, x.record.name
            );
        }
    }
    for w in &plan.waf {
        println!(
            "WAF {} ({} managed, {} other rule(s) kept)",
            w.zone, w.managed_count, w.unmanaged_count
        );
        for r in &w.creates {
            println!("  + {} {}", r.rule_ref, r.action);
        }
        for r in &w.updates {
            println!("  ~ {} {}", r.rule_ref, r.action);
        }
        for r in &w.deletes {
            println!("  - {}", r.rule_ref);
        }
    }
    if plan.is_empty() {
        println!("nothing to change");
    }
    Ok(())
}
