//! Jobs on SQLite: one writer (`BEGIN IMMEDIATE` on the one-connection write pool), claims
//! as `UPDATE … RETURNING`, bulk transitions driven by a JSON array (`json_each`), history
//! written in the same transaction, and wake-ups: every store opened on the same file in this
//! process shares one signal, raised when a transaction enqueues a job; commits by other
//! processes (a separate `command-center worker`) are noticed through `PRAGMA data_version`,
//! probed every few milliseconds on a connection of its own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use async_trait::async_trait;
use cc_domain::{Job, JobEvent, JobQuery, JobState, NewJob, Page, WorkerInfo};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tokio::sync::watch;
use uuid::Uuid;

use super::{SqliteStore, SqliteTx, FOR_UPDATE};
use crate::job_rows::ClaimRow;
use crate::jobs::{
    initial_state, recorded_writes, CancelOutcome, ClaimRequest, ClaimedJob, Completion, Enqueued,
    Failure, Finish, Heartbeat, HeartbeatReply, JobSignals, JobStore, JobTx, Lease,
};
use crate::Result;
use shared::*;

type Db = sqlx::Sqlite;

// The job SQL both backends share, compiled once per backend over `Db` and `FOR_UPDATE`.
#[path = "../sql/jobs.rs"]
#[allow(clippy::duplicate_mod)]
mod shared;

mod tx;

/// The wake-up signal shared by every store on one database file in this process.
pub(crate) type Wakeup = Arc<watch::Sender<u64>>;

static WAKEUPS: LazyLock<Mutex<HashMap<PathBuf, Wakeup>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The signal for a database file (a private one for in-memory databases).
pub(crate) fn wakeup_for(path: Option<PathBuf>) -> Wakeup {
    let fresh = || Arc::new(watch::channel(0_u64).0);
    let Some(path) = path else { return fresh() };
    let key = std::fs::canonicalize(&path).unwrap_or(path);
    let mut map = WAKEUPS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    map.entry(key).or_insert_with(fresh).clone()
}

fn raise(w: &Wakeup) {
    w.send_modify(|n| *n = n.wrapping_add(1));
}

fn lease_json(leases: &[Lease]) -> String {
    Value::Array(
        leases
            .iter()
            .map(|l| json!({"id": l.job_id, "token": l.token}))
            .collect(),
    )
    .to_string()
}

fn ids_json(ids: &[i64]) -> String {
    Value::Array(ids.iter().map(|&i| json!(i)).collect()).to_string()
}

type WriteTx = sqlx::Transaction<'static, Db>;

/// SQLite's own clock as `strftime` writes it, in the text form timestamps are stored in
/// (RFC 3339, UTC offset), so stored times and the database's "now" compare as text.
const DB_NOW_FORMAT: &str = "%Y-%m-%dT%H:%M:%f+00:00";

/// A lease expiry on the database's clock: `strftime(<format>, 'now', <ttl>)` with the
/// placeholders binding [`DB_NOW_FORMAT`] and [`ttl_modifier`].
fn lease_expiry(format: &str, ttl: &str) -> String {
    format!("strftime({format}, 'now', {ttl})")
}

fn ttl_modifier(ttl: std::time::Duration) -> String {
    format!("+{:.3} seconds", ttl.as_secs_f64())
}

/// Appends one event per job in `ids_json`, reading each job's new state and attempt.
async fn record_events(
    tx: &mut WriteTx,
    ids: &[i64],
    at: DateTime<Utc>,
    worker: Option<&str>,
    note: Option<&str>,
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO job_events (job_id, at, state, attempt, worker_id, note) \
         SELECT id, $1, state, attempt, $2, $3 FROM jobs WHERE id IN (SELECT value FROM json_each($4)) ORDER BY id",
    )
    .bind(at)
    .bind(worker)
    .bind(note)
    .bind(ids_json(ids))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Upserts one person's link to a target, unless the person is gone.
async fn upsert_link(tx: &mut WriteTx, l: &cc_domain::TargetLinkRecord) -> Result<()> {
    super::shared::upsert_link(l).execute(&mut **tx).await?;
    Ok(())
}

/// Refreshes the worker's registration and renews its leases; returns the leases still held,
/// with their cancel requests.
async fn renew_leases(
    conn: &mut sqlx::SqliteConnection,
    hb: &Heartbeat<'_>,
) -> Result<Vec<(i64, i64, bool)>> {
    sqlx::query("UPDATE job_workers SET heartbeat_at = $2 WHERE id = $1")
        .bind(hb.worker_id)
        .bind(hb.now)
        .execute(&mut *conn)
        .await?;
    let held: Vec<(i64, i64, bool)> = if hb.leases.is_empty() {
        Vec::new()
    } else {
        let expiry = lease_expiry("$2", "$3");
        sqlx::query_as(&format!(
            "UPDATE jobs SET lease_expires_at = {expiry} \
             FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token FROM json_each($1)) AS u \
             WHERE jobs.id = u.id AND jobs.lease_token = u.token AND jobs.state = 'running' \
             RETURNING jobs.id, jobs.lease_token, jobs.cancel_requested",
        ))
        .bind(lease_json(hb.leases))
        .bind(DB_NOW_FORMAT)
        .bind(ttl_modifier(hb.lease_ttl))
        .fetch_all(&mut *conn)
        .await?
    };
    Ok(held)
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn claim_jobs(&self, req: &ClaimRequest<'_>) -> Result<Vec<ClaimedJob>> {
        let kinds = req.kinds.map(|k| Value::from(k.to_vec()).to_string());
        let kind_filter = if kinds.is_some() {
            "AND kind IN (SELECT value FROM json_each($7)) "
        } else {
            ""
        };
        let expiry = lease_expiry("$6", "$5");
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempt = attempt + 1, lease_token = lease_token + 1, \
               worker_id = $4, lease_expires_at = {expiry}, attempted_at = $2 \
             WHERE id IN (SELECT id FROM jobs WHERE queue = $1 AND state IN ('scheduled', 'available', 'retryable') \
               AND run_at <= $2 {kind_filter}ORDER BY priority DESC, run_at, id LIMIT $3) \
             RETURNING id, lease_token, queue, kind, args, attempt, max_attempts, created_at, batch_id",
        );
        let mut query = sqlx::query_as(&sql)
            .bind(req.queue)
            .bind(req.now)
            .bind(i64::from(req.limit))
            .bind(req.worker_id)
            .bind(ttl_modifier(req.lease_ttl))
            .bind(DB_NOW_FORMAT);
        if let Some(kinds) = kinds {
            query = query.bind(kinds);
        }
        let mut tx = self.begin_write().await?;
        let mut rows: Vec<ClaimRow> = query.fetch_all(&mut *tx).await?;
        rows.sort_by_key(|r| r.id);
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        record_events(&mut tx, &ids, req.now, Some(req.worker_id), None).await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(ClaimedJob::from).collect())
    }

    async fn complete_jobs(&self, b: Finish<'_, Completion>) -> Result<Vec<i64>> {
        if b.items.is_empty() {
            return Ok(Vec::new());
        }
        let items: Vec<Value> = b
            .items
            .iter()
            .map(|c| {
                let mut item = json!({"id": c.lease.job_id, "token": c.lease.token});
                if let Some(r) = &c.result {
                    item["result"] = r.clone();
                }
                if let Some(p) = &c.writes.progress {
                    item["progress"] = p.clone();
                }
                item
            })
            .collect();
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE jobs SET state = 'completed', result = u.result, progress = COALESCE(u.progress, jobs.progress), \
               finalized_at = $1, lease_expires_at = NULL \
             FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token, value -> 'result' AS result, \
                     value -> 'progress' AS progress FROM json_each($2)) AS u \
             WHERE jobs.id = u.id AND jobs.lease_token = u.token AND jobs.state = 'running' RETURNING jobs.id",
        )
        .bind(b.now)
        .bind(Value::Array(items).to_string())
        .fetch_all(&mut *tx)
        .await?;
        record_events(&mut tx, &ids, b.now, Some(b.worker_id), None).await?;
        let (links, audit) = recorded_writes(b.items, &ids);
        for link in &links {
            upsert_link(&mut tx, link).await?;
        }
        append_audit_events(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn fail_jobs(&self, b: Finish<'_, Failure>) -> Result<Vec<i64>> {
        if b.items.is_empty() {
            return Ok(Vec::new());
        }
        let items: Vec<Value> = b
            .items
            .iter()
            .map(|f| {
                let retry = f.retry_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false));
                json!({"id": f.lease.job_id, "token": f.lease.token, "error": f.error, "retry_at": retry})
            })
            .collect();
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE jobs SET \
               state = CASE WHEN u.retry_at IS NULL OR jobs.attempt >= jobs.max_attempts THEN 'discarded' ELSE 'retryable' END, \
               run_at = COALESCE(u.retry_at, jobs.run_at), \
               errors = json_insert(jobs.errors, '$[#]', json_object('attempt', jobs.attempt, 'at', $1, \
                 'error', u.error, 'worker', $2)), \
               finalized_at = CASE WHEN u.retry_at IS NULL OR jobs.attempt >= jobs.max_attempts THEN $3 END, \
               lease_expires_at = NULL \
             FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token, value ->> 'error' AS error, \
                     value ->> 'retry_at' AS retry_at FROM json_each($4)) AS u \
             WHERE jobs.id = u.id AND jobs.lease_token = u.token AND jobs.state = 'running' RETURNING jobs.id",
        )
        .bind(json_time(b.now))
        .bind(b.worker_id)
        .bind(b.now)
        .bind(Value::Array(items).to_string())
        .fetch_all(&mut *tx)
        .await?;
        record_events(
            &mut tx,
            &ids,
            b.now,
            Some(b.worker_id),
            Some("attempt failed"),
        )
        .await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn cancel_running(&self, b: Finish<'_, Lease>) -> Result<Vec<i64>> {
        self.finish_leases(
            b,
            "state = 'cancelled', finalized_at = $1, lease_expires_at = NULL",
            "cancelled by request",
        )
        .await
    }

    async fn snooze_job(
        &self,
        lease: Lease,
        worker_id: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
        note: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE jobs SET state = 'scheduled', attempt = attempt - 1, run_at = $1, worker_id = NULL, \
             lease_expires_at = NULL WHERE id = $2 AND lease_token = $3 AND state = 'running' RETURNING id",
        )
        .bind(until)
        .bind(lease.job_id)
        .bind(lease.token)
        .fetch_all(&mut *tx)
        .await?;
        record_events(&mut tx, &ids, now, Some(worker_id), Some(note)).await?;
        tx.commit().await?;
        Ok(!ids.is_empty())
    }

    async fn release_jobs(&self, b: Finish<'_, Lease>) -> Result<Vec<i64>> {
        let ids = self
            .finish_leases(
                b,
                "state = 'available', attempt = attempt - 1, run_at = $1, worker_id = NULL, lease_expires_at = NULL",
                "released at shutdown",
            )
            .await?;
        if !ids.is_empty() {
            raise(&self.wakeup);
        }
        Ok(ids)
    }

    async fn heartbeat(&self, hb: &Heartbeat<'_>) -> Result<HeartbeatReply> {
        let Some(pool) = &self.lease_write else {
            let mut tx = self.begin_write().await?;
            let held = renew_leases(&mut tx, hb).await?;
            tx.commit().await?;
            return Ok(HeartbeatReply::from_renewed(hb.leases, &held));
        };
        // Wait for the write lock (held, say, by a long import) while the leases would still
        // be alive, rather than failing after the usual busy timeout.
        let wait = hb.lease_ttl / 2;
        let mut conn = pool.acquire().await?;
        sqlx::query(&format!(
            "PRAGMA busy_timeout = {}",
            wait.as_millis().max(1)
        ))
        .execute(&mut *conn)
        .await?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
        let held = renew_leases(&mut tx, hb).await?;
        tx.commit().await?;
        Ok(HeartbeatReply::from_renewed(hb.leases, &held))
    }

    async fn cancel_requests(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT jobs.id, jobs.lease_token FROM jobs \
             JOIN (SELECT value ->> 'id' AS id, value ->> 'token' AS token FROM json_each($1)) AS u \
               ON jobs.id = u.id AND jobs.lease_token = u.token \
             WHERE jobs.state = 'running' AND jobs.cancel_requested",
        )
        .bind(lease_json(leases))
        .fetch_all(self.reader())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(job_id, token)| Lease { job_id, token })
            .collect())
    }

    async fn report_progress(&self, lease: Lease, progress: &Value) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let r = sqlx::query("UPDATE jobs SET progress = $3 WHERE id = $1 AND lease_token = $2 AND state = 'running'")
            .bind(lease.job_id)
            .bind(lease.token)
            .bind(progress.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected() == 1)
    }

    async fn rescue_expired(&self, now: DateTime<Utc>, limit: u32) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_as(
            "UPDATE jobs SET \
               state = CASE WHEN cancel_requested THEN 'cancelled' \
                            WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END, \
               errors = json_insert(errors, '$[#]', json_object('attempt', attempt, 'at', $2, \
                 'error', 'lease expired: the worker stopped heartbeating', 'worker', worker_id)), \
               finalized_at = CASE WHEN cancel_requested OR attempt >= max_attempts THEN $1 END, \
               run_at = $1, lease_expires_at = NULL \
             WHERE id IN (SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < strftime($4, 'now') \
               ORDER BY lease_expires_at LIMIT $3) \
             RETURNING id, state, kind",
        )
        .bind(now)
        .bind(json_time(now))
        .bind(i64::from(limit))
        .bind(DB_NOW_FORMAT)
        .fetch_all(&mut *tx)
        .await
        .map(|rows: Vec<(i64, String, String)>| {
            crate::jobs::count_rescue_discards(
                rows.iter().map(|(_, s, k)| (s.as_str(), k.as_str())),
            );
            rows.into_iter().map(|(id, _, _)| id).collect()
        })?;
        if !ids.is_empty() {
            sqlx::query(
                "INSERT INTO job_events (job_id, at, state, attempt, worker_id, note) \
                 SELECT id, $1, state, attempt, worker_id, 'lease expired' FROM jobs \
                 WHERE id IN (SELECT value FROM json_each($2)) ORDER BY id",
            )
            .bind(now)
            .bind(ids_json(&ids))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if !ids.is_empty() {
            raise(&self.wakeup);
        }
        Ok(ids.len() as u64)
    }

    async fn prune_jobs(&self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finalized_at < $1 \
               AND state IN ('completed', 'cancelled', 'discarded') ORDER BY finalized_at LIMIT $2) RETURNING id",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        if !ids.is_empty() {
            sqlx::query("DELETE FROM job_events WHERE job_id IN (SELECT value FROM json_each($1))")
                .bind(ids_json(&ids))
                .execute(&mut *tx)
                .await?;
        }
        prune_ticks_and_workers(&mut tx, before).await?;
        tx.commit().await?;
        Ok(ids.len() as u64)
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "DELETE FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE queue = $1)",
        )
        .bind(queue)
        .execute(&mut *tx)
        .await?;
        let r = sqlx::query("DELETE FROM jobs WHERE queue = $1")
            .bind(queue)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(r.rows_affected())
    }

    async fn register_worker(&self, w: &WorkerInfo) -> Result<()> {
        write_worker(self.write_pool(), w).await
    }

    async fn deregister_worker(&self, worker_id: &str) -> Result<()> {
        delete_worker(self.write_pool(), worker_id).await
    }

    async fn list_workers(&self, since: DateTime<Utc>) -> Result<Vec<WorkerInfo>> {
        read_workers(self.reader(), since).await
    }

    async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        read_job(self.reader(), id).await
    }

    async fn list_jobs(&self, q: &JobQuery) -> Result<Page<Job>> {
        read_jobs(self.reader(), q).await
    }

    async fn job_history(&self, id: i64) -> Result<Vec<JobEvent>> {
        read_history(self.reader(), id).await
    }

    async fn batch_counts(&self, batch_id: Uuid) -> Result<Vec<(JobState, i64)>> {
        read_batch_counts(self.reader(), batch_id).await
    }

    async fn job_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<cc_domain::StreamEvent>> {
        read_events_after(self.reader(), after, limit).await
    }

    async fn last_job_event(&self) -> Result<i64> {
        read_last_event(self.reader()).await
    }

    async fn queue_stats(&self, queue: &str) -> Result<crate::jobs::QueueStats> {
        read_queue_stats(self.reader(), queue).await
    }

    async fn queue_unfinished(&self, queue: &str) -> Result<bool> {
        read_queue_unfinished(self.reader(), queue).await
    }

    async fn queue_gauges(&self, now: DateTime<Utc>) -> Result<Vec<crate::jobs::QueueGauge>> {
        read_queue_gauges(self.reader(), now).await
    }

    async fn finished_per_minute(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::jobs::FinishedCount>> {
        // Timestamps are stored as RFC 3339 text in UTC: the first 16 characters name the
        // minute (`2026-01-31T08:15`).
        let rows: Vec<(String, String, i64)> = sqlx::query_as(
            "SELECT substr(finalized_at, 1, 16) AS m, state, count(*) FROM jobs \
             WHERE finalized_at >= $1 GROUP BY m, state ORDER BY m, state",
        )
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        finished_counts(rows.into_iter().map(|(m, s, n)| {
            let minute = DateTime::parse_from_rfc3339(&format!("{m}:00Z"))
                .ok()
                .map(|t| t.with_timezone(&Utc));
            (minute, s, n)
        }))
    }

    async fn job_signals(&self) -> Result<Box<dyn JobSignals>> {
        let probe = match &self.probe {
            Some(opts) => {
                use sqlx::Connection;
                let mut conn = sqlx::SqliteConnection::connect_with(opts).await?;
                let version: i64 = sqlx::query_scalar("PRAGMA data_version")
                    .fetch_one(&mut conn)
                    .await?;
                Some((conn, version))
            }
            None => None,
        };
        Ok(Box::new(SqliteSignals {
            local: self.wakeup.subscribe(),
            probe,
        }))
    }
}

impl SqliteStore {
    /// A guarded bulk transition of leases to the state `set` describes (`$1` is now).
    async fn finish_leases(&self, b: Finish<'_, Lease>, set: &str, note: &str) -> Result<Vec<i64>> {
        if b.items.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> = sqlx::query_scalar(&format!(
            "UPDATE jobs SET {set} \
             FROM (SELECT value ->> 'id' AS id, value ->> 'token' AS token FROM json_each($2)) AS u \
             WHERE jobs.id = u.id AND jobs.lease_token = u.token AND jobs.state = 'running' RETURNING jobs.id"
        ))
        .bind(b.now)
        .bind(lease_json(b.items))
        .fetch_all(&mut *tx)
        .await?;
        record_events(&mut tx, &ids, b.now, Some(b.worker_id), Some(note)).await?;
        tx.commit().await?;
        Ok(ids)
    }
}

/// How often another process's commits are looked for.
const PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

struct SqliteSignals {
    local: watch::Receiver<u64>,
    probe: Option<(sqlx::SqliteConnection, i64)>,
}

#[async_trait]
impl JobSignals for SqliteSignals {
    async fn next(&mut self) -> Result<Option<String>> {
        let closed = |_| crate::StoreError::Unavailable("the store was closed".into());
        let Some((conn, seen)) = &mut self.probe else {
            self.local.changed().await.map_err(closed)?;
            return Ok(None);
        };
        loop {
            tokio::select! {
                r = self.local.changed() => {
                    r.map_err(closed)?;
                    return Ok(None);
                }
                () = tokio::time::sleep(PROBE_INTERVAL) => {
                    let version: i64 = sqlx::query_scalar("PRAGMA data_version").fetch_one(&mut *conn).await?;
                    if version != *seen {
                        *seen = version;
                        return Ok(None);
                    }
                }
            }
        }
    }
}
