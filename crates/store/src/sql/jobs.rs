//! The job store SQL both backends share: reads, worker registration, cron ticks and the
//! locked read of one job. A module of `sqlite/jobs.rs` and `postgres/jobs.rs` (`#[path]`),
//! which define `Db` and `FOR_UPDATE` (the row-lock suffix, empty on SQLite).

use cc_domain::{Job, JobEvent, JobQuery, JobState, NewAuditEvent, Page, StreamEvent, WorkerInfo};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::*;
use crate::job_rows::{job_page, JobEventRow, JobRow, WorkerRow, EVENT_SELECT, JOB_COLUMNS};
use crate::rows::convert;
use crate::Result;

type Pool = sqlx::Pool<Db>;
type Conn = <Db as sqlx::Database>::Connection;

/// Jobs with a unique key that still hold it (a new job with the same key is a duplicate).
pub(super) const UNFINISHED: &str =
    "unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retryable')";

/// The columns an enqueue writes, in the order of its placeholders.
pub(super) const INSERT_COLUMNS: &str = "queue, kind, args, priority, state, max_attempts, run_at, unique_key, batch_id, parent_id, created_by, request_id, created_at";

/// Appends `events` to the audit chain inside the caller's write transaction (the chain's
/// head locked until it commits).
pub(super) async fn append_audit_events(conn: &mut Conn, events: Vec<NewAuditEvent>) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let head_sql = format!("SELECT seq, hash FROM audit_head WHERE id = 1{FOR_UPDATE}");
    let (seq, hash): (i64, String) = sqlx::query_as(&head_sql).fetch_one(&mut *conn).await?;
    let (seq, hash) = super::super::bulk::bulk_append_audit(conn, events, seq, hash).await?;
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(&hash)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One job, locked for the rest of the transaction where the backend locks rows.
pub(super) async fn job_for_update(conn: &mut Conn, id: i64) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1{FOR_UPDATE}");
    let row: Option<JobRow> = sqlx::query_as(&sql).bind(id).fetch_optional(conn).await?;
    row.map(Job::try_from).transpose()
}

/// Records that a cron schedule fired for `tick`; false when another scheduler already did.
pub(super) async fn claim_cron_tick(
    conn: &mut Conn,
    name: &str,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let r = sqlx::query(
        "INSERT INTO cron_ticks (name, tick, fired_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
    )
    .bind(name)
    .bind(tick)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Links a claimed cron tick to the job it enqueued.
pub(super) async fn set_cron_tick_job(
    conn: &mut Conn,
    name: &str,
    tick: DateTime<Utc>,
    job_id: i64,
) -> Result<()> {
    sqlx::query("UPDATE cron_ticks SET job_id = $3 WHERE name = $1 AND tick = $2")
        .bind(name)
        .bind(tick)
        .bind(job_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes cron ticks fired, worker registrations last heard of, and notices and one-time
/// request keys recorded before `before`.
pub(super) async fn prune_ticks_and_workers(conn: &mut Conn, before: DateTime<Utc>) -> Result<()> {
    sqlx::query("DELETE FROM cron_ticks WHERE fired_at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    sqlx::query("DELETE FROM job_workers WHERE heartbeat_at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    // One-time request keys outlive any reload of the form that used them by far.
    sqlx::query("DELETE FROM request_keys WHERE created_at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    // Notices (no job) go with the finished jobs of their time.
    sqlx::query("DELETE FROM job_events WHERE topic IS NOT NULL AND at < $1")
        .bind(before)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub(super) async fn read_job(pool: &Pool, id: i64) -> Result<Option<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
    let row: Option<JobRow> = sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?;
    row.map(Job::try_from).transpose()
}

pub(super) async fn read_jobs(pool: &Pool, q: &JobQuery) -> Result<Page<Job>> {
    let mut sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE 1=1");
    let mut n = 0;
    let mut next = |sql: &mut String, cond: &str| {
        n += 1;
        sql.push_str(&format!(" AND {cond} ${n}"));
    };
    if q.state.is_some() {
        next(&mut sql, "state =");
    }
    if q.kind.is_some() {
        next(&mut sql, "kind =");
    }
    if q.queue.is_some() {
        next(&mut sql, "queue =");
    }
    if q.batch_id.is_some() {
        next(&mut sql, "batch_id =");
    }
    if q.before_id.is_some() {
        next(&mut sql, "id <");
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ${}", n + 1));
    let mut query = sqlx::query_as::<Db, JobRow>(&sql);
    if let Some(s) = q.state {
        query = query.bind(s.as_str());
    }
    if let Some(k) = &q.kind {
        query = query.bind(k.clone());
    }
    if let Some(v) = &q.queue {
        query = query.bind(v.clone());
    }
    if let Some(b) = q.batch_id {
        query = query.bind(b);
    }
    if let Some(id) = q.before_id {
        query = query.bind(id);
    }
    let rows = query.bind(i64::from(q.limit) + 1).fetch_all(pool).await?;
    job_page(rows, q.limit)
}

pub(super) async fn read_history(pool: &Pool, id: i64) -> Result<Vec<JobEvent>> {
    let sql = format!("{EVENT_SELECT} WHERE e.job_id = $1 ORDER BY e.seq");
    let rows: Vec<JobEventRow> = sqlx::query_as(&sql).bind(id).fetch_all(pool).await?;
    convert(rows)
}

pub(super) async fn read_events_after(
    pool: &Pool,
    after: i64,
    limit: u32,
) -> Result<Vec<StreamEvent>> {
    let sql = format!("{EVENT_SELECT} WHERE e.seq > $1 ORDER BY e.seq LIMIT $2");
    let rows: Vec<JobEventRow> = sqlx::query_as(&sql)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?;
    convert(rows)
}

pub(super) async fn read_last_event(pool: &Pool) -> Result<i64> {
    let seq: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM job_events")
        .fetch_one(pool)
        .await?;
    Ok(seq.unwrap_or(0))
}

pub(super) async fn read_batch_counts(pool: &Pool, batch_id: Uuid) -> Result<Vec<(JobState, i64)>> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT state, count(*) FROM jobs WHERE batch_id = $1 GROUP BY state ORDER BY state",
    )
    .bind(batch_id)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(s, n)| {
            s.parse::<JobState>().map(|st| (st, n)).map_err(|e| {
                crate::StoreError::Internal(format!("unexpected value in database: {e}"))
            })
        })
        .collect()
}

pub(super) async fn write_worker(pool: &Pool, w: &WorkerInfo) -> Result<()> {
    sqlx::query(
        "INSERT INTO job_workers (id, hostname, pid, queues, kinds, started_at, heartbeat_at) \
         VALUES ($1, $2, $3, $4, $7, $5, $6) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at, queues = excluded.queues, kinds = excluded.kinds",
    )
    .bind(&w.id)
    .bind(&w.hostname)
    .bind(w.pid)
    .bind(w.queues.join(","))
    .bind(w.started_at)
    .bind(w.heartbeat_at)
    .bind(w.kinds.as_ref().map(|k| k.join(",")))
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn delete_worker(pool: &Pool, id: &str) -> Result<()> {
    sqlx::query("DELETE FROM job_workers WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn read_workers(pool: &Pool, since: DateTime<Utc>) -> Result<Vec<WorkerInfo>> {
    let rows: Vec<WorkerRow> = sqlx::query_as(
        "SELECT id, hostname, pid, queues, kinds, started_at, heartbeat_at FROM job_workers WHERE heartbeat_at >= $1 ORDER BY id",
    )
    .bind(since)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(WorkerInfo::from).collect())
}

pub(super) async fn read_queue_stats(pool: &Pool, queue: &str) -> Result<crate::jobs::QueueStats> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, count(*) FROM jobs WHERE queue = $1 GROUP BY state")
            .bind(queue)
            .fetch_all(pool)
            .await?;
    let counts = rows
        .into_iter()
        .map(|(s, n)| {
            s.parse::<JobState>().map(|st| (st, n)).map_err(|e| {
                crate::StoreError::Internal(format!("unexpected value in database: {e}"))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let (first, last): (Option<DateTime<Utc>>, Option<DateTime<Utc>>) = sqlx::query_as(
        "SELECT (SELECT e.at FROM job_events e JOIN jobs j ON j.id = e.job_id \
           WHERE j.queue = $1 AND e.state = 'running' ORDER BY e.at LIMIT 1), \
         (SELECT max(finalized_at) FROM jobs WHERE queue = $1)",
    )
    .bind(queue)
    .fetch_one(pool)
    .await?;
    let completed_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_events e JOIN jobs j ON j.id = e.job_id WHERE j.queue = $1 AND e.state = 'completed'",
    )
    .bind(queue)
    .fetch_one(pool)
    .await?;
    Ok(crate::jobs::QueueStats {
        counts,
        first_attempted_at: first,
        last_finalized_at: last,
        completed_events,
    })
}

/// Whether `queue` has waiting or running jobs: two probes of the partial indexes `jobs_claim`
/// and `jobs_lease`, so polling it does not compete with the workers it waits for.
pub(super) async fn read_queue_unfinished(pool: &Pool, queue: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE queue = $1 AND state IN ('scheduled', 'available', 'retryable')) \
         OR EXISTS (SELECT 1 FROM jobs WHERE queue = $1 AND state = 'running')",
    )
    .bind(queue)
    .fetch_one(pool)
    .await?)
}

/// Per-minute counts of finished jobs from rows of (minute, state, count).
pub(super) fn finished_counts(
    rows: impl Iterator<Item = (Option<DateTime<Utc>>, String, i64)>,
) -> Result<Vec<crate::jobs::FinishedCount>> {
    rows.map(|(minute, state, count)| {
        let minute = minute
            .ok_or_else(|| crate::StoreError::Internal("unreadable finished-at minute".into()))?;
        let state: JobState = state.parse().map_err(crate::StoreError::Internal)?;
        Ok(crate::jobs::FinishedCount {
            minute,
            state,
            count,
        })
    })
    .collect()
}

/// The text form of a timestamp stored inside JSON (error records).
pub(super) fn json_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(super) async fn read_queue_gauges(
    pool: &Pool,
    now: DateTime<Utc>,
) -> Result<Vec<crate::jobs::QueueGauge>> {
    let counts: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state ORDER BY queue, state",
    )
    .fetch_all(pool)
    .await?;
    let due: Vec<(String, String, DateTime<Utc>, i64)> = sqlx::query_as(
        "SELECT queue, kind, min(run_at), count(*) FROM jobs WHERE state IN ('available', 'retryable', 'scheduled') \
         AND run_at <= $1 GROUP BY queue, kind ORDER BY queue, kind",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut out: Vec<crate::jobs::QueueGauge> = Vec::new();
    for (queue, state, n) in counts {
        let state: JobState = state.parse().map_err(crate::StoreError::Internal)?;
        match out.last_mut() {
            Some(g) if g.queue == queue => g.counts.push((state, n)),
            _ => out.push(crate::jobs::QueueGauge {
                queue,
                counts: vec![(state, n)],
                ..Default::default()
            }),
        }
    }
    for (queue, kind, at, n) in due {
        if let Some(g) = out.iter_mut().find(|g| g.queue == queue) {
            g.oldest_due = Some(g.oldest_due.map_or(at, |t| t.min(at)));
            g.due_kinds.push((kind, n));
        }
    }
    Ok(out)
}
