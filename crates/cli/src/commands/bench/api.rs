//! `command-center bench api`: list and create throughput against an in-process server (the
//! API and the web console, as `serve` mounts them), with a bare endpoint (no middleware, no
//! database) on the same machine as the ceiling; the console's pages signed in by a session
//! cookie; and the weight of the console's main pages (HTML plus assets), which fails the run
//! when a page is over the budget.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::routing::get;
use cc_api::{AppState, Server};

use super::load::{self, MakeRequest, Measurement};
use crate::commands::Output;
use crate::config::Config;

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
enum Scenario {
    /// `GET /health/live`.
    Live,
    /// `GET /api/v1/users?limit=50`.
    ApiList,
    /// `POST /api/v1/users`.
    ApiCreate,
    /// `GET /api/v1/users?limit=50&cursor=…` through every page, while one writer commits a
    /// new person (its audit event and provisioning job) after another and another adds jobs:
    /// each commit moves the change generation, so the page cache can rarely answer.
    ApiPagingUnderWrites,
    /// The console's People page: the first page, and a search.
    ConsolePeople,
    /// The console's Overview.
    ConsoleOverview,
}

/// The console pages weighed (`{person}`: a person's page).
const WEIGHED_PAGES: &[&str] = &["/", "/people", "/people/{person}", "/jobs", "/status"];

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds measured per scenario (after a 2-second warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// People (users) in the directory before measuring.
    #[arg(long, visible_alias = "people", default_value_t = 2_000)]
    users: usize,
    /// Scenarios to run (comma-separated); default: all. The ceiling always runs, and the
    /// page weights are always checked.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,
    /// Database to measure; default: a fresh SQLite file in a temporary directory. A PostgreSQL
    /// URL must name an empty, disposable database.
    #[arg(long)]
    bench_database_url: Option<String>,
    /// Connections in the server's read pool; default: `database.max_connections`, at least 16.
    #[arg(long)]
    pool_connections: Option<u32>,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

pub async fn run(cfg: &Config, args: Args) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir()?;
    let url = args
        .bench_database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let mut pool = cfg.pool();
    pool.max_connections = args
        .pool_connections
        .unwrap_or_else(|| pool.max_connections.max(16))
        .max(1);
    let store = cc_store::connect(&url, &pool)
        .await
        .context("opening the benchmark database")?;
    store.migrate_up().await?;
    let backend = store.backend().as_str();
    eprintln!(
        "bench api: {backend}, {} connections, {} s per scenario, {} users",
        args.connections, args.seconds, args.users
    );

    let dirsvc = cc_service::Directory::new(store.clone());
    let actor = cc_domain::Actor::system("bench");
    let mut person = None;
    for i in 0..args.users {
        let u = dirsvc
            .create_user(&actor, bench_user(&format!("seed{i:07}")))
            .await?;
        person.get_or_insert(u.id);
    }
    let wants = |s: Scenario| args.only.is_empty() || args.only.contains(&s);

    // The benchmark measures throughput, not the rate limits; requests carry an API token, so
    // authentication is part of what is measured.
    let mut api = cfg.api();
    api.rate_limit.enabled = false;
    let state = AppState::new(store.clone(), api);
    let (token, password) = bench_token(&state.auth).await?;
    let app = cc_console::app(state.clone());
    let server = Server::bind_app("127.0.0.1:0", state, app).await?;
    let base = format!("http://{}", server.local_addr()?);
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(server.run(async move { s.cancelled().await }));

    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_base = format!("http://{}", bare.local_addr()?);
    let bare_app = axum::Router::new().route("/", get(|| async { "ok" }));
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(bare, bare_app)
            .with_graceful_shutdown(async move { s.cancelled().await })
            .await;
    });

    let warmup = Duration::from_secs(2);
    let duration = Duration::from_secs(args.seconds);
    let mut results: Vec<Measurement> = Vec::new();

    let b = bare_base.clone();
    let ceiling: MakeRequest = Arc::new(move |c, _, _| c.get(format!("{b}/")));
    results.push(
        load::run(
            "ceiling: bare GET /",
            args.connections,
            warmup,
            duration,
            ceiling,
        )
        .await,
    );

    if wants(Scenario::Live) {
        let b = base.clone();
        let live: MakeRequest = Arc::new(move |c, _, _| c.get(format!("{b}/health/live")));
        results.push(load::run("GET /health/live", args.connections, warmup, duration, live).await);
    }

    if wants(Scenario::ApiList) {
        let b = base.clone();
        let t = token.clone();
        let list: MakeRequest =
            Arc::new(move |c, _, _| c.get(format!("{b}/api/v1/users?limit=50")).bearer_auth(&t));
        results.push(
            load::run(
                "GET /api/v1/users?limit=50",
                args.connections,
                warmup,
                duration,
                list,
            )
            .await,
        );
    }

    if wants(Scenario::ApiPagingUnderWrites) {
        let cursors = Arc::new(page_cursors(&base, &token).await?);
        let writer = start_writer(dirsvc.clone(), actor.clone());
        let b = base.clone();
        let t = token.clone();
        let paging: MakeRequest = Arc::new(move |c, _, n| {
            #[allow(clippy::cast_possible_truncation)]
            let cursor = &cursors[(n % cursors.len() as u64) as usize];
            let url = match cursor {
                Some(cur) => format!("{b}/api/v1/users?limit=50&cursor={cur}"),
                None => format!("{b}/api/v1/users?limit=50"),
            };
            c.get(url).bearer_auth(&t)
        });
        let mut m = load::run(
            "paging while writes commit",
            args.connections,
            warmup,
            duration,
            paging,
        )
        .await;
        let commits = writer.stop().await?;
        #[allow(clippy::cast_precision_loss)]
        let rate = commits as f64 / (warmup + duration).as_secs_f64();
        m.scenario = format!("paging, {rate:.0} commits/s");
        results.push(m);
    }

    // Console pages are requested as a signed-in browser would: one sign-in through the form,
    // then every request carries the `cc_session` cookie and must answer 200 with HTML.
    let cookie = sign_in(&base, "bench", &password).await?;
    let console_runs: [(Scenario, &str, String); 3] = [
        (
            Scenario::ConsolePeople,
            "console GET /people",
            "/people".into(),
        ),
        (
            Scenario::ConsolePeople,
            "console GET /people?q=seed00001",
            "/people?q=seed00001".into(),
        ),
        (Scenario::ConsoleOverview, "console GET /", "/".into()),
    ];
    for (scenario, name, path) in console_runs {
        if !wants(scenario) {
            continue;
        }
        let url = format!("{base}{path}");
        let c = cookie.clone();
        let page: MakeRequest = Arc::new(move |client, _, _| {
            client
                .get(&url)
                .header(reqwest::header::COOKIE, &c)
                .header(reqwest::header::ACCEPT, "text/html")
        });
        // A redirect to the sign-in form or an error page would measure the wrong thing.
        check_html(&format!("{base}{path}"), &cookie).await?;
        results
            .push(load::run_checked(name, args.connections, warmup, duration, page, is_html).await);
    }

    if wants(Scenario::ApiCreate) {
        let b = base.clone();
        let t = token.clone();
        let create: MakeRequest = Arc::new(move |c, conn, n| {
            c.post(format!("{b}/api/v1/users"))
                .bearer_auth(&t)
                .json(&bench_user(&format!("b{conn:03}x{n:09}")))
        });
        results.push(
            load::run(
                "POST /api/v1/users",
                args.connections,
                warmup,
                duration,
                create,
            )
            .await,
        );
    }

    let person = person.map(|id| id.to_string());
    let mut weights = Vec::new();
    for page in WEIGHED_PAGES {
        let path = match (&person, page.contains("{person}")) {
            (Some(id), true) => page.replace("{person}", id),
            (None, true) => continue,
            (_, false) => (*page).to_owned(),
        };
        weights.push(page_weight(&base, &cookie, &path).await?);
    }

    stop.cancel();
    store.close().await;

    let ceiling_rps = results[0].rps;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "backend": backend, "connections": args.connections, "results": results,
                "page_weights": weights, "page_weight_limit_bytes": cc_console::weight::LIMIT_BYTES,
            }))?
        ),
        Output::Table => {
            println!(
                "{:<30} {:>9} {:>7} {:>10} {:>9} {:>9} {:>9} {:>8}",
                "scenario", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms", "ceiling"
            );
            for r in &results {
                println!(
                    "{:<30} {:>9} {:>7} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>7.0}%",
                    r.scenario,
                    r.requests,
                    r.errors,
                    r.rps,
                    r.p50_ms,
                    r.p99_ms,
                    r.max_ms,
                    100.0 * r.rps / ceiling_rps
                );
            }
            println!();
            println!(
                "{:<40} {:>10} {:>10} {:>10} {:>8}",
                "page (first visit)", "HTML B", "assets B", "total B", "budget"
            );
            for w in &weights {
                #[allow(clippy::cast_precision_loss)]
                let share = 100.0 * w.total_bytes as f64 / cc_console::weight::LIMIT_BYTES as f64;
                println!(
                    "{:<40} {:>10} {:>10} {:>10} {:>7.0}%",
                    w.path, w.html_bytes, w.asset_bytes, w.total_bytes, share
                );
            }
        }
    }
    let over: Vec<&PageWeight> = weights
        .iter()
        .filter(|w| w.total_bytes > cc_console::weight::LIMIT_BYTES)
        .collect();
    if !over.is_empty() {
        for w in over {
            eprintln!(
                "bench api: {} weighs {} bytes with its assets, over the budget of {} bytes",
                w.path,
                w.total_bytes,
                cc_console::weight::LIMIT_BYTES
            );
        }
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The cursor of every page of `GET /api/v1/users?limit=50` (`None`: the first page).
async fn page_cursors(base: &str, token: &str) -> anyhow::Result<Vec<Option<String>>> {
    let client = http()?;
    let mut cursors = vec![None];
    loop {
        let url = match cursors.last().and_then(Option::as_deref) {
            Some(cur) => format!("{base}/api/v1/users?limit=50&cursor={cur}"),
            None => format!("{base}/api/v1/users?limit=50"),
        };
        let page: serde_json::Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        match page["next_cursor"].as_str() {
            Some(next) => cursors.push(Some(next.to_owned())),
            None => return Ok(cursors),
        }
    }
}

/// A task committing one new person after another until stopped.
struct Writer {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<u64>>,
}

impl Writer {
    /// Stops the writer; the number of commits it made.
    async fn stop(self) -> anyhow::Result<u64> {
        self.stop.cancel();
        self.task.await?
    }
}

/// Writers committing until stopped: one creates a person after another (audit event and
/// provisioning job with it); one adds a job after another to a queue no worker serves, as
/// job traffic commits. On SQLite every commit to the file moves the change generation, so
/// most pages are read from the database; pages asked for again before the next commit still
/// come from the page cache (how many depends on how often the writers get to commit).
fn start_writer(dirsvc: cc_service::Directory, actor: cc_domain::Actor) -> Writer {
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    let store = dirsvc.store().clone();
    let people = tokio::spawn(async move {
        let mut n = 0_u64;
        while !s.is_cancelled() {
            dirsvc
                .create_user(&actor, bench_user(&format!("w{n:09}")))
                .await?;
            n += 1;
        }
        Ok::<_, anyhow::Error>(n)
    });
    let s = stop.clone();
    let task = tokio::spawn(async move {
        let mut n = 0_u64;
        while !s.is_cancelled() {
            let job = cc_domain::NewJob::new("system.noop", serde_json::json!({ "n": n }))
                .with_queue("bench-api-traffic");
            cc_queue::ops::enqueue(store.as_ref(), &job).await?;
            n += 1;
        }
        Ok(n + people.await??)
    });
    Writer { stop, task }
}

/// What a first visit to a console page downloads.
#[derive(Debug, serde::Serialize)]
struct PageWeight {
    path: String,
    html_bytes: usize,
    /// Every `/assets/…` file the page refers to, once each.
    assets: Vec<String>,
    asset_bytes: usize,
    total_bytes: usize,
}

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Signs in through the console's form; returns the `Cookie` header value.
async fn sign_in(base: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let res = http()?
        .post(format!("{base}/login"))
        .form(&[
            ("username", username),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await
        .context("signing in to the console")?;
    anyhow::ensure!(
        res.status() == reqwest::StatusCode::SEE_OTHER,
        "console sign-in answered {}",
        res.status()
    );
    let set = res
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .context("console sign-in set no cookie")?;
    Ok(set.split(';').next().unwrap_or_default().to_owned())
}

/// A page answered 200 with HTML.
fn is_html(res: &reqwest::Response) -> bool {
    res.status() == reqwest::StatusCode::OK
        && res
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"))
}

async fn check_html(url: &str, cookie: &str) -> anyhow::Result<()> {
    let res = http()?
        .get(url)
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await?;
    anyhow::ensure!(
        is_html(&res),
        "{url} answered {} without HTML",
        res.status()
    );
    Ok(())
}

async fn page_weight(base: &str, cookie: &str, path: &str) -> anyhow::Result<PageWeight> {
    let client = http()?;
    let res = client
        .get(format!("{base}{path}"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await?;
    anyhow::ensure!(
        is_html(&res),
        "{path} answered {} without HTML",
        res.status()
    );
    let html = res.text().await?;
    let assets = cc_console::weight::asset_references(&html);
    let mut asset_bytes = 0;
    for a in &assets {
        let res = client.get(format!("{base}{a}")).send().await?;
        anyhow::ensure!(
            res.status() == reqwest::StatusCode::OK,
            "{a} (referred to by {path}) answered {}",
            res.status()
        );
        asset_bytes += res.bytes().await?.len();
    }
    Ok(PageWeight {
        path: path.to_owned(),
        html_bytes: html.len(),
        asset_bytes,
        total_bytes: html.len() + asset_bytes,
        assets,
    })
}

fn bench_user(username: &str) -> cc_domain::NewUser {
    cc_domain::NewUser {
        external_id: Some(format!("B-{username}")),
        username: username.to_owned(),
        given_name: "Bench".into(),
        family_name: format!("User {username}"),
        email: Some(format!("{username}@bench.example.org")),
        role: cc_domain::Role::Student,
        grade: Some(10),
        school: Some("bench-hs".into()),
        status: None,
        groups: vec![],
    }
}

/// An operator-role API token for the benchmark's requests, created by a `bench` admin.
/// Returns the token and the admin's password (the console signs in with it).
async fn bench_token(auth: &cc_service::Auth) -> anyhow::Result<(String, String)> {
    let actor = cc_domain::Actor::system("bench");
    let password = cc_auth::secret::random_b64(24);
    let admin = auth
        .create_operator(
            &actor,
            cc_domain::NewOperator {
                username: "bench".into(),
                password: password.clone(),
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
                name: "bench".into(),
                role: cc_domain::OperatorRole::Operator,
                expires_in_days: Some(1),
            },
            None,
        )
        .await?;
    Ok((token.secret, password))
}
