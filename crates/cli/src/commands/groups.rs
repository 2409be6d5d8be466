//! `command-center groups …`: groups and their members, over the API.

use std::process::ExitCode;

use cc_domain::{GroupPatch, NewGroup};

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use super::resolve;
use crate::output::{print_one, OutputArg};

const COLUMNS: &[&str] = &[
    "name",
    "display_name",
    "kind",
    "school",
    "member_count",
    "id",
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
    /// List groups.
    List {
        #[arg(long, value_parser = ["school", "class", "security"])]
        kind: Option<String>,
        #[arg(long)]
        school: Option<String>,
        /// Free text over name and display name.
        #[arg(long)]
        query: Option<String>,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show one group (by name or id).
    Get {
        name: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Create a group.
    Create {
        name: String,
        #[arg(long, default_value = "security", value_parser = ["school", "class", "security"])]
        kind: String,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        school: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        external_id: Option<String>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Change fields of a group: `--set description="Year 9"`.
    Update {
        name: String,
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Refuse (exit 4) unless the group is still at this version.
        #[arg(long)]
        if_version: Option<i64>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Delete a group.
    Delete { name: String },
    /// List a group's members.
    Members {
        name: String,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Add a person (username, external id or id) to a group.
    AddMember { group: String, person: String },
    /// Remove a person from a group.
    RemoveMember { group: String, person: String },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::List {
            kind,
            school,
            query,
            limit,
            out,
        } => {
            let mut q: Vec<(&str, &str)> = Vec::new();
            for (k, v) in [("kind", &kind), ("school", &school), ("q", &query)] {
                if let Some(v) = v {
                    q.push((k, v));
                }
            }
            listing::list(&client, "/groups", &q, limit, out.output, COLUMNS).await
        }
        Action::Get { name, out } => {
            let g = resolve::group(&client, &name).await?;
            print_one(out.output, &g, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Create {
            name,
            kind,
            display_name,
            school,
            description,
            external_id,
            out,
        } => {
            let input: NewGroup = listing::typed(
                "new group",
                serde_json::json!({"name": name, "kind": kind, "display_name": display_name,
                    "school": school, "description": description, "external_id": external_id})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            )?;
            let g = client.create_group(&input).await?;
            print_one(out.output, &g, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Update {
            name,
            set,
            if_version,
            out,
        } => {
            let patch: GroupPatch = listing::typed("update", listing::fields(&set)?)?;
            let g = resolve::group(&client, &name).await?;
            let g = client.update_group(g.id, &patch, if_version).await?;
            print_one(out.output, &g, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Delete { name } => {
            let g = resolve::group(&client, &name).await?;
            client.delete_group(g.id).await?;
            println!("deleted group {}", g.name);
            Ok(ExitCode::SUCCESS)
        }
        Action::Members { name, limit, out } => {
            let g = resolve::group(&client, &name).await?;
            listing::list(
                &client,
                &format!("/groups/{}/members", g.id),
                &[],
                limit,
                out.output,
                super::users::COLUMNS,
            )
            .await
        }
        Action::AddMember { group, person } => {
            let g = resolve::group(&client, &group).await?;
            let u = resolve::user(&client, &person).await?;
            client.add_member(g.id, u.id).await?;
            println!("{} is in {}", u.username, g.name);
            Ok(ExitCode::SUCCESS)
        }
        Action::RemoveMember { group, person } => {
            let g = resolve::group(&client, &group).await?;
            let u = resolve::user(&client, &person).await?;
            client.remove_member(g.id, u.id).await?;
            println!("{} is no longer in {}", u.username, g.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}
