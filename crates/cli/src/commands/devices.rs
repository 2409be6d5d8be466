//! `command-center devices …`: devices, their compliance and the policy rules they fail.

use std::process::ExitCode;

use cc_client::Client;
use cc_domain::{Device, DevicePatch, NewDevice, Policy};
use serde_json::Value;

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use super::resolve;
use crate::output::{note, print_list, print_one, OutputArg};

const COLUMNS: &[&str] = &[
    "serial_number",
    "name",
    "platform",
    "os_version",
    "compliance",
    "failing",
    "last_check_in_at",
];

const PLATFORMS: [&str; 8] = [
    "windows", "macos", "chromeos", "ipados", "ios", "android", "linux", "other",
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
    /// List devices with their compliance and the policies they fail.
    List {
        #[arg(long, value_parser = PLATFORMS)]
        platform: Option<String>,
        #[arg(long, value_parser = ["unknown", "compliant", "noncompliant"])]
        compliance: Option<String>,
        /// Only devices assigned to this person (username, external id or id).
        #[arg(long)]
        assigned_to: Option<String>,
        /// Free text over serial number, name and model.
        #[arg(long)]
        query: Option<String>,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show one device (by serial number, name or id), with each policy it fails and why.
    Get {
        name: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Register a device.
    Create {
        serial_number: String,
        #[arg(long, value_parser = PLATFORMS)]
        platform: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        os_version: Option<String>,
        /// The person it is assigned to (username, external id or id).
        #[arg(long)]
        assigned_to: Option<String>,
        /// A fact the device reports, FACT=VALUE (repeatable), e.g. disk_encryption=true.
        #[arg(long = "fact", value_name = "FACT=VALUE")]
        facts: Vec<String>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Change fields of a device: `--set os_version=14.7 --set 'facts={"disk_encryption":true}'`.
    Update {
        name: String,
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Refuse (exit 4) unless the device is still at this version.
        #[arg(long)]
        if_version: Option<i64>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Remove a device.
    Delete { name: String },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::List {
            platform,
            compliance,
            assigned_to,
            query,
            limit,
            out,
        } => {
            let assigned = match assigned_to {
                Some(p) => Some(resolve::user(&client, &p).await?.id.to_string()),
                None => None,
            };
            let mut q: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [
                ("platform", &platform),
                ("compliance", &compliance),
                ("assigned_user_id", &assigned),
                ("q", &query),
            ] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            let listing = client
                .list_pages::<Device>("/devices", &q, limit.get(), limit.page_size)
                .await?;
            let policies = policies(&client).await?;
            let rows: Vec<Value> = listing
                .items
                .iter()
                .map(|d| with_failing(d, &policies))
                .collect::<anyhow::Result<_>>()?;
            print_list(out.output, &rows, COLUMNS)?;
            if listing.more {
                note("(there are more: raise --limit, or --limit 0 for all)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Get { name, out } => {
            let d = resolve::device(&client, &name).await?;
            let v = with_failing(&d, &policies(&client).await?)?;
            print_one(out.output, &v, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Create {
            serial_number,
            platform,
            name,
            model,
            os_version,
            assigned_to,
            facts,
            out,
        } => {
            let assigned = match assigned_to {
                Some(p) => Some(resolve::user(&client, &p).await?.id),
                None => None,
            };
            let input: NewDevice = listing::typed(
                "new device",
                serde_json::json!({"serial_number": serial_number, "platform": platform,
                    "name": name, "model": model, "os_version": os_version,
                    "assigned_user_id": assigned,
                    "facts": Value::Object(listing::fields(&facts)?)})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            )?;
            let d = client.create_device(&input).await?;
            print_one(out.output, &d, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Update {
            name,
            set,
            if_version,
            out,
        } => {
            let patch: DevicePatch = listing::typed("update", listing::fields(&set)?)?;
            let d = resolve::device(&client, &name).await?;
            let d = client.update_device(d.id, &patch, if_version).await?;
            print_one(out.output, &d, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Delete { name } => {
            let d = resolve::device(&client, &name).await?;
            client.delete_device(d.id).await?;
            println!("deleted device {}", d.serial_number);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn policies(client: &Client) -> anyhow::Result<Vec<Policy>> {
    Ok(client
        .list_all::<Policy>("/policies", &[], None)
        .await?
        .items)
}

/// The device as JSON with `failing`: the enabled policies for its platform whose rule its
/// facts do not pass (the same evaluation that sets `compliance`), each with its remediation.
fn with_failing(d: &Device, policies: &[Policy]) -> anyhow::Result<Value> {
    let failing: Vec<Value> = policies
        .iter()
        .filter(|p| p.enabled && p.applies_to(d.platform) && !p.rule.evaluate(&d.facts))
        .map(|p| {
            serde_json::json!({"policy": p.name, "severity": p.severity,
                "rule": p.rule, "remediation": p.remediation})
        })
        .collect();
    let mut v = serde_json::to_value(d)?;
    if let Some(o) = v.as_object_mut() {
        let names: Vec<Value> = failing.iter().map(|f| f["policy"].clone()).collect();
        o.insert("failing".into(), Value::Array(names));
        o.insert("failing_rules".into(), Value::Array(failing));
    }
    Ok(v)
}
