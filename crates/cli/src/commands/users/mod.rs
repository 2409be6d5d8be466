//! `command-center users …`: the directory's people and their lifecycle, over the API.

mod actions;

use std::process::ExitCode;

use cc_domain::{NewUser, UserPatch};

use super::listing::{self, LimitArg};
use super::remote::RemoteArgs;
use super::resolve;
use crate::output::{print_one, OutputArg};

/// The columns of `users list`.
pub const COLUMNS: &[&str] = &[
    "username",
    "given_name",
    "family_name",
    "role",
    "grade",
    "school",
    "status",
    "external_id",
];

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    action: Action,
}

/// The filters of `GET /api/v1/users`, shared by `list` and `--all-matching`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct UserFilter {
    #[arg(long)]
    school: Option<String>,
    /// -1 = pre-K, 0 = kindergarten, 1-12.
    #[arg(long, allow_negative_numbers = true)]
    grade: Option<i16>,
    #[arg(long, value_parser = ["student", "teacher", "staff", "administrator"])]
    role: Option<String>,
    #[arg(long, value_parser = ["pending", "active", "suspended", "deprovisioned"])]
    status: Option<String>,
    /// A group's name.
    #[arg(long)]
    group: Option<String>,
    /// Free text over username, names, e-mail and external id.
    #[arg(long)]
    query: Option<String>,
    /// How their targets stand.
    #[arg(long, value_parser = ["in_sync", "pending", "failed"])]
    sync: Option<String>,
}

impl UserFilter {
    /// As API query parameters (and the bulk filter's fields).
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        let mut put = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                q.push((k, v));
            }
        };
        put("school", self.school.clone());
        put("grade", self.grade.map(|g| g.to_string()));
        put("role", self.role.clone());
        put("status", self.status.clone());
        put("group", self.group.clone());
        put("q", self.query.clone());
        put("sync", self.sync.clone());
        q
    }

    fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }
}

#[derive(clap::Subcommand)]
enum Action {
    /// List people, filtered (paged through the API up to --limit).
    List {
        #[command(flatten)]
        filter: UserFilter,
        #[command(flatten)]
        limit: LimitArg,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show one person (by username, external id or id).
    Get {
        name: String,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Add a person to the directory (status pending unless --status).
    Create {
        username: String,
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        #[arg(long, default_value = "student", value_parser = ["student", "teacher", "staff", "administrator"])]
        role: String,
        #[arg(long, allow_negative_numbers = true)]
        grade: Option<i16>,
        #[arg(long)]
        school: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        external_id: Option<String>,
        #[arg(long, value_parser = ["pending", "active", "suspended"])]
        status: Option<String>,
        /// A group to put the person in (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Change fields of a person: `--set school=lincoln-hs --set grade=10` (`null` clears).
    Update {
        name: String,
        /// FIELD=VALUE (repeatable).
        #[arg(long = "set", value_name = "FIELD=VALUE", required = true)]
        set: Vec<String>,
        /// Refuse (exit 4) unless the person is still at this version.
        #[arg(long)]
        if_version: Option<i64>,
        #[command(flatten)]
        out: OutputArg,
    },
    /// Remove a person from the directory.
    Delete { name: String },
    /// Provision people's accounts on every target.
    Provision(actions::ActionArgs),
    /// Suspend people (accounts disabled on every target).
    Suspend(actions::ActionArgs),
    /// Give people a new temporary password (shown once).
    ResetPassword(actions::ActionArgs),
    /// Remove people's accounts from every target.
    Deprovision(actions::ActionArgs),
    /// Push people's current details to every target.
    UpdateTargets(actions::ActionArgs),
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::List { filter, limit, out } => {
            let pairs = filter.pairs();
            let q: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            listing::list(&client, "/users", &q, limit, out.output, COLUMNS).await
        }
        Action::Get { name, out } => {
            let user = resolve::user(&client, &name).await?;
            print_one(out.output, &user, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Create {
            username,
            given_name,
            family_name,
            role,
            grade,
            school,
            email,
            external_id,
            status,
            groups,
            out,
        } => {
            let input: NewUser = listing::typed(
                "new person",
                serde_json::json!({
                    "username": username, "given_name": given_name, "family_name": family_name,
                    "role": role, "grade": grade, "school": school, "email": email,
                    "external_id": external_id, "status": status, "groups": groups,
                })
                .as_object()
                .cloned()
                .unwrap_or_default(),
            )?;
            let user = client.create_user(&input).await?;
            print_one(out.output, &user, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Update {
            name,
            set,
            if_version,
            out,
        } => {
            let patch: UserPatch = listing::typed("update", listing::fields(&set)?)?;
            let user = resolve::user(&client, &name).await?;
            let user = client.update_user(user.id, &patch, if_version).await?;
            print_one(out.output, &user, &[])?;
            Ok(ExitCode::SUCCESS)
        }
        Action::Delete { name } => {
            let user = resolve::user(&client, &name).await?;
            client.delete_user(user.id).await?;
            println!("deleted {}", user.username);
            Ok(ExitCode::SUCCESS)
        }
        Action::Provision(a) => actions::run(&client, "provision", a).await,
        Action::Suspend(a) => actions::run(&client, "suspend", a).await,
        Action::ResetPassword(a) => actions::run(&client, "reset-password", a).await,
        Action::Deprovision(a) => actions::run(&client, "deprovision", a).await,
        Action::UpdateTargets(a) => actions::run(&client, "update", a).await,
    }
}
