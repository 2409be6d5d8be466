//! Command Center's side of a round: the roster applied into an empty directory, as
//! `command-center import` applies it, and the provision jobs it enqueues run by an
//! in-process worker against the LDAP target until the queue is empty.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cc_connectors::ldap::LdapTarget;
use cc_connectors::Target;
use cc_domain::{Job, JobQuery, JobState, User};
use cc_roster::{Overrides, Roster};
use cc_service::imports::{self, ImportOptions, Progress};
use cc_store::Store;
use tokio_util::sync::CancellationToken;

use super::slapd::{Counts, Slapd, ADMIN_DN, BASE_DN, GROUPS, STAFF, STUDENTS};
use crate::config::Config;

/// How the target and the worker are set up.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Provision jobs the worker runs at once.
    pub concurrency: u32,
    /// The LDAP target's `max_connections`.
    pub connections: u32,
}

/// The LDAP target as the benchmark configures it: accounts under
/// `ou=<grade>,ou=<school>,ou=Students` (staff under `ou=<school>,ou=Staff`), groups created
/// on demand under `ou=Groups`, suspension marked by `employeeType: disabled`.
///
/// # Errors
/// The configuration does not build (a bug here).
pub fn target(url: &str, password: &str, setup: Setup) -> anyhow::Result<LdapTarget> {
    let text = format!(
        r#"
name = "bench-ldap"
url = "{url}"
bind_dn = "{ADMIN_DN}"
bind_password = "{password}"
base_dn = "{BASE_DN}"
user_ou = "ou={{grade_label}},ou={{school}},{STUDENTS}"
max_connections = {connections}
[user_ou_by_role]
teacher = "ou={{school}},{STAFF}"
staff = "ou={{school}},{STAFF}"
administrator = "ou={{school}},{STAFF}"
[disable]
attribute = "employeeType"
value = "disabled"
[groups]
base = "{GROUPS}"
create_missing = true
"#,
        connections = setup.connections,
    );
    let config: cc_connectors::ldap::LdapConfig =
        toml::from_str(&text).context("the benchmark's target configuration")?;
    LdapTarget::new(&config).map_err(|e| anyhow::anyhow!("{e}"))
}

/// What one round of Command Center measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Measured {
    /// From the start of the apply to the last job's completion.
    pub seconds: f64,
    pub apply_seconds: f64,
    pub accounts: u64,
    pub ldap: Counts,
    pub job_latency_ms_p50: f64,
    pub job_latency_ms_p99: f64,
}

/// Applies `roster` into the empty database at `url` and runs the jobs against `slapd`.
/// Returns the figures and the directory as it ended (for the check).
///
/// # Errors
/// The import fails, a job does not complete, or the jobs take longer than `deadline`.
pub async fn run(
    cfg: &Config,
    url: &str,
    roster: &Roster,
    slapd: &mut Slapd,
    setup: Setup,
    deadline: Duration,
) -> anyhow::Result<(Measured, Vec<User>)> {
    let store = cc_store::connect(url, &cfg.pool())
        .await
        .context("opening the benchmark database")?;
    store.migrate_up().await?;
    let target: Arc<dyn Target> = Arc::new(target(&slapd.url(), &slapd.password, setup)?);
    let auth = cc_service::Auth::new(store.clone(), cfg.auth_settings())
        .context("invalid security settings")?;
    let engine = cc_lifecycle::Engine::new(store.clone(), vec![target], auth);
    let mut registry = cc_queue::Registry::with_builtins();
    engine.register(&mut registry);
    let mut rc = cfg.queue.runtime();
    rc.queues = vec![cc_queue::QueueSpec {
        name: cc_domain::job::DEFAULT_QUEUE.into(),
        concurrency: setup.concurrency,
    }];
    let stop = CancellationToken::new();
    let worker = cc_queue::Worker::new(store.clone(), registry, rc);
    let worker = tokio::spawn(worker.run(stop.clone()));

    let before = slapd.counts().await?;
    let started = cc_domain::now();
    let clock = Instant::now();
    let run = apply(cfg, store.as_ref(), roster).await?;
    let apply_seconds = clock.elapsed().as_secs_f64();
    let drained = wait_for_drain(store.as_ref(), clock, deadline).await;
    let after = slapd.counts().await?;
    stop.cancel();
    let _ = worker.await;
    drained?;

    let jobs = batch_jobs(store.as_ref(), run).await?;
    let failed: Vec<String> = jobs
        .iter()
        .filter(|j| j.state != JobState::Completed)
        .take(5)
        .map(|j| format!("job {} {}: {:?}", j.id, j.state.as_str(), j.errors))
        .collect();
    if !failed.is_empty() {
        bail!("provision jobs did not complete: {}", failed.join("; "));
    }
    let last = jobs
        .iter()
        .filter_map(|j| j.finalized_at)
        .max()
        .context("no job finished")?;
    let mut latencies: Vec<f64> = jobs
        .iter()
        .filter_map(|j| Some((j.finalized_at? - j.created_at).as_seconds_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let users = imports::import_store(store.as_ref())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .directory_snapshot()
        .await?
        .users;
    store.close().await;
    let measured = Measured {
        seconds: (last - started).as_seconds_f64(),
        apply_seconds,
        accounts: jobs.len() as u64,
        ldap: after.since(&before),
        job_latency_ms_p50: percentile(&latencies, 0.5),
        job_latency_ms_p99: percentile(&latencies, 0.99),
    };
    Ok((measured, users))
}

/// The directory an apply of `roster` into the empty database at `url` makes (no jobs
/// run).
///
/// # Errors
/// The import fails.
pub async fn directory_after_import(
    cfg: &Config,
    url: &str,
    roster: &Roster,
) -> anyhow::Result<Vec<User>> {
    let store = cc_store::connect(url, &cfg.pool())
        .await
        .context("opening a scratch database")?;
    store.migrate_up().await?;
    apply(cfg, store.as_ref(), roster).await?;
    let users = imports::import_store(store.as_ref())
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .directory_snapshot()
        .await?
        .users;
    store.close().await;
    Ok(users)
}

/// Applies the roster as `command-center import` does; returns the run's id (its jobs'
/// batch).
async fn apply(cfg: &Config, store: &dyn Store, roster: &Roster) -> anyhow::Result<uuid::Uuid> {
    let mut settings = cfg.import.settings();
    settings.limits.max_rows = settings.limits.max_rows.max(roster.user_rows * 2 + 1);
    let actor = cc_domain::Actor::system("bench");
    let run = imports::new_run(&actor, "bench", &[], false, &ImportOptions::default());
    let req = imports::ApplyRequest {
        actor: &actor,
        roster,
        settings: &settings,
        overrides: &Overrides::default(),
        expected: None,
        stored: false,
        progress: &Progress::default(),
    };
    let out = imports::apply(store, req, run)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(
        out.jobs_enqueued > 0,
        "the import enqueued no provision jobs"
    );
    Ok(out.run.id)
}

/// Waits until the default queue has nothing left to run, with a cheap probe.
async fn wait_for_drain(
    store: &dyn Store,
    started: Instant,
    deadline: Duration,
) -> anyhow::Result<()> {
    while store
        .queue_unfinished(cc_domain::job::DEFAULT_QUEUE)
        .await?
    {
        if started.elapsed() > deadline {
            let s = store.queue_stats(cc_domain::job::DEFAULT_QUEUE).await?;
            bail!(
                "the provision jobs did not finish within {} s: {:?}",
                deadline.as_secs(),
                s.counts
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Every job of the batch.
async fn batch_jobs(store: &dyn Store, batch: uuid::Uuid) -> anyhow::Result<Vec<Job>> {
    let mut jobs = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .list_jobs(&JobQuery {
                batch_id: Some(batch),
                before_id,
                limit: 500,
                ..JobQuery::default()
            })
            .await?;
        let Some(last) = page.items.last() else {
            break;
        };
        before_id = Some(last.id);
        jobs.extend(page.items);
    }
    Ok(jobs)
}

/// The `p` quantile of sorted values (nearest rank).
#[must_use]
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
