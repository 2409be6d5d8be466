//! `command-center`: the one binary.

mod commands;
mod config;
mod exit;
mod output;
mod telemetry;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc: small allocations (the many short strings of a million-person roster and
/// directory snapshot) cost far less memory than with the system allocator. Built without
/// transparent huge pages (`no_thp`), and [`no_huge_pages`] keeps the kernel from using them
/// anyway: a heap in 2 MiB pages keeps a whole huge page resident for a few live bytes, which
/// made up most of an idle server's anonymous memory.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "command-center",
    version,
    about = "Identity and device lifecycle automation for school districts"
)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, global = true, env = "CC_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL (overrides configuration and CC_DATABASE_URL).
    #[arg(long, global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server (and, unless --no-workers, job workers).
    Serve(commands::serve::Args),
    /// Run job workers only.
    Worker(commands::worker::Args),
    /// Apply, revert or inspect database migrations.
    Migrate(commands::migrate::Args),
    /// Load the demo data set (idempotent).
    Seed(commands::OutputArgs),
    /// Work with the audit trail: list it (through a server) and verify its hash chain.
    Audit(commands::audit::Args),
    /// People: list, show, create, change, delete, and their lifecycle (provision, suspend,
    /// reset-password, deprovision, update-targets), through a running server.
    Users(commands::users::Args),
    /// Groups and their members, through a running server.
    Groups(commands::groups::Args),
    /// Devices, their compliance and the policy rules they fail, through a running server.
    Devices(commands::devices::Args),
    /// Device policies, through a running server.
    Policies(commands::policies::Args),
    /// Jobs: list, show, cancel, retry, and watch them live, through a running server.
    Jobs(commands::jobs::Args),
    /// Roster import runs and their row errors, through a running server.
    Imports(commands::imports::Args),
    /// Notifications: send a test message to a channel, list deliveries, through a running
    /// server.
    Notifications(commands::notifications::Args),
    /// Check a running server's readiness; exits non-zero when not ready.
    Health(commands::health::Args),
    /// Print the effective configuration with secrets redacted.
    Config(commands::OutputArgs),
    /// Manage operators directly in the database.
    Operator(commands::operator::Args),
    /// Manage API tokens through a running server.
    Token(commands::token::Args),
    /// Log in to a running server and print an access token.
    Login(commands::token::LoginArgs),
    /// Validate a running deployment (probes, database, migrations, workers, Redis, a job round
    /// trip, every lifecycle target, metrics, API, audit chain): a pass/fail table, exit 1 on
    /// failure.
    Check(commands::check::Args),
    /// People whose targets have not caught up (sync state failed, pending or in_sync), with
    /// the failed targets and their errors.
    Sync(commands::sync::Args),
    /// Measure performance (see docs/performance.md).
    Bench(commands::bench::Args),
    /// Import a roster export (own CSV, OneRoster 1.1/1.2, SDS v2.1): preview, then apply.
    Import(commands::import::Args),
    /// Roster tools: generate synthetic rosters.
    Roster(commands::roster::Args),
    /// The five-minute story, narrated step by step against a fresh embedded instance (or
    /// --url a running server), each step printed as the curl and CLI commands that repeat it.
    Demo(commands::demo::Args),
    /// Cloudflare: DNS records and WAF rules as declared state, cache purge, certificates.
    #[command(subcommand_required = true)]
    Cloudflare(commands::cloudflare::Args),
    /// Print a shell completion script, e.g. `command-center completions bash >
    /// /etc/bash_completion.d/command-center`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (roff): `command-center man --dir /usr/local/share/man/man1`
    /// writes one page per command; without --dir the main page goes to standard output.
    Man {
        /// A directory to write command-center.1 and a page per subcommand into.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// How long an idle thread of the blocking pool (password hashing, file I/O) lives. Tokio's
/// default is 10 s; a thread that ends hands the memory it freed back to the operating system
/// (mimalloc purges freed spans when a thread ends), so after a login or the first start's
/// bootstrap password, Argon2's 19 MiB of working memory is returned within seconds. Starting
/// a thread costs microseconds against a hash's tens of milliseconds.
const BLOCKING_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    quiet_broken_pipe();
    no_huge_pages();
    let cli = Cli::parse();
    match cli.command {
        Command::Completions { shell } => return completions(shell),
        Command::Man { dir } => return man(dir.as_deref()),
        _ => {}
    }
    let env = |k: &str| std::env::var(k).ok();
    let mut cfg = match config::Config::load(cli.config.as_deref(), &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    if let Some(url) = cli.database_url {
        cfg.database_url = url;
    }
    // The commands a container runs: with `log_format = "json"` even their last word, the
    // error they stop on, is a JSON line (a log collector reads it with the rest).
    let json_errors = telemetry::json_only(&cfg)
        && matches!(
            cli.command,
            Command::Serve(_) | Command::Worker(_) | Command::Migrate(_)
        );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_keep_alive(BLOCKING_THREAD_KEEP_ALIVE)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(cfg, args).await,
            Command::Worker(args) => commands::worker::run(cfg, args).await,
            Command::Migrate(args) => commands::migrate::run(&cfg, args).await,
            Command::Seed(args) => commands::seed(&cfg, &args).await,
            Command::Audit(args) => commands::audit::run(&cfg, args).await,
            Command::Users(args) => commands::users::run(args).await,
            Command::Groups(args) => commands::groups::run(args).await,
            Command::Devices(args) => commands::devices::run(args).await,
            Command::Policies(args) => commands::policies::run(args).await,
            Command::Jobs(args) => commands::jobs::run(args).await,
            Command::Imports(args) => commands::imports::run(args).await,
            Command::Notifications(args) => commands::notifications::run(args).await,
            Command::Health(args) => commands::health::run(args).await,
            Command::Config(args) => commands::print_config(&cfg, &args),
            Command::Operator(args) => commands::operator::run(&cfg, args).await,
            Command::Token(args) => commands::token::run(args).await,
            Command::Login(args) => commands::token::login(args).await,
            Command::Check(args) => commands::check::run(args).await,
            Command::Sync(args) => commands::sync::run(args).await,
            Command::Bench(args) => commands::bench::run(&cfg, args).await,
            Command::Import(args) => commands::import::run(&cfg, args).await,
            Command::Roster(args) => commands::roster::run(args),
            Command::Completions { .. } | Command::Man { .. } => {
                unreachable!("handled before loading configuration")
            }
            Command::Demo(args) => commands::demo::run(cfg, args).await,
            Command::Cloudflare(args) => commands::cloudflare::run(&cfg, args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) if json_errors => exit::report_as_json(&e),
        Err(e) => exit::report(&e),
    }
}

/// Turns transparent huge pages off for this process (`PR_SET_THP_DISABLE`), for hosts whose
/// THP setting is `always` (mimalloc is built not to ask for them where it is `madvise`). The
/// heap's working set is small and scattered; 2 MiB pages would keep far more of it resident
/// than is used. Processes this one starts (script targets) inherit the setting. Best effort:
/// a kernel without it leaves things as they are.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

/// `command-center … | head` closes our standard output early. Rust ignores SIGPIPE, so the
/// next `println!` panics with "failed printing to stdout: Broken pipe"; end the process
/// quietly instead, with the status a process killed by SIGPIPE has (128 + 13). Any other
/// panic goes to the default hook.
fn quiet_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// Writes the completion script for `shell` to standard output (needs no configuration).
fn completions(shell: clap_complete::Shell) -> ExitCode {
    use clap::CommandFactory;
    use std::io::Write;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "command-center", &mut script);
    match std::io::stdout().write_all(&script) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`… | head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes the manual pages: every page into `dir`, or the main page to standard output.
fn man(dir: Option<&std::path::Path>) -> ExitCode {
    use clap::CommandFactory;
    use std::io::Write;
    let cmd = Cli::command();
    let result = match dir {
        Some(dir) => std::fs::create_dir_all(dir)
            .and_then(|()| clap_mangen::generate_to(cmd, dir))
            .map(|()| eprintln!("manual pages written to {}", dir.display())),
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut page)
                .and_then(|()| std::io::stdout().write_all(&page))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot write the manual pages: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_completes() {
        super::Cli::command().debug_assert();
        let mut script = Vec::new();
        clap_complete::generate(
            clap_complete::Shell::Bash,
            &mut super::Cli::command(),
            "command-center",
            &mut script,
        );
        let script = String::from_utf8(script).unwrap_or_default();
        for sub in [
            "serve",
            "worker",
            "import",
            "completions",
            "check",
            "users",
            "groups",
            "devices",
            "policies",
            "jobs",
            "imports",
            "audit",
            "man",
            "reset-password",
            "update-targets",
            "watch",
            "all-matching",
        ] {
            assert!(
                script.contains(sub),
                "{sub} missing from the bash completions"
            );
        }
    }
}
