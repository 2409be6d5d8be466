//! A closed-loop HTTP load generator: N connections, each sending its next request when the
//! previous one answers, for a fixed duration. Latencies are kept whole and sorted for exact
//! percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

/// One measured scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    pub scenario: String,
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Builds request `n` of connection `conn`.
pub type MakeRequest =
    Arc<dyn Fn(&reqwest::Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync>;

/// Runs `make` over `connections` keep-alive connections for `duration` after `warmup`; a
/// request is an error unless it answers a success status.
pub async fn run(
    scenario: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    make: MakeRequest,
) -> Measurement {
    run_checked(scenario, connections, warmup, duration, make, |r| {
        r.status().is_success()
    })
    .await
}

/// [`run`], with `accept` deciding which answers count as successes.
pub async fn run_checked(
    scenario: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    make: MakeRequest,
    accept: fn(&reqwest::Response) -> bool,
) -> Measurement {
    let counter = Arc::new(AtomicU64::new(0));
    let start_at = Instant::now() + warmup;
    let end_at = start_at + duration;
    let mut tasks = Vec::with_capacity(connections);
    for conn in 0..connections {
        let make = make.clone();
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            // One client per connection so each task keeps exactly one keep-alive connection.
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .unwrap_or_default();
            let mut lat = Vec::with_capacity(16_384);
            let mut errors = 0u64;
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                if t0 >= end_at {
                    break;
                }
                let ok = match make(&client, conn, n).send().await {
                    Ok(res) => {
                        let ok = accept(&res);
                        let _ = res.bytes().await;
                        ok
                    }
                    Err(_) => false,
                };
                if t0 >= start_at {
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if !ok {
                        errors += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            errors += e;
        }
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return 0.0;
        }
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        f64::from(all[i]) / 1000.0
    };
    let secs = duration.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    let rps = all.len() as f64 / secs;
    Measurement {
        scenario: scenario.to_owned(),
        requests: all.len() as u64,
        errors,
        seconds: secs,
        rps,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: all.last().map_or(0.0, |v| f64::from(*v) / 1000.0),
    }
}
