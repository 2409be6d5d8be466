//! `command-center policies …`: device policies, over the API.

use std::process::ExitCode;

use cc_domain::{NewPolicy, PolicyPatch};

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use super::resolve;
use crate::output::{print_one, OutputArg};

const COLUMNS: &[&str] = &[
    "name",
    "category",
    "severity",
    "enabled",
    "platforms",
    "rule",
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
    /// List policies.
    List {
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show one policy (by name or id).
    Get {
        name: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Create a policy; its rule is JSON, e.g. '{"fact":"disk_encryption","op":"eq","value":true}'.
    Create {
        name: String,
        #[arg(long)]
        category: String,
        #[arg(long)]
        rule: String,
        /// A platform it applies to (repeatable; none = all).
        #[arg(long = "platform")]
        platforms: Vec<String>,
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        remediation: Option<String>,
        /// Create it switched off.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Change fields of a policy: `--set enabled=false`.
    Update {
        name: String,
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Refuse (exit 4) unless the policy is still at this version.
        #[arg(long)]
        if_version: Option<i64>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Delete a policy.
    Delete { name: String },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::List { limit, out } => {
            listing::list(&client, "/policies", &[], limit, out.output, COLUMNS).await
        }
        Action::Get { name, out } => {
            let p = resolve::policy(&client, &name).await?;
            print_one(out.output, &p, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Create {
            name,
            category,
            rule,
            platforms,
            severity,
            description,
            remediation,
            disabled,
            out,
        } => {
            let rule: serde_json::Value = serde_json::from_str(&rule)
                .map_err(|e| crate::exit::Usage(format!("--rule is not JSON: {e}")))?;
            let mut body = serde_json::json!({"name": name, "category": category, "rule": rule,
                "platforms": platforms, "description": description, "remediation": remediation,
                "enabled": !disabled});
            if let (Some(s), Some(o)) = (severity, body.as_object_mut()) {
                o.insert("severity".into(), s.into());
            }
            let input: NewPolicy =
                listing::typed("new policy", body.as_object().cloned().unwrap_or_default())?;
            let p = client.create_policy(&input).await?;
            print_one(out.output, &p, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Update {
            name,
            set,
            if_version,
            out,
        } => {
            let patch: PolicyPatch = listing::typed("update", listing::fields(&set)?)?;
            let p = resolve::policy(&client, &name).await?;
            let p = client.update_policy(p.id, &patch, if_version).await?;
            print_one(out.output, &p, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Delete { name } => {
            let p = resolve::policy(&client, &name).await?;
            client.delete_policy(p.id).await?;
            println!("deleted policy {}", p.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}
