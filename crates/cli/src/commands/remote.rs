//! What every command that talks to a running server takes: `--url` and `--token`.

use std::time::Duration;

use anyhow::Context;

#[derive(clap::Args, Clone)]
pub struct RemoteArgs {
    /// Base URL of the server.
    #[arg(
        long,
        env = "CC_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// An access token or API token (`command-center login` prints one).
    #[arg(long, env = "CC_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Give up on a request after this many seconds.
    #[arg(long, default_value_t = 30, global = true)]
    pub timeout: u64,
}

impl RemoteArgs {
    /// A client for the server, sending the token when given.
    pub fn client(&self) -> anyhow::Result<cc_client::Client> {
        let mut c =
            cc_client::Client::new(&self.url)?.with_timeout(Duration::from_secs(self.timeout));
        if let Some(t) = self.token.as_deref().filter(|t| !t.is_empty()) {
            c = c.with_token(t);
        }
        Ok(c)
    }

    /// A client that must carry a token.
    pub fn authed_client(&self) -> anyhow::Result<cc_client::Client> {
        self.token
            .as_deref()
            .filter(|t| !t.is_empty())
            .context("this command needs credentials: pass --token or set CC_TOKEN (see `command-center login`)")?;
        self.client()
    }
}

/// Reads a password: the first line of standard input with `--password-stdin`, otherwise a
/// prompt on the terminal without echo (asked twice when `confirm`).
pub fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        let pw = line.trim_end_matches(['\n', '\r']).to_owned();
        anyhow::ensure!(!pw.is_empty(), "standard input held no password");
        return Ok(pw);
    }
    use std::io::IsTerminal;
    anyhow::ensure!(
        std::io::stdin().is_terminal(),
        "no terminal to prompt for the password; pass --password-stdin and pipe it in"
    );
    let pw = rpassword::prompt_password("Password: ").context("reading the password")?;
    if confirm {
        let again =
            rpassword::prompt_password("Password (again): ").context("reading the password")?;
        anyhow::ensure!(pw == again, "the passwords differ");
    }
    Ok(pw)
}
