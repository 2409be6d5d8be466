//! A closed-loop HTTP load generator: N connections, each sending its next request when the
//! previous one answers, for a fixed duration. Latencies are kept whole and sorted for exact
//! percentiles.

use std::collections::BTreeMap;
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
    /// The error answers by status code (`"409"`, …), and `"no answer"` for requests that
    /// failed without one (connection refused or reset, a body that did not arrive).
    pub error_statuses: BTreeMap<String, u64>,
    pub seconds: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The key of [`Measurement::error_statuses`] for a request that got no (whole) answer.
pub const NO_ANSWER: &str = "no answer";

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
            let mut errors: BTreeMap<String, u64> = BTreeMap::new();
            loop {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                if t0 >= end_at {
                    break;
                }
                // `None` on success, else what went wrong.
                let error: Option<String> = match make(&client, conn, n).send().await {
                    Ok(res) => {
                        let ok = accept(&res);
                        let status = res.status();
                        match res.bytes().await {
                            Ok(_) if ok => None,
                            Ok(_) => Some(status.as_u16().to_string()),
                            Err(_) => Some(NO_ANSWER.to_owned()),
                        }
                    }
                    Err(_) => Some(NO_ANSWER.to_owned()),
                };
                if t0 >= start_at {
                    lat.push(u32::try_from(t0.elapsed().as_micros()).unwrap_or(u32::MAX));
                    if let Some(e) = error {
                        *errors.entry(e).or_default() += 1;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut error_statuses: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        if let Ok((lat, e)) = t.await {
            all.extend(lat);
            for (status, count) in e {
                *error_statuses.entry(status).or_default() += count;
            }
        }
    }
    let errors = error_statuses.values().sum();
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
        error_statuses,
        seconds: secs,
        rps,
        p50_ms: pct(0.50),
        p90_ms: pct(0.90),
        p99_ms: pct(0.99),
        max_ms: all.last().map_or(0.0, |v| f64::from(*v) / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Path;
    use axum::http::StatusCode;

    /// A server answering `/status/{code}` with that status.
    async fn server() -> String {
        let app = axum::Router::new().route(
            "/status/{code}",
            axum::routing::get(|Path(code): Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn error_answers_are_counted_by_status() {
        let base = server().await;
        // Every third request answers 409, every third 503, the rest 201.
        let make: MakeRequest = Arc::new(move |c, _, n| {
            let code = [201, 409, 503][usize::try_from(n % 3).unwrap_or(0)];
            c.get(format!("{base}/status/{code}"))
        });
        let m = run("mixed", 2, Duration::ZERO, Duration::from_millis(300), make).await;
        assert!(m.requests > 3, "{m:?}");
        assert_eq!(m.errors, m.error_statuses.values().sum::<u64>(), "{m:?}");
        let statuses: Vec<&str> = m.error_statuses.keys().map(String::as_str).collect();
        assert_eq!(statuses, ["409", "503"], "{m:?}");
        assert!(m.errors < m.requests, "the 201s are successes: {m:?}");
    }

    #[tokio::test]
    async fn a_request_without_an_answer_is_counted_as_such() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let make: MakeRequest = Arc::new(move |c, _, _| c.get(format!("http://127.0.0.1:{port}/")));
        let m = run(
            "refused",
            1,
            Duration::ZERO,
            Duration::from_millis(100),
            make,
        )
        .await;
        assert!(m.requests > 0, "{m:?}");
        assert_eq!(m.error_statuses.get(NO_ANSWER), Some(&m.requests), "{m:?}");
        assert_eq!(m.error_statuses.len(), 1, "{m:?}");
    }
}
