//! `command-center check`: the system validator. Runs a set of checks against a running
//! deployment and prints a pass/fail table (or JSON); exits 1 when any check fails.
//!
//! Rows: live, ready, database, migrations, workers (with the last heartbeat), redis (when
//! configured), request id, errors, openapi, docs, metrics, api, job round trip (a
//! `system.noop` job through the queue), one `target <name>` row per lifecycle target (bind,
//! base readable, schema capabilities, checked now), cloudflare (the API token's last
//! verification, when configured), backups (the workers' last check of the backup directory,
//! when `[backups]` is configured), one `channel <name>` row per notification channel (SMTP
//! connect, EHLO, TLS and login; webhook URL; nothing sent), audit chain, prometheus and grafana
//! (when their URLs are given).

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::Output;

#[derive(clap::Args)]
pub struct Args {
    /// Base URL of the server.
    #[arg(long, env = "CC_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// API token (operator or admin role).
    #[arg(long, env = "CC_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Prometheus base URL; when given, checks that it is ready and scrapes Command Center.
    #[arg(long, env = "CC_PROMETHEUS_URL")]
    prometheus_url: Option<String>,
    /// Grafana base URL; when given, checks its health.
    #[arg(long, env = "CC_GRAFANA_URL")]
    grafana_url: Option<String>,
    /// Per-check timeout in seconds.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    #[arg(long, value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    /// `pass`, `warn` (worth a look; does not fail the run), `fail` or `skip`.
    pub status: &'static str,
    pub detail: String,
    pub ms: f64,
}

struct Checker {
    client: cc_client::Client,
    http: reqwest::Client,
    timeout: Duration,
    results: Vec<CheckResult>,
}

impl Checker {
    fn record(&mut self, name: impl Into<String>, start: Instant, r: Result<String, String>) {
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        let (status, detail) = match r {
            Ok(d) => ("pass", d),
            Err(d) => ("fail", d),
        };
        self.results.push(CheckResult {
            name: name.into(),
            status,
            detail,
            ms,
        });
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.results.push(CheckResult {
            name: name.to_owned(),
            status: "skip",
            detail: why.to_owned(),
            ms: 0.0,
        });
    }

    async fn get(&self, path: &str, auth: bool) -> Result<reqwest::Response, String> {
        let rb = if auth {
            self.client.request(Method::GET, path)
        } else {
            self.http
                .get(format!("{}{path}", self.client.base_url()))
                .timeout(self.timeout)
        };
        rb.send().await.map_err(|e| format!("request failed: {e}"))
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let timeout = Duration::from_secs(args.timeout);
    let mut client = cc_client::Client::new(&args.url)?.with_timeout(timeout);
    if let Some(t) = &args.token {
        client = client.with_token(t.clone());
    }
    let mut c = Checker {
        client,
        http: reqwest::Client::new(),
        timeout,
        results: Vec::new(),
    };

    // 1. Liveness.
    let t = Instant::now();
    let r = match c.get("/health/live", false).await {
        Ok(res) if res.status() == StatusCode::OK => Ok("process up".to_owned()),
        Ok(res) => Err(format!("HTTP {}", res.status())),
        Err(e) => Err(e),
    };
    let reachable = r.is_ok();
    c.record("live", t, r);
    if !reachable {
        for name in [
            "ready",
            "database",
            "migrations",
            "workers",
            "redis",
            "request id",
            "errors",
            "openapi",
            "docs",
            "metrics",
            "job handlers",
            "api",
            "job round trip",
            "targets",
            "audit chain",
        ] {
            c.skip(name, "server unreachable");
        }
        return finish(&c.results, args.output);
    }

    // 2–4. Readiness and its parts.
    let t = Instant::now();
    let ready: Result<Value, String> = match c.get("/health/ready", false).await {
        Ok(res) => {
            let ok = res.status() == StatusCode::OK;
            match res.json::<Value>().await {
                Ok(body) if ok => Ok(body),
                Ok(body) => Err(body.to_string()),
                Err(e) => Err(format!("not JSON: {e}")),
            }
        }
        Err(e) => Err(e),
    };
    c.record(
        "ready",
        t,
        ready
            .as_ref()
            .map(|_| "ready".to_owned())
            .map_err(Clone::clone),
    );
    let body = match &ready {
        Ok(b) => b.clone(),
        Err(text) => serde_json::from_str(text).unwrap_or(Value::Null),
    };
    for (name, key) in [("database", "database"), ("migrations", "migrations")] {
        let check = &body["checks"][key];
        if check.is_null() {
            c.skip(name, "not reported by /health/ready");
            continue;
        }
        let detail = format!(
            "{} ({:.2} ms){}",
            check["status"].as_str().unwrap_or("?"),
            check["latency_ms"].as_f64().unwrap_or(0.0),
            check["detail"]
                .as_str()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        let ok = check["status"] == "ok";
        c.results.push(CheckResult {
            name: name.to_owned(),
            status: if ok { "pass" } else { "fail" },
            detail,
            ms: check["latency_ms"].as_f64().unwrap_or(0.0),
        });
    }

    // Workers and Redis, as readiness reports them (detail that does not decide readiness).
    c.workers(&body["detail"]["workers"]);
    c.redis(&body["detail"]["redis"]);
    c.cloudflare(&body["detail"]["cloudflare"]);
    c.backups(&body["detail"]["backups"], chrono::Utc::now());

    // 5. Request ids.
    let t = Instant::now();
    let r = c.get("/health/live", false).await.and_then(|res| {
        res.headers()
            .get("x-request-id")
            .map(|_| "x-request-id present".to_owned())
            .ok_or_else(|| "no x-request-id".into())
    });
    c.record("request id", t, r);

    // 6. Errors are problem+json.
    let t = Instant::now();
    let r = c
        .get("/api/v1/__check_unknown_route", true)
        .await
        .and_then(|res| {
            let ct = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if res.status() == StatusCode::NOT_FOUND && ct.starts_with("application/problem+json") {
                Ok("404 as application/problem+json".to_owned())
            } else if res.status() == StatusCode::UNAUTHORIZED {
                Ok("401 before routing (authentication required)".to_owned())
            } else {
                Err(format!("HTTP {} {ct}", res.status()))
            }
        });
    c.record("errors", t, r);

    // 7–8. Documentation.
    let t = Instant::now();
    let r = match c.get("/openapi.json", false).await {
        Ok(res) => match res.json::<Value>().await {
            Ok(doc)
                if doc["openapi"]
                    .as_str()
                    .is_some_and(|v| v.starts_with("3.1")) =>
            {
                Ok(format!(
                    "OpenAPI {} with {} paths",
                    doc["openapi"],
                    doc["paths"].as_object().map_or(0, |p| p.len())
                ))
            }
            Ok(doc) => Err(format!("unexpected document version {}", doc["openapi"])),
            Err(e) => Err(format!("not JSON: {e}")),
        },
        Err(e) => Err(e),
    };
    c.record("openapi", t, r);
    let t = Instant::now();
    let r = c.get("/docs/", false).await.and_then(|res| {
        if res.status() == StatusCode::OK {
            Ok("Swagger UI served".to_owned())
        } else {
            Err(format!("HTTP {}", res.status()))
        }
    });
    c.record("docs", t, r);

    // 9. Metrics.
    let t = Instant::now();
    let mut exposition = None;
    let r = match c.get("/metrics", true).await {
        Ok(res) if res.status() == StatusCode::OK => {
            let text = res.text().await.unwrap_or_default();
            exposition = Some(text.clone());
            match validate_exposition(&text) {
                Ok(n) if text.contains("cc_build_info") => {
                    Ok(format!("{n} samples, exposition valid"))
                }
                Ok(_) => Err("cc_build_info missing".into()),
                Err(e) => Err(e),
            }
        }
        Ok(res) => Err(format!("HTTP {} (is --token set?)", res.status())),
        Err(e) => Err(e),
    };
    c.record("metrics", t, r);

    // 10. Jobs waiting for a worker with their handler (workers claim only kinds they run).
    match exposition.as_deref() {
        Some(text) => c.results.push(job_handlers(text)),
        None => c.skip("job handlers", "metrics unavailable"),
    }

    // 11. The API answers with the token given.
    let t = Instant::now();
    let r = c
        .client
        .list_users(&[("limit", "1")])
        .await
        .map(|_| "GET /api/v1/users answered".to_owned())
        .map_err(|e| e.to_string());
    c.record("api", t, r);

    // A job through the queue and a worker, and every lifecycle target checked now.
    let t = Instant::now();
    let r = c.job_round_trip().await;
    c.record("job round trip", t, r);
    c.targets().await;
    c.notification_channels().await;

    // 12. Audit chain.
    let t = Instant::now();
    let r = match c.client.verify_audit().await {
        Ok(v) if v["intact"] == true => Ok(format!("intact, {} events", v["checked"])),
        Ok(v) => Err(format!("BROKEN: {}", v["first_break"])),
        Err(e) => Err(e.to_string()),
    };
    c.record("audit chain", t, r);

    // Optional: Prometheus and Grafana.
    match &args.prometheus_url {
        Some(url) => {
            let t = Instant::now();
            let r = check_prometheus(&c.http, url, timeout).await;
            c.record("prometheus", t, r);
        }
        None => c.skip("prometheus", "no --prometheus-url"),
    }
    match &args.grafana_url {
        Some(url) => {
            let t = Instant::now();
            let r = check_grafana(&c.http, url, timeout).await;
            c.record("grafana", t, r);
        }
        None => c.skip("grafana", "no --grafana-url"),
    }

    finish(&c.results, args.output)
}

impl Checker {
    fn workers(&mut self, w: &Value) {
        if w.is_null() {
            self.skip("workers", "not reported by /health/ready");
            return;
        }
        let active = w["active"].as_u64().unwrap_or(0);
        let last = w["last_heartbeat"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_milliseconds());
        let last = last.map_or_else(
            || "never".to_owned(),
            |ms| format!("{:.1} s ago", ms.max(0) as f64 / 1000.0),
        );
        let (status, detail) = if active > 0 {
            ("pass", format!("{active} active, last heartbeat {last}"))
        } else {
            (
                "fail",
                format!(
                    "no worker heartbeat in the last minute (last: {last}); start `command-center \
                     worker`, or `serve` without --no-workers"
                ),
            )
        };
        self.results.push(CheckResult {
            name: "workers".into(),
            status,
            detail,
            ms: 0.0,
        });
    }

    fn redis(&mut self, r: &Value) {
        if r.is_null() {
            self.skip("redis", "not configured");
            return;
        }
        let ok = r["status"] == "ok";
        let ms = r["latency_ms"].as_f64().unwrap_or(0.0);
        self.results.push(CheckResult {
            name: "redis".into(),
            status: if ok { "pass" } else { "fail" },
            detail: match r["detail"].as_str() {
                Some(d) => format!("{} ({ms:.2} ms): {d}", r["status"].as_str().unwrap_or("?")),
                None => format!("PING answered ({ms:.2} ms)"),
            },
            ms,
        });
    }

    /// The Cloudflare token's last verification, as readiness reports it: a failing token
    /// fails the check (Cloudflare jobs cannot run) though the server stays ready.
    fn cloudflare(&mut self, h: &Value) {
        if h.is_null() {
            self.skip("cloudflare", "not configured");
            return;
        }
        let when = h["checked_at"].as_str().unwrap_or("never");
        let (status, detail) = match h["status"].as_str() {
            Some("ok") => (
                "pass",
                format!(
                    "{} (verified {when})",
                    h["detail"].as_str().unwrap_or("token active")
                ),
            ),
            Some("fail") => (
                "fail",
                format!(
                    "{} (verified {when}); Cloudflare jobs fail until the token is fixed",
                    h["last_error"].as_str().unwrap_or("token check failed")
                ),
            ),
            _ => ("warn", "token not verified yet".to_owned()),
        };
        self.results.push(CheckResult {
            name: "cloudflare".into(),
            status,
            detail,
            ms: h["latency_ms"].as_f64().unwrap_or(0.0),
        });
    }

    /// The workers' last check of the backup directory, as readiness reports it: stale
    /// backups fail; none at all yet, or a check not run for an hour (it runs every 15
    /// minutes), is a warning.
    fn backups(&mut self, b: &Value, now: chrono::DateTime<chrono::Utc>) {
        self.results.push(backups_row(b, now));
    }

    /// Enqueues a `system.noop` job and waits (up to the timeout) for a worker to finish it.
    async fn job_round_trip(&self) -> Result<String, String> {
        let start = Instant::now();
        let job = self.client.ping_job().await.map_err(|e| e.to_string())?;
        loop {
            let d = self
                .client
                .get_job(job.id)
                .await
                .map_err(|e| e.to_string())?;
            if d.job.state == cc_domain::JobState::Completed {
                return Ok(format!(
                    "system.noop job {} completed in {:.0} ms",
                    job.id,
                    start.elapsed().as_secs_f64() * 1000.0
                ));
            }
            if d.job.state.is_final() {
                return Err(format!("job {} ended {}", job.id, d.job.state));
            }
            if start.elapsed() >= self.timeout {
                return Err(format!(
                    "job {} still {} after {} s: are workers running?",
                    job.id,
                    d.job.state,
                    self.timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One row per notification channel, checked by the server without sending.
    async fn notification_channels(&mut self) {
        let t = Instant::now();
        let list = match self.client.check_notification_channels().await {
            Ok(v) => v.as_array().cloned().unwrap_or_default(),
            Err(e) => {
                self.record("notifications", t, Err(e.to_string()));
                return;
            }
        };
        if list.is_empty() {
            self.skip("notifications", "no notification channels configured");
            return;
        }
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        for ch in list {
            let name = format!(
                "channel {} ({})",
                ch["channel"].as_str().unwrap_or("?"),
                ch["kind"].as_str().unwrap_or("?")
            );
            self.results.push(CheckResult {
                name,
                status: if ch["status"] == "ok" { "pass" } else { "fail" },
                detail: ch["detail"].as_str().unwrap_or_default().to_owned(),
                ms,
            });
        }
    }

    /// One row per lifecycle target, checked now by the server.
    async fn targets(&mut self) {
        let t = Instant::now();
        let list = match self.client.check_targets().await {
            Ok(v) => v.as_array().cloned().unwrap_or_default(),
            Err(e) => {
                self.record("targets", t, Err(e.to_string()));
                return;
            }
        };
        if list.is_empty() {
            self.skip("targets", "no lifecycle targets configured");
            return;
        }
        for target in list {
            let name = format!("target {}", target["target"].as_str().unwrap_or("?"));
            let ok = target["status"] == "ok";
            let detail = if ok {
                target["detail"].as_str()
            } else {
                target["last_error"].as_str()
            };
            self.results.push(CheckResult {
                name,
                status: if ok { "pass" } else { "fail" },
                detail: detail.unwrap_or_default().to_owned(),
                ms: target["latency_ms"].as_f64().unwrap_or(0.0),
            });
        }
    }
}

async fn check_prometheus(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<String, String> {
    let base = url.trim_end_matches('/');
    let res = http
        .get(format!("{base}/-/ready"))
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("/-/ready answered {}", res.status()));
    }
    let q = r#"up{job=~"command-center.*"}"#;
    let v: Value = http
        .get(format!("{base}/api/v1/query"))
        .query(&[("query", q)])
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let results = v["data"]["result"].as_array().cloned().unwrap_or_default();
    let up = results.iter().filter(|r| r["value"][1] == "1").count();
    if up == 0 {
        Err(format!(
            "ready, but no Command Center target is up ({} known)",
            results.len()
        ))
    } else {
        Ok(format!(
            "ready; {up}/{} Command Center targets up",
            results.len()
        ))
    }
}

async fn check_grafana(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<String, String> {
    let base = url.trim_end_matches('/');
    let res = http
        .get(format!("{base}/api/health"))
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let v: Value = res.json().await.map_err(|e| e.to_string())?;
    if status.is_success() && v["database"] == "ok" {
        Ok(format!(
            "healthy, version {}",
            v["version"].as_str().unwrap_or("?")
        ))
    } else {
        Err(format!("HTTP {status}: {v}"))
    }
}

/// A warning row when `cc_jobs_unhandled` reports due jobs that no active worker has a
/// handler for (a rolling deploy in progress, or a worker missing).
fn job_handlers(exposition: &str) -> CheckResult {
    let waiting: Vec<String> = exposition
        .lines()
        .filter_map(|l| l.strip_prefix("cc_jobs_unhandled{"))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once("} ")?;
            let n = value.split_whitespace().next()?.parse::<f64>().ok()?;
            let label = |name: &str| {
                labels
                    .split(',')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                    .map(|v| v.trim_end_matches('"').to_owned())
            };
            (n > 0.0).then(|| {
                format!(
                    "{} ({n} in queue {})",
                    label("kind").unwrap_or_default(),
                    label("queue").unwrap_or_default()
                )
            })
        })
        .collect();
    let (status, detail) = if waiting.is_empty() {
        (
            "pass",
            "every due job has an active worker able to run it".to_owned(),
        )
    } else {
        (
            "warn",
            format!(
                "jobs wait with no active worker able to run them: {}",
                waiting.join(", ")
            ),
        )
    };
    CheckResult {
        name: "job handlers".into(),
        status,
        detail,
        ms: 0.0,
    }
}

/// A light validator of the Prometheus text format: every sample line is
/// `name[{labels}] value [timestamp]` with a valid metric name and a float value.
fn validate_exposition(text: &str) -> Result<usize, String> {
    let mut samples = 0;
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name_labels, rest) = match line.rfind('}') {
            Some(end) => (&line[..=end], line[end + 1..].trim()),
            None => line
                .split_once(' ')
                .map(|(a, b)| (a, b.trim()))
                .ok_or(format!("line {}: no value", i + 1))?,
        };
        let name = name_labels.split('{').next().unwrap_or("");
        let valid_name = name.chars().enumerate().all(|(j, ch)| {
            ch.is_ascii_alphabetic() || ch == '_' || ch == ':' || (j > 0 && ch.is_ascii_digit())
        });
        if name.is_empty() || !valid_name {
            return Err(format!("line {}: invalid metric name `{name}`", i + 1));
        }
        let value = rest.split_whitespace().next().unwrap_or("");
        let numeric = value.parse::<f64>().is_ok() || matches!(value, "NaN" | "+Inf" | "-Inf");
        if !numeric {
            return Err(format!("line {}: invalid value `{value}`", i + 1));
        }
        samples += 1;
    }
    Ok(samples)
}

fn finish(results: &[CheckResult], output: Output) -> anyhow::Result<ExitCode> {
    let failed = results.iter().filter(|r| r.status == "fail").count();
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"ok": failed == 0, "checks": results})
            )?
        ),
        Output::Table => {
            let color = std::io::stdout().is_terminal();
            let paint = |s: &str, code: &str| {
                if color {
                    format!("\x1b[{code}m{s}\x1b[0m")
                } else {
                    s.to_owned()
                }
            };
            let width = results
                .iter()
                .map(|r| r.name.len())
                .max()
                .unwrap_or(0)
                .max(14);
            println!("{:<width$} {:<6} {:>9}  DETAIL", "CHECK", "RESULT", "MS");
            for r in results {
                let status = match r.status {
                    "pass" => paint("PASS  ", "32"),
                    "warn" => paint("WARN  ", "33"),
                    "fail" => paint("FAIL  ", "31;1"),
                    _ => paint("skip  ", "2"),
                };
                println!("{:<width$} {status} {:>9.2}  {}", r.name, r.ms, r.detail);
            }
            let passed = results.iter().filter(|r| r.status == "pass").count();
            let warned = results.iter().filter(|r| r.status == "warn").count();
            println!(
                "\n{passed} passed, {warned} warnings, {failed} failed, {} skipped",
                results.len() - passed - warned - failed
            );
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The `backups` row from readiness's `detail.backups`.
fn backups_row(b: &Value, now: chrono::DateTime<chrono::Utc>) -> CheckResult {
    let row = |status, detail: String| CheckResult {
        name: "backups".into(),
        status,
        detail,
        ms: 0.0,
    };
    if b.is_null() {
        return row(
            "skip",
            "no backup check recorded ([backups] dir not configured on a worker)".into(),
        );
    }
    let ago = |key: &str| {
        b[key]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| now - t.with_timezone(&chrono::Utc))
    };
    let human = |d: chrono::Duration| {
        if d.num_minutes() < 120 {
            format!("{} min", d.num_minutes().max(0))
        } else {
            format!("{:.1} h", d.num_minutes() as f64 / 60.0)
        }
    };
    let checked =
        ago("checked_at").map_or_else(|| "never".to_owned(), |d| format!("{} ago", human(d)));
    if b["status"] == "empty" {
        return row(
            "warn",
            format!(
                "no backup in the directory yet (checked {checked}); take one, e.g. `just backup`"
            ),
        );
    }
    if b["status"] == "stale" {
        return row(
            "fail",
            format!(
                "stale: {} (checked {checked})",
                b["detail"].as_str().unwrap_or("no fresh backup")
            ),
        );
    }
    let newest = ago("newest_backup_at").map_or_else(|| "?".to_owned(), human);
    let detail = format!(
        "newest backup {newest} old (limit {} h), checked {checked}",
        b["max_age_hours"]
    );
    if ago("checked_at").is_none_or(|d| d > chrono::Duration::hours(1)) {
        return row(
            "warn",
            format!("{detail}: not checked for over an hour; is a worker with [backups] running?"),
        );
    }
    row("pass", detail)
}

#[cfg(test)]
mod tests {
    #[test]
    fn validates_exposition() {
        let ok =
            "# HELP a x\n# TYPE a counter\na 1\nb{x=\"y z\"} 2.5 123\nc_bucket{le=\"+Inf\"} 3\n";
        assert_eq!(super::validate_exposition(ok).unwrap(), 3);
        assert!(super::validate_exposition("9bad 1\n").is_err());
        assert!(super::validate_exposition("good{a=\"b\"} notanumber\n").is_err());
    }

    #[test]
    fn warns_of_jobs_no_worker_can_run() {
        let text = "cc_jobs_unhandled{queue=\"default\",kind=\"user.new\"} 3\n\
                    cc_jobs_unhandled{queue=\"default\",kind=\"user.old\"} 0\n";
        let row = super::job_handlers(text);
        assert_eq!(row.status, "warn");
        assert!(
            row.detail.contains("user.new (3 in queue default)"),
            "{}",
            row.detail
        );
        assert!(!row.detail.contains("user.old"), "{}", row.detail);
        assert_eq!(super::job_handlers("cc_jobs 1\n").status, "pass");
    }

    #[test]
    fn the_backups_row_reads_the_last_check() {
        let now = chrono::Utc::now();
        let at = |mins: i64| (now - chrono::Duration::minutes(mins)).to_rfc3339();
        let row = |v: serde_json::Value| super::backups_row(&v, now);
        assert_eq!(row(serde_json::Value::Null).status, "skip");
        let fresh = row(serde_json::json!({
            "status": "ok", "checked_at": at(5), "newest_backup_at": at(180), "max_age_hours": 26
        }));
        assert_eq!(fresh.status, "pass", "{}", fresh.detail);
        assert!(
            fresh.detail.contains("3.0 h old (limit 26 h)"),
            "{}",
            fresh.detail
        );
        let stale = row(serde_json::json!({
            "status": "stale", "checked_at": at(5), "max_age_hours": 26,
            "detail": "the backup directory holds no backup"
        }));
        assert_eq!(stale.status, "fail");
        assert!(stale.detail.contains("holds no backup"), "{}", stale.detail);
        let empty = row(serde_json::json!({
            "status": "empty", "checked_at": at(5), "max_age_hours": 26,
            "detail": "the backup directory holds no backup"
        }));
        assert_eq!(empty.status, "warn", "{}", empty.detail);
        let unchecked = row(serde_json::json!({
            "status": "ok", "checked_at": at(90), "newest_backup_at": at(100), "max_age_hours": 26
        }));
        assert_eq!(unchecked.status, "warn", "{}", unchecked.detail);
    }
}
