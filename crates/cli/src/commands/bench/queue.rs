//! `command-center bench queue`: enqueue rate, burn-down rate and idle enqueue-to-start latency.
//!
//! Jobs are `system.noop` on a dedicated `bench` queue (emptied first). Workers are child
//! `command-center worker` processes started after the enqueue, so burn-down is measured from
//! the first start to the last completion, from the timestamps the database recorded.

use std::process::{ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cc_domain::{JobState, NewJob};
use cc_store::Store;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::commands::open_store;
use crate::config::Config;

const QUEUE: &str = "bench";

#[derive(clap::Args)]
pub struct Args {
    /// Jobs to enqueue and burn down.
    #[arg(long, default_value_t = 100_000)]
    jobs: usize,
    /// Worker processes to start; 0 runs the worker inside the benchmark process.
    #[arg(long, default_value_t = 1)]
    worker_processes: u32,
    /// Jobs each worker process runs at once.
    #[arg(long, default_value_t = 4000)]
    concurrency: u32,
    /// Jobs claimed per round trip.
    #[arg(long, default_value_t = 2000)]
    claim_batch: u32,
    /// Jobs per enqueue transaction.
    #[arg(long, default_value_t = 5000)]
    enqueue_batch: usize,
    /// Single jobs enqueued one at a time on idle workers to measure latency.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(cfg: &Config, a: Args) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    store.migrate_up().await.context("applying migrations")?;
    store.purge_queue(QUEUE).await?;

    let started = Instant::now();
    for chunk in (0..a.jobs)
        .collect::<Vec<_>>()
        .chunks(a.enqueue_batch.max(1))
    {
        let jobs: Vec<NewJob> = chunk
            .iter()
            .map(|i| NewJob::new("system.noop", serde_json::json!({"n": i})).with_queue(QUEUE))
            .collect();
        let mut tx = store.begin().await?;
        tx.enqueue_many(&jobs).await?;
        tx.commit().await?;
    }
    let enqueue_secs = started.elapsed().as_secs_f64();

    let mut workers = Workers::start(cfg, &a, store.clone()).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    // Wait for the queue to drain with a cheap probe (two index lookups), as the peer runners
    // do: the full counts below scan the jobs and their history, and scanning every half
    // second took CPU from the workers being measured. The figures come from the timestamps
    // the database recorded, not from this loop.
    while store.queue_unfinished(QUEUE).await? {
        if Instant::now() > deadline {
            let s = store.queue_stats(QUEUE).await?;
            workers.stop().await;
            bail!("jobs did not finish within 10 minutes: {:?}", s.counts);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = store.queue_stats(QUEUE).await?;
    if stats.count(JobState::Completed) < i64::try_from(a.jobs)? {
        workers.stop().await;
        bail!(
            "the queue drained without completing every job: {:?}",
            stats.counts
        );
    }
    let burn_secs = match (stats.first_attempted_at, stats.last_finalized_at) {
        (Some(first), Some(last)) => (last - first).as_seconds_f64(),
        _ => f64::NAN,
    };

    let mut latencies = Vec::with_capacity(a.latency_samples);
    for i in 0..a.latency_samples {
        let job = NewJob::new("system.noop", serde_json::json!({"sample": i})).with_queue(QUEUE);
        let id = cc_queue::ops::enqueue(store.as_ref(), &job).await?.id;
        let wait_until = Instant::now() + Duration::from_secs(10);
        loop {
            let j = store.get_job(id).await?.context("job vanished")?;
            if j.state == JobState::Completed {
                if let Some(at) = j.attempted_at {
                    latencies.push((at - j.created_at).as_seconds_f64() * 1000.0);
                }
                break;
            }
            if Instant::now() > wait_until {
                bail!("latency sample {i} did not complete within 10 s");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Let the workers go idle again between samples.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    workers.stop().await;
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let final_stats = store.queue_stats(QUEUE).await?;
    let report = serde_json::json!({
        "backend": store.backend().as_str(),
        "jobs": a.jobs,
        "worker_processes": a.worker_processes,
        "enqueue_jobs_per_sec": a.jobs as f64 / enqueue_secs,
        "burn_down_secs": burn_secs,
        "burn_down_jobs_per_sec": a.jobs as f64 / burn_secs,
        "latency_ms_p50": pct(0.5),
        "latency_ms_p99": pct(0.99),
        "completed": final_stats.count(JobState::Completed),
        "completed_events": final_stats.completed_events,
    });
    store.purge_queue(QUEUE).await?;
    store.close().await;
    if a.json {
        println!("{report}");
    } else {
        println!(
            "backend {}, {} jobs, {} worker process(es)\n  enqueue:   {:>9.0} jobs/s\n  burn-down: {:>9.0} jobs/s ({:.2} s, first start to last completion)\n  idle enqueue-to-start latency: p50 {:.2} ms, p99 {:.2} ms ({} samples)\n  completed {} (completed events {})",
            report["backend"].as_str().unwrap_or(""),
            a.jobs,
            a.worker_processes,
            report["enqueue_jobs_per_sec"].as_f64().unwrap_or(0.0),
            report["burn_down_jobs_per_sec"].as_f64().unwrap_or(0.0),
            burn_secs,
            pct(0.5),
            pct(0.99),
            latencies.len(),
            final_stats.count(JobState::Completed),
            final_stats.completed_events,
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The workers under test: child processes, or one in-process worker.
enum Workers {
    Processes(Vec<Child>),
    InProcess(
        CancellationToken,
        tokio::task::JoinHandle<Result<(), String>>,
    ),
}

impl Workers {
    async fn start(cfg: &Config, a: &Args, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        if a.worker_processes == 0 {
            let mut rc = cfg.queue.runtime();
            rc.queues = vec![cc_queue::QueueSpec {
                name: QUEUE.into(),
                concurrency: a.concurrency,
            }];
            rc.claim_batch = a.claim_batch;
            let token = CancellationToken::new();
            let worker = cc_queue::Worker::new(store, cc_queue::Registry::with_builtins(), rc);
            return Ok(Workers::InProcess(
                token.clone(),
                tokio::spawn(worker.run(token)),
            ));
        }
        let exe = std::env::current_exe()?;
        let mut children = Vec::new();
        for _ in 0..a.worker_processes {
            let child = Command::new(&exe)
                .args(["worker", "--queues", QUEUE, "--concurrency"])
                .arg(a.concurrency.to_string())
                .env("CC_DATABASE_URL", &cfg.database_url)
                .env("CC_QUEUE_CLAIM_BATCH", a.claim_batch.to_string())
                .env(
                    "CC_LOG",
                    std::env::var("CC_BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
                )
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting a worker process")?;
            children.push(child);
        }
        Ok(Workers::Processes(children))
    }

    async fn stop(&mut self) {
        match self {
            Workers::Processes(children) => {
                for c in children.iter_mut() {
                    if let Some(pid) = c.id() {
                        let _ = Command::new("kill")
                            .arg("-TERM")
                            .arg(pid.to_string())
                            .status()
                            .await;
                    }
                }
                for c in children.iter_mut() {
                    let _ = c.wait().await;
                }
            }
            Workers::InProcess(token, handle) => {
                token.cancel();
                let _ = handle.await;
            }
        }
    }
}
