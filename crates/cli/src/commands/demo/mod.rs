//! `command-center demo`: the five-minute story of Command Center, told against a fresh
//! embedded instance (or a running server with `--url` and `--token`), one step at a time, in
//! plain language, with every call printed as the `curl` and `command-center` commands that
//! repeat it.

mod instance;
mod show;
mod story;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::config::Config;
use show::Narrator;

/// The sample roster export the story imports.
const ROSTER: &str = include_str!("../../../../../examples/rosters/demo-district.csv");
const ROSTER_NAME: &str = "demo-district.csv";

#[derive(clap::Args)]
pub struct Args {
    /// A running server to tell the story against (with --token) instead of a fresh embedded
    /// instance. The story adds people, a device and a policy to it.
    #[arg(long, requires = "token")]
    url: Option<String>,
    /// An operator or API token for --url (role admin or operator).
    #[arg(long, env = "CC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Seconds to pause between steps.
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    pace: u64,
    /// Do not pause between steps, and end at once when the story is told (for CI).
    #[arg(long)]
    no_pause: bool,
    /// Keep the embedded instance's data (database, accounts) in this folder, instead of a
    /// temporary one removed at the end. It must be empty or absent.
    #[arg(long, conflicts_with = "url")]
    data_dir: Option<PathBuf>,
}

pub async fn run(_cfg: Config, args: Args) -> anyhow::Result<ExitCode> {
    let pace = (!args.no_pause && args.pace > 0).then(|| Duration::from_secs(args.pace));
    if let (Some(url), Some(token)) = (&args.url, &args.token) {
        let client = cc_client::Client::new(url)?.with_token(token.clone());
        let mut n = Narrator::new(client, pace);
        intro_remote(&n, url);
        story::tell(&mut n, &story::Setting::remote()).await?;
        return Ok(ExitCode::SUCCESS);
    }
    let temp;
    let dir = match &args.data_dir {
        Some(d) => {
            let empty = std::fs::read_dir(d).map_or(true, |mut e| e.next().is_none());
            anyhow::ensure!(
                empty,
                "{} is not empty; the demo needs a fresh folder",
                d.display()
            );
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
            d.canonicalize()?
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("command-center-demo-")
                .tempdir()?;
            temp.path().to_owned()
        }
    };
    let instance = instance::Instance::start(&dir).await?;
    let client = cc_client::Client::new(&instance.url())?;
    let token = client
        .login("admin", &instance.admin_password)
        .await
        .context("logging in to the demo instance")?;
    let mut n = Narrator::new(client.with_token(token.access_token), pace);
    intro_embedded(&n, &instance);
    let setting = story::Setting::embedded(&instance.layout);
    let told = story::tell(&mut n, &setting).await;
    if told.is_ok() && pace.is_some() {
        n.say("\nThe demo instance keeps running so you can look around. Press Enter to stop it.");
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)
        })
        .await;
    }
    instance.stop().await?;
    told?;
    if args.data_dir.is_some() {
        println!(
            "\nThe data stays in {}: `command-center serve --config {}` starts it again.",
            dir.display(),
            dir.join("command-center.toml").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn intro_embedded(n: &Narrator, instance: &instance::Instance) {
    let l = &instance.layout;
    n.say(&format!(
        "Command Center demo\n\n\
         A fresh Command Center is running at {url} with its data in {dir}:\n\
         a SQLite database, and a demo target that keeps one file per account in\n\
         {accounts} (a stand-in for Active Directory or LDAP; look inside at any time).\n\n\
         To repeat any step by hand in another terminal (this instance only, it is thrown away):\n",
        url = instance.url(),
        dir = l.dir.display(),
        accounts = l.accounts.display(),
    ));
    n.shell(&format!("export CC_URL={}", instance.url()));
    n.shell(&format!(
        "export CC_TOKEN=$(echo {} | command-center login --url $CC_URL --username admin --password-stdin)",
        instance.admin_password
    ));
}

fn intro_remote(n: &Narrator, url: &str) {
    n.say(&format!(
        "Command Center demo, against the server at {url}.\n\
         To repeat any step by hand, set CC_URL and CC_TOKEN the same way:\n"
    ));
    n.shell(&format!("export CC_URL={url}"));
    n.shell("export CC_TOKEN=…   # the token you passed with --token");
}
