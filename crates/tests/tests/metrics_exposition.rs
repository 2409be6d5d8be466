//! `/metrics` after a real workload: requests, jobs that complete, retry and are discarded, a
//! lifecycle operation on a script target and a roster import. The exposition must pass
//! `promtool check metrics`, and every metric the Grafana dashboard and the alert rules use
//! (as `scripts/check-deploy.sh --list-metrics` lists them) must be exposed.

#[path = "lifecycle/harness.rs"]
#[allow(dead_code)] // shared with the lifecycle tests
mod harness;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cc_domain::{JobState, NewJob};
use cc_queue::{handler_fn, with_policy, JobError, KindPolicy, Registry, RetryPolicy};
use cc_service::lifecycle::LifecyclePolicy;
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{wait_for, Backend};
use harness::{bash_target, finished, job_id, Harness};
use reqwest::Method;
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The metric names the dashboard and alert rules query.
fn deployed_metric_names() -> Vec<String> {
    let out = Command::new("bash")
        .arg(repo().join("scripts/check-deploy.sh"))
        .arg("--list-metrics")
        .output()
        .expect("run scripts/check-deploy.sh --list-metrics");
    assert!(
        out.status.success(),
        "check-deploy.sh --list-metrics failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    assert!(names.len() > 10, "too few names listed: {names:?}");
    // Metrics of an optional integration exist once it is configured and has something to
    // report (a certificate of a managed Cloudflare zone; a notification channel; a
    // backups directory);
    // tests/cloudflare.rs and tests/metrics_first_scrape.rs check them.
    const CONFIGURED_ONLY: [&str; 3] = [
        "cc_cloudflare_certificate_expiry_timestamp_seconds",
        "cc_notifications_sent_total",
        "cc_backup_newest_timestamp_seconds",
    ];
    names
        .into_iter()
        .filter(|n| !CONFIGURED_ONLY.contains(&n.as_str()))
        .collect()
}

/// Runs `promtool check metrics` on the exposition. promtool comes from Debian's `prometheus`
/// package; `scripts/test.sh` installs it, so its absence is a failure, not a skip.
fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect(
            "promtool is not installed (Debian package `prometheus`; scripts/test.sh installs it)",
        );
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_is_valid_and_covers_the_dashboards_and_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::start(
        Backend::Sqlite,
        vec![bash_target("bash-demo", dir.path())],
        LifecyclePolicy::default(),
    )
    .await;
    let c = h.client().clone();
    let store = h.app.store.clone();

    // Jobs that complete, one that retries once, one that is discarded.
    let quick = |handler| {
        with_policy(
            handler,
            KindPolicy {
                retry: RetryPolicy {
                    base: Duration::from_millis(20),
                    max: Duration::from_millis(50),
                    jitter: 0.0,
                },
                ..KindPolicy::default()
            },
        )
    };
    let mut registry = Registry::with_builtins();
    h.engine.register(&mut registry);
    registry.register(quick(handler_fn("test.flaky", |ctx, _| async move {
        if ctx.attempt == 1 {
            Err(JobError::Retryable("not yet".into()))
        } else {
            Ok(json!({}))
        }
    })));
    registry.register(handler_fn("test.doomed", |_, _| async move {
        Err::<serde_json::Value, _>(JobError::Permanent("never".into()))
    }));
    let worker = RunningWorker::start(store.clone(), registry, fast_config(&[("default", 4)]));
    let mut ids = Vec::new();
    for kind in ["system.noop", "system.noop", "test.flaky", "test.doomed"] {
        let job = cc_queue::ops::enqueue(store.as_ref(), &NewJob::new(kind, json!({})))
            .await
            .unwrap();
        ids.push(job.id);
    }

    // Requests, including errors.
    c.list_users(&[("limit", "5")]).await.unwrap();
    let ada = c.create_user(&cc_tests::student("ada")).await.unwrap();
    assert_eq!(
        c.get_user(uuid::Uuid::nil()).await.unwrap_err().status(),
        Some(404)
    );

    // A lifecycle operation on the script target.
    let (_, body) = c.user_action(ada.id, "provision", false).await.unwrap();
    assert_eq!(
        finished(&c, job_id(&body)).await.job.state,
        JobState::Completed
    );

    // A roster import (dry run).
    let csv = "external_id,username,given_name,family_name,email,role,grade,school,groups,status\n\
               S-1,grace.h,Grace,Hopper,grace.h@students.example.org,student,10,lincoln-hs,,active\n\
               S-2,bad row,Bad,Row,not-an-email,student,99,lincoln-hs,,active\n";
    let (status, _) = c
        .upload_import(
            "roster.csv",
            csv.as_bytes().to_vec(),
            &[("dry_run", "true")],
        )
        .await
        .unwrap();
    assert!(status == 200 || status == 201 || status == 202, "{status}");

    for id in ids {
        wait_for("the job to finish", Duration::from_secs(30), || {
            let store = store.clone();
            async move {
                let j = store.get_job(id).await.ok()??;
                matches!(j.state, JobState::Completed | JobState::Discarded).then_some(())
            }
        })
        .await;
    }

    let text = c
        .request(Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    promtool_check(&text);

    let exposed: BTreeSet<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<String> = deployed_metric_names()
        .into_iter()
        .filter(|n| !exposed.contains(n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics used by the dashboard or alert rules but not exposed: {missing:?}"
    );

    // The workload shows in the figures, not just in the names.
    let has = |needle: &str| {
        text.lines()
            .any(|l| l.starts_with(needle) && !l.ends_with(" 0"))
    };
    assert!(
        has("cc_jobs_discarded_total{kind=\"test.doomed\"}"),
        "discarded"
    );
    assert!(has("cc_job_retries_total{kind=\"test.flaky\"}"), "retried");
    assert!(has("cc_lifecycle_operations_total{operation=\"provision\",target=\"bash-demo\",outcome=\"changed\"}"));
    assert!(
        has("cc_import_rows_total{format=\"csv\",outcome=\"error\"}"),
        "import rows"
    );
    assert!(has("cc_workers_active"), "the worker is active");
    assert!(has("cc_jobs{queue=\"default\",state=\"completed\"}"));
    worker.stop().await;
    h.stop().await;
}

/// A standalone `command-center worker --listen` counts from its first job: its recorder is
/// installed before the worker starts, not on the first scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_reports_its_jobs_from_the_start() {
    let db = cc_tests::TestDb::new(Backend::Sqlite).await;
    let store = db.store().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let _worker = cc_tests::queue::WorkerProcess::spawn(
        &db.url,
        "metrics-worker",
        "default",
        4,
        &[
            ("CC_WORKER_LISTEN", addr.as_str()),
            ("CC_METRICS_PUBLIC", "true"),
        ],
    );
    let url = format!("http://{addr}/metrics");
    let http = reqwest::Client::new();
    // Wait for the listener to accept connections, without scraping: the jobs run before the
    // first scrape, as they do when Prometheus scrapes every 15 s.
    wait_for("the worker's listener", Duration::from_secs(30), || {
        let addr = addr.clone();
        async move { tokio::net::TcpStream::connect(&addr).await.ok().map(|_| ()) }
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let job = cc_queue::ops::enqueue(store.as_ref(), &NewJob::new("system.noop", json!({})))
            .await
            .unwrap();
        ids.push(job.id);
    }
    for id in ids {
        wait_for("the job to complete", Duration::from_secs(30), || {
            let store = store.clone();
            async move {
                let j = store.get_job(id).await.ok()??;
                (j.state == JobState::Completed).then_some(())
            }
        })
        .await;
    }
    let text = wait_for("the counters", Duration::from_secs(30), || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let text = http.get(&url).send().await.ok()?.text().await.ok()?;
            text.contains("cc_job_executions_total{kind=\"system.noop\",outcome=\"completed\"} 3")
                .then_some(text)
        }
    })
    .await;
    promtool_check(&text);
}

/// A job whose last attempt's lease expires is discarded by the rescuer, and counted in
/// `cc_jobs_discarded_total` like the ones workers discard (the "discarded jobs rising" alert
/// relies on it), on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_discarded_by_the_rescuer_are_counted() {
    let handle = cc_api::metrics_handle();
    for (backend, kind) in [
        (Backend::Sqlite, "test.lost_sqlite"),
        (Backend::Postgres, "test.lost_postgres"),
    ] {
        let db = cc_tests::TestDb::new(backend).await;
        let store = db.store().await;
        cc_queue::ops::enqueue(
            store.as_ref(),
            &NewJob {
                max_attempts: 1,
                ..NewJob::new(kind, json!({}))
            },
        )
        .await
        .unwrap();
        let now = cc_domain::now();
        let claimed = store
            .claim_jobs(&cc_store::jobs::ClaimRequest {
                worker_id: "gone",
                queue: "default",
                kinds: None,
                limit: 1,
                now,
                lease_ttl: Duration::from_millis(1),
            })
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        // Expiry is on the database's clock: wait for the 1 ms lease to lapse there.
        cc_tests::wait_for("the lease to expire", Duration::from_secs(10), || {
            let store = store.clone();
            async move { (store.rescue_expired(cc_domain::now(), 10).await.unwrap() == 1).then_some(()) }
        })
        .await;
        let job = store
            .get_job(claimed[0].lease.job_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.state, JobState::Discarded);
        let text = handle.render();
        assert!(
            text.lines()
                .any(|l| l == format!("cc_jobs_discarded_total{{kind=\"{kind}\"}} 1")),
            "{kind} not counted"
        );
    }
}
