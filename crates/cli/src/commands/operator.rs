//! `command-center operator …`: manage operators directly in the database (works before the
//! server has ever started, and when every admin is locked out).

use std::process::ExitCode;

use anyhow::Context;
use cc_domain::{Actor, NewOperator, Operator, OperatorPatch, OperatorRole};
use cc_service::{Auth, ServiceError};

use super::remote::read_password;
use super::{open_store, require_current_schema, Output};
use crate::config::Config;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create an operator. The password is prompted for (no echo) or read with --password-stdin.
    Create {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: OperatorRole,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List operators.
    List {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Change an operator's role.
    SetRole {
        #[arg(long)]
        username: String,
        #[arg(long, value_parser = parse_role)]
        role: OperatorRole,
    },
    /// Disable an operator: it cannot log in, and its sessions and API tokens stop working.
    Disable {
        #[arg(long)]
        username: String,
    },
    /// Enable a disabled operator.
    Enable {
        #[arg(long)]
        username: String,
    },
    /// Set a new password (ends the operator's sessions).
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

fn parse_role(s: &str) -> Result<OperatorRole, String> {
    s.parse()
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    if matches!(args.action, Action::Create { .. }) {
        store.migrate_up().await.context("applying migrations")?;
    } else {
        require_current_schema(store.as_ref()).await?;
    }
    let auth = Auth::new(store.clone(), cfg.auth_settings())?;
    let actor = Actor::system("cli");
    let result = act(&auth, &actor, args.action).await;
    store.close().await;
    result
}

async fn act(auth: &Auth, actor: &Actor, action: Action) -> anyhow::Result<ExitCode> {
    match action {
        Action::Create {
            username,
            role,
            password_stdin,
        } => {
            let password = read_password(password_stdin, true)?;
            let op = auth
                .create_operator(
                    actor,
                    NewOperator {
                        username,
                        password,
                        role,
                    },
                )
                .await
                .map_err(explain)?;
            println!("created operator {} ({})", op.username, op.role);
        }
        Action::List { output } => {
            let ops = auth.list_operators().await?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&ops)?),
                Output::Table => print_table(&ops),
            }
        }
        Action::SetRole { username, role } => {
            let op = find(auth, &username).await?;
            let patch = OperatorPatch {
                role: Some(role),
                disabled: None,
            };
            let op = auth
                .update_operator(actor, op.id, patch, None)
                .await
                .map_err(explain)?;
            println!("{} is now {}", op.username, op.role);
        }
        Action::Disable { username } => set_disabled(auth, actor, &username, true).await?,
        Action::Enable { username } => set_disabled(auth, actor, &username, false).await?,
        Action::ResetPassword {
            username,
            password_stdin,
        } => {
            let op = find(auth, &username).await?;
            let password = read_password(password_stdin, true)?;
            auth.reset_password(actor, op.id, &password)
                .await
                .map_err(explain)?;
            println!(
                "password of {} changed; its sessions were ended",
                op.username
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn set_disabled(
    auth: &Auth,
    actor: &Actor,
    username: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let op = find(auth, username).await?;
    let patch = OperatorPatch {
        role: None,
        disabled: Some(disabled),
    };
    let op = auth
        .update_operator(actor, op.id, patch, None)
        .await
        .map_err(explain)?;
    println!(
        "{} is {}",
        op.username,
        if op.disabled { "disabled" } else { "enabled" }
    );
    Ok(())
}

async fn find(auth: &Auth, username: &str) -> anyhow::Result<Operator> {
    auth.find_operator(username)
        .await?
        .with_context(|| format!("no operator named `{username}`"))
}

/// Validation errors in words.
fn explain(e: ServiceError) -> anyhow::Error {
    match e {
        ServiceError::Validation(v) => anyhow::anyhow!(
            "{}",
            v.0.iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("; ")
        ),
        ServiceError::Conflict { field } => {
            anyhow::anyhow!("an operator with this {field} exists already")
        }
        other => other.into(),
    }
}

fn print_table(ops: &[Operator]) {
    println!(
        "{:<24} {:<9} {:<9} {:<26}",
        "USERNAME", "ROLE", "STATUS", "LAST LOGIN"
    );
    for o in ops {
        println!(
            "{:<24} {:<9} {:<9} {:<26}",
            o.username,
            o.role,
            if o.disabled { "disabled" } else { "enabled" },
            o.last_login_at
                .map_or_else(|| "never".to_owned(), |t| t.to_rfc3339())
        );
    }
}
