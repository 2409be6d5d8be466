//! `command-center bench scim`: the SCIM endpoint (`/scim/v2`, in-process, as `serve` mounts
//! it) against scim2-server (PyPI, another SCIM 2.0 service provider) on the same machine:
//! create a User, find one by `userName eq`, PATCH one. The two servers are measured in turn,
//! alternating which goes first, `--rounds` times; each figure is the median of the rounds,
//! and the ratio is ours over theirs.

use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cc_api::{AppState, Server};
use serde_json::{json, Value};

use super::load::{self, MakeRequest, Measurement};
use crate::commands::Output;
use crate::config::Config;

/// The token scim2-server is started with.
const THEIR_TOKEN: &str = "bench-scim2-server";

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Seconds measured per scenario, server and round (after a 1-second warm-up).
    #[arg(long, default_value_t = 3)]
    seconds: u64,
    /// Rounds (each figure is the median of the rounds).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// People created on each server before measuring (filter and PATCH pick among them).
    #[arg(long, visible_alias = "people", default_value_t = 500)]
    users: usize,
    /// The scim2-server executable (default: target/venv-scim2-server/bin/scim2-server, as
    /// scripts/install-scim2-server.sh installs it).
    #[arg(long)]
    scim2_server: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// One SCIM service provider under measurement.
#[derive(Clone)]
struct Target {
    name: &'static str,
    base: String,
    token: String,
    /// The ids of the people created before measuring, and their userNames.
    ids: Arc<Vec<String>>,
    names: Arc<Vec<String>>,
}

/// The figures of one scenario on one server: every round, and the median of their
/// successful answers per second.
#[derive(Debug, serde::Serialize)]
struct Figures {
    scenario: &'static str,
    server: &'static str,
    rounds: Vec<Measurement>,
    median_rps: f64,
}

const SCENARIOS: [&str; 3] = [
    "POST /Users",
    "GET /Users?filter=userName eq",
    "PATCH /Users/{id}",
];

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(args.rounds > 0, "--rounds must be at least 1");
    let binary = args
        .scim2_server
        .clone()
        .unwrap_or_else(|| PathBuf::from("target/venv-scim2-server/bin/scim2-server"));
    anyhow::ensure!(
        binary.exists(),
        "scim2-server is not installed at {} (run scripts/install-scim2-server.sh, or pass \
         --scim2-server)",
        binary.display()
    );
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut pool = cfg.pool();
    pool.max_connections = pool.max_connections.max(16);
    let store = cc_store::connect(&url, &pool)
        .await
        .context("opening the benchmark database")?;
    store.migrate_up().await?;
    let mut api = cfg.api();
    api.rate_limit.enabled = false;
    let state = AppState::new(store.clone(), api);
    let token = scim_token(&state.auth).await?;
    let server = Server::bind("127.0.0.1:0", state).await?;
    let ours_base = format!("http://{}/scim/v2", server.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(server.run(async move { s.cancelled().await }));

    let theirs = TheirServer::start(&binary).await?;
    eprintln!(
        "bench scim: {} connections, {} s per scenario, {} rounds, {} users; scim2-server at {}",
        args.connections,
        args.seconds,
        args.rounds,
        args.users,
        theirs.base()
    );
    let ours = seed("command-center", ours_base, token, args.users).await?;
    let theirs_target = seed(
        "scim2-server",
        theirs.base(),
        THEIR_TOKEN.to_owned(),
        args.users,
    )
    .await?;

    let warmup = Duration::from_secs(1);
    let duration = Duration::from_secs(args.seconds);
    let mut figures: Vec<Figures> = Vec::new();
    for scenario in SCENARIOS {
        let mut rounds: [Vec<Measurement>; 2] = [Vec::new(), Vec::new()];
        for round in 0..args.rounds {
            // Alternate which server goes first, so drift in the machine's load hits both.
            let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for i in order {
                let target = if i == 0 { &ours } else { &theirs_target };
                let m = load::run(
                    &format!("{scenario} ({})", target.name),
                    args.connections,
                    warmup,
                    duration,
                    request(scenario, target.clone(), round),
                )
                .await;
                if m.errors > 0 {
                    eprintln!(
                        "bench scim: {} answered {} of {} requests to {scenario} with an error \
                         (not counted): {}",
                        target.name,
                        m.errors,
                        m.requests,
                        statuses(&m)
                    );
                }
                rounds[i].push(m);
            }
        }
        for (i, measured) in rounds.into_iter().enumerate() {
            let server = if i == 0 {
                ours.name
            } else {
                theirs_target.name
            };
            figures.push(Figures {
                scenario,
                server,
                median_rps: median(measured.iter().map(ok_rps).collect()),
                rounds: measured,
            });
        }
    }
    stop.cancel();
    drop(theirs);
    store.close().await;
    report(&args, &figures)?;
    Ok(ExitCode::SUCCESS)
}

fn report(args: &Args, figures: &[Figures]) -> anyhow::Result<()> {
    let ratios: Vec<(&str, f64)> = figures
        .chunks(2)
        .map(|pair| (pair[0].scenario, pair[0].median_rps / pair[1].median_rps))
        .collect();
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "connections": args.connections, "seconds": args.seconds, "rounds": args.rounds,
                "users": args.users, "load_average": load_average(), "figures": figures,
                "ratios": ratios.iter().map(|(s, r)| json!({"scenario": s, "ours_over_theirs": r})).collect::<Vec<_>>(),
            }))?
        ),
        Output::Table => {
            println!(
                "{:<32} {:<15} {:>12} {:>24}  errors by status (rounds)",
                "scenario", "server", "median ok/s", "rounds ok/s"
            );
            for f in figures {
                let rounds: Vec<String> = f
                    .rounds
                    .iter()
                    .map(|m| format!("{:.0}", ok_rps(m)))
                    .collect();
                let errors: Vec<String> = f.rounds.iter().map(statuses).collect();
                println!(
                    "{:<32} {:<15} {:>12.0} {:>24}  {}",
                    f.scenario,
                    f.server,
                    f.median_rps,
                    rounds.join(" "),
                    errors.join(" ")
                );
            }
            println!();
            for (s, r) in &ratios {
                println!("{s:<32} command-center / scim2-server: {r:.1}×");
            }
            if let Some(l) = load_average() {
                println!("load average at the end: {l}");
            }
        }
    }
    Ok(())
}

/// The requests of a scenario against a target in round `round`; connection `conn`'s request
/// `n`. Every `POST` creates a new person: `n` is unique within a run (the connections share
/// one counter) and the round is part of the userName, so no two runs on a server collide.
fn request(scenario: &'static str, t: Target, round: usize) -> MakeRequest {
    Arc::new(move |c, _conn, n| {
        let pick = usize::try_from(n).unwrap_or(0) % t.ids.len().max(1);
        let rb = match scenario {
            "POST /Users" => c
                .post(format!("{}/Users", t.base))
                .body(user(&new_user_name(round, n)).to_string()),
            "GET /Users?filter=userName eq" => c
                .get(format!("{}/Users", t.base))
                .query(&[("filter", format!("userName eq \"{}\"", t.names[pick]))]),
            _ => c
                .patch(format!("{}/Users/{}", t.base, t.ids[pick]))
                .body(patch(n).to_string()),
        };
        rb.bearer_auth(&t.token)
            .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
    })
}

/// The userName of request `n` of a `POST` run in round `round`.
fn new_user_name(round: usize, n: u64) -> String {
    format!("bench-r{round:02}-{n:09}@bench.example")
}

/// A measurement's error answers as `status×count`, comma-separated (`-` when none).
fn statuses(m: &Measurement) -> String {
    if m.error_statuses.is_empty() {
        return "-".to_owned();
    }
    m.error_statuses
        .iter()
        .map(|(status, count)| format!("{status}×{count}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "active": true,
        "name": {"givenName": "Bench", "familyName": "User"},
        "emails": [{"value": user_name, "type": "work", "primary": true}]
    })
}

fn patch(n: u64) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "name.givenName", "value": format!("Given{n}")}]
    })
}

/// Creates `users` people on a server; fails on any answer but 201.
async fn seed(
    name: &'static str,
    base: String,
    token: String,
    users: usize,
) -> anyhow::Result<Target> {
    let http = reqwest::Client::new();
    let mut ids = Vec::with_capacity(users);
    let mut names = Vec::with_capacity(users);
    for i in 0..users.max(1) {
        let user_name = format!("seed-{i:06}@bench.example");
        let res = http
            .post(format!("{base}/Users"))
            .bearer_auth(&token)
            .header(reqwest::header::CONTENT_TYPE, "application/scim+json")
            .body(user(&user_name).to_string())
            .send()
            .await
            .with_context(|| format!("creating a user on {name}"))?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        anyhow::ensure!(
            status == reqwest::StatusCode::CREATED,
            "{name} answered {status} to a create: {body}"
        );
        ids.push(body["id"].as_str().unwrap_or_default().to_owned());
        names.push(user_name);
    }
    Ok(Target {
        name,
        base,
        token,
        ids: Arc::new(ids),
        names: Arc::new(names),
    })
}

/// Successful answers per second (an error answer is not an operation done).
fn ok_rps(m: &Measurement) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let ok = m.requests.saturating_sub(m.errors) as f64;
    ok / m.seconds
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `/proc/loadavg`'s first three figures, where there is one.
fn load_average() -> Option<String> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// scim2-server on a free loopback port, killed on drop.
struct TheirServer {
    port: u16,
    child: Child,
}

impl TheirServer {
    async fn start(binary: &PathBuf) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(binary)
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", THEIR_TOKEN])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Self { port, child };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!("scim2-server exited ({status}) before answering");
            }
            let ok = http
                .get(format!("{}/ServiceProviderConfig", server.base()))
                .bearer_auth(THEIR_TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(server);
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "scim2-server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }
}

impl Drop for TheirServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `scim` API token, created by a `bench` admin.
async fn scim_token(auth: &cc_service::Auth) -> anyhow::Result<String> {
    let actor = cc_domain::Actor::system("bench");
    let admin = auth
        .create_operator(
            &actor,
            cc_domain::NewOperator {
                username: "bench".into(),
                password: cc_auth::secret::random_b64(24),
                role: cc_domain::OperatorRole::Admin,
            },
        )
        .await?;
    let principal = cc_service::Principal {
        name: "operator:bench".into(),
        operator_id: admin.id,
        username: admin.username,
        role: admin.role,
        kind: cc_service::auth::PrincipalKind::Session {
            session_id: uuid::Uuid::nil(),
        },
    };
    let token = auth
        .create_api_token(
            &principal,
            cc_domain::NewApiToken {
                name: "bench-scim".into(),
                role: cc_domain::OperatorRole::Scim,
                expires_in_days: Some(1),
            },
            None,
        )
        .await?;
    Ok(token.secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_post_of_every_round_names_a_new_user() {
        let mut seen = std::collections::HashSet::new();
        for round in 0..3 {
            for n in 0..1_000 {
                assert!(seen.insert(new_user_name(round, n)), "round {round}, n {n}");
            }
        }
        // Nor does one collide with the people seeded before measuring.
        assert!(!seen.iter().any(|name| name.starts_with("seed-")));
    }

    #[test]
    fn error_statuses_read_as_status_and_count() {
        let mut m = Measurement {
            scenario: "POST /Users".into(),
            requests: 10,
            errors: 0,
            error_statuses: std::collections::BTreeMap::new(),
            seconds: 1.0,
            rps: 10.0,
            p50_ms: 1.0,
            p90_ms: 1.0,
            p99_ms: 1.0,
            max_ms: 1.0,
        };
        assert_eq!(statuses(&m), "-");
        m.error_statuses.insert("409".into(), 3);
        m.error_statuses.insert(load::NO_ANSWER.into(), 1);
        m.errors = 4;
        assert_eq!(statuses(&m), "409×3,no answer×1");
        assert!((ok_rps(&m) - 6.0).abs() < f64::EPSILON);
    }
}
