//! `command-center token …` and `command-center login`: API tokens and access tokens, through
//! a running server (`--url` / `CC_URL`, `--token` / `CC_TOKEN`).

use std::process::ExitCode;

use cc_domain::{NewApiToken, OperatorRole};
use uuid::Uuid;

use super::remote::{read_password, RemoteArgs};
use super::Output;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    remote: RemoteArgs,
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create an API token; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = |s: &str| s.parse::<OperatorRole>())]
        role: OperatorRole,
        /// Lifetime in days (1-730, default 90).
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// List API tokens.
    List {
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// Revoke an API token.
    Revoke { id: Uuid },
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = args.remote.authed_client()?;
    match args.action {
        Action::Create {
            name,
            role,
            expires_in_days,
            output,
        } => {
            let created = client
                .create_token(&NewApiToken {
                    name,
                    role,
                    expires_in_days,
                })
                .await?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&created)?),
                Output::Table => {
                    eprintln!(
                        "created API token {} ({}, expires {}); the secret below is shown only once:",
                        created.token.name, created.token.role, created.token.expires_at
                    );
                    println!("{}", created.secret);
                }
            }
        }
        Action::List { output } => {
            let tokens = client.list_tokens().await?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&tokens)?),
                Output::Table => {
                    println!(
                        "{:<36} {:<20} {:<9} {:<8} {:<26}",
                        "ID", "NAME", "ROLE", "STATUS", "EXPIRES"
                    );
                    let now = chrono::Utc::now();
                    for t in tokens {
                        let status = if t.revoked_at.is_some() {
                            "revoked"
                        } else if t.expires_at <= now {
                            "expired"
                        } else {
                            "active"
                        };
                        println!(
                            "{:<36} {:<20} {:<9} {:<8} {:<26}",
                            t.id,
                            t.name,
                            t.role,
                            status,
                            t.expires_at.to_rfc3339()
                        );
                    }
                }
            }
        }
        Action::Revoke { id } => {
            let t = client.revoke_token(id).await?;
            println!("revoked API token {}", t.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    remote: RemoteArgs,
    #[arg(long, default_value = "admin")]
    username: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

/// Logs in and prints the access token (for `CC_TOKEN`), e.g.
/// `export CC_TOKEN=$(command-center login --username admin)`.
pub async fn login(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let password = read_password(args.password_stdin, false)?;
    let tokens = args
        .remote
        .client()?
        .login(&args.username, &password)
        .await?;
    println!("{}", tokens.access_token);
    eprintln!("access token valid for {} seconds", tokens.expires_in);
    Ok(ExitCode::SUCCESS)
}
