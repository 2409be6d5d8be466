//! Jobs on PostgreSQL: `FOR UPDATE SKIP LOCKED` claims, bulk transitions over `unnest` arrays,
//! history written by the same statement (data-modifying CTEs), and `LISTEN/NOTIFY` wake-ups
//! sent from the enqueueing transaction (so a rolled-back enqueue wakes nobody).

use async_trait::async_trait;
use cc_domain::{Job, JobEvent, JobQuery, JobState, NewJob, Page, WorkerInfo};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::{PgStore, PgTx, FOR_UPDATE};
use crate::job_rows::ClaimRow;
use crate::jobs::{
    initial_state, recorded_writes, CancelOutcome, ClaimRequest, ClaimedJob, Completion, Enqueued,
    Failure, Finish, Heartbeat, HeartbeatReply, JobSignals, JobStore, JobTx, Lease,
};
use crate::Result;
use shared::*;

type Db = sqlx::Postgres;

// The job SQL both backends share, compiled once per backend over `Db` and `FOR_UPDATE`.
#[path = "../sql/jobs.rs"]
#[allow(clippy::duplicate_mod)]
mod shared;

mod tx;

/// A lease's end on the database's clock: `$5` is the lease length in seconds.
const LEASE_EXPIRY: &str = "clock_timestamp() + make_interval(secs => $5)";

/// Statements that join a bound array (`unnest($1::int8[], …)`) are sent unprepared
/// (`persistent(false)`), so PostgreSQL plans each one with the values bound and knows the
/// array's length. A prepared statement switches to a generic plan after five executions; that
/// plan guesses 10 array elements and, while the statistics saw few `running` rows (they were
/// gathered when the jobs were waiting), drives the join from the `jobs_lease` index and
/// rescans the whole array for every row: quadratic in the batch (2,000 completions: four
/// million comparisons, seconds per statement). Planning each batch costs well under a
/// millisecond. See docs/performance.md ("Job queue").
const PLAN_WITH_VALUES: bool = false;

/// The channel enqueueing transactions notify, with the queue name as payload.
pub const JOBS_CHANNEL: &str = "cc_jobs";

/// Upserts people's links to targets in one statement, skipping people who are gone (deleted
/// while their job ran). `links` holds a person's link to a target at most once (see
/// [`recorded_writes`]): one statement cannot upsert a row twice.
async fn upsert_links(
    tx: &mut sqlx::Transaction<'static, Db>,
    links: &[cc_domain::TargetLinkRecord],
) -> Result<()> {
    if links.is_empty() {
        return Ok(());
    }
    let users: Vec<Uuid> = links.iter().map(|l| l.user_id).collect();
    let targets: Vec<&str> = links.iter().map(|l| l.target.as_str()).collect();
    let accounts: Vec<Option<&str>> = links.iter().map(|l| l.account_id.as_deref()).collect();
    let statuses: Vec<&str> = links.iter().map(|l| l.status.as_str()).collect();
    let operations: Vec<&str> = links.iter().map(|l| l.last_operation.as_str()).collect();
    let jobs: Vec<Option<i64>> = links.iter().map(|l| l.last_job_id).collect();
    let errors: Vec<Option<&str>> = links.iter().map(|l| l.last_error.as_deref()).collect();
    let synced: Vec<Option<DateTime<Utc>>> = links.iter().map(|l| l.synced_at).collect();
    let updated: Vec<DateTime<Utc>> = links.iter().map(|l| l.updated_at).collect();
    sqlx::query(
        "INSERT INTO target_links (user_id, target, account_id, status, last_operation, last_job_id, last_error, \
           synced_at, updated_at) \
         SELECT u.* FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::text[], \
           $8::timestamptz[], $9::timestamptz[]) \
           AS u(user_id, target, account_id, status, last_operation, last_job_id, last_error, synced_at, updated_at) \
         WHERE EXISTS (SELECT 1 FROM users WHERE id = u.user_id) \
         ON CONFLICT (user_id, target) DO UPDATE SET account_id = excluded.account_id, status = excluded.status, \
           last_operation = excluded.last_operation, last_job_id = excluded.last_job_id, \
           last_error = excluded.last_error, synced_at = excluded.synced_at, updated_at = excluded.updated_at",
    )
    .bind(users)
    .bind(targets)
    .bind(accounts)
    .bind(statuses)
    .bind(operations)
    .bind(jobs)
    .bind(errors)
    .bind(synced)
    .bind(updated)
    .persistent(PLAN_WITH_VALUES)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn split(leases: &[Lease]) -> (Vec<i64>, Vec<i64>) {
    leases.iter().map(|l| (l.job_id, l.token)).unzip()
}

#[async_trait]
impl JobStore for PgStore {
    async fn claim_jobs(&self, req: &ClaimRequest<'_>) -> Result<Vec<ClaimedJob>> {
        let kind_filter = if req.kinds.is_some() {
            "AND kind = ANY($6) "
        } else {
            ""
        };
        // The picked ids are handed to the update as an array, so it finds each row by its
        // primary key. Joined to a CTE instead, the planner could hash the whole table for a
        // claim (a sequential scan of every job, finished ones and their dead versions
        // included), so claims cost more the larger the table. See docs/performance.md
        // ("Job queue").
        let sql = format!(
            "WITH claimed AS ( \
               UPDATE jobs j SET state = 'running', attempt = j.attempt + 1, lease_token = j.lease_token + 1, \
                 worker_id = $4, lease_expires_at = {LEASE_EXPIRY}, attempted_at = $2 \
               WHERE j.id = ANY (ARRAY( \
                 SELECT id FROM jobs \
                 WHERE queue = $1 AND state IN ('scheduled', 'available', 'retryable') AND run_at <= $2 \
                 {kind_filter}ORDER BY priority DESC, run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)) \
               RETURNING j.id, j.lease_token, j.queue, j.kind, j.args, j.attempt, j.max_attempts, j.created_at, j.batch_id \
             ), ev AS ( \
               INSERT INTO job_events (job_id, at, state, attempt, worker_id) \
               SELECT id, $2, 'running', attempt, $4 FROM claimed \
             ) SELECT * FROM claimed ORDER BY id"
        );
        let mut query = sqlx::query_as(&sql)
            .bind(req.queue)
            .bind(req.now)
            .bind(i64::from(req.limit))
            .bind(req.worker_id)
            .bind(req.lease_ttl.as_secs_f64());
        if let Some(kinds) = req.kinds {
            query = query.bind(kinds);
        }
        let rows: Vec<ClaimRow> = query.persistent(true).fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(ClaimedJob::from).collect())
    }

    async fn complete_jobs(&self, b: Finish<'_, Completion>) -> Result<Vec<i64>> {
        if b.items.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = b.items.iter().map(|c| c.lease.job_id).collect();
        let tokens: Vec<i64> = b.items.iter().map(|c| c.lease.token).collect();
        let results: Vec<Option<String>> = b
            .items
            .iter()
            .map(|c| c.result.as_ref().map(Value::to_string))
            .collect();
        let progress: Vec<Option<String>> = b
            .items
            .iter()
            .map(|c| c.writes.progress.as_ref().map(Value::to_string))
            .collect();
        let complete = sqlx::query_scalar(
            "WITH done AS ( \
               UPDATE jobs j SET state = 'completed', result = u.result::jsonb, \
                 progress = COALESCE(u.progress::jsonb, j.progress), finalized_at = $4, lease_expires_at = NULL \
               FROM unnest($1::int8[], $2::int8[], $3::text[], $6::text[]) AS u(id, token, result, progress) \
               WHERE j.id = u.id AND j.lease_token = u.token AND j.state = 'running' \
               RETURNING j.id, j.attempt \
             ), ev AS ( \
               INSERT INTO job_events (job_id, at, state, attempt, worker_id) \
               SELECT id, $4, 'completed', attempt, $5 FROM done \
             ) SELECT id FROM done",
        )
        .bind(ids)
        .bind(tokens)
        .bind(results)
        .bind(b.now)
        .bind(b.worker_id)
        .bind(progress)
        .persistent(PLAN_WITH_VALUES);
        if b.items
            .iter()
            .all(|c| c.writes.links.is_empty() && c.writes.audit.is_empty())
        {
            return Ok(complete.fetch_all(&self.control).await?);
        }
        // Links and audit events commit with the completions that were recorded.
        let mut tx = self.control.begin().await?;
        let done: Vec<i64> = complete.fetch_all(&mut *tx).await?;
        let (links, audit) = recorded_writes(b.items, &done);
        upsert_links(&mut tx, &links).await?;
        append_audit_events(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn fail_jobs(&self, b: Finish<'_, Failure>) -> Result<Vec<i64>> {
        if b.items.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = b.items.iter().map(|f| f.lease.job_id).collect();
        let tokens: Vec<i64> = b.items.iter().map(|f| f.lease.token).collect();
        let errors: Vec<String> = b.items.iter().map(|f| f.error.clone()).collect();
        let retry: Vec<Option<chrono::DateTime<chrono::Utc>>> =
            b.items.iter().map(|f| f.retry_at).collect();
        Ok(sqlx::query_scalar(
            "WITH failed AS ( \
               UPDATE jobs j SET \
                 state = CASE WHEN u.retry_at IS NULL OR j.attempt >= j.max_attempts THEN 'discarded' ELSE 'retryable' END, \
                 run_at = COALESCE(u.retry_at, j.run_at), \
                 errors = j.errors || jsonb_build_array(jsonb_build_object( \
                   'attempt', j.attempt, 'at', $5::text, 'error', u.error, 'worker', $6::text)), \
                 finalized_at = CASE WHEN u.retry_at IS NULL OR j.attempt >= j.max_attempts THEN $7 END, \
                 lease_expires_at = NULL \
               FROM unnest($1::int8[], $2::int8[], $3::text[], $4::timestamptz[]) AS u(id, token, error, retry_at) \
               WHERE j.id = u.id AND j.lease_token = u.token AND j.state = 'running' \
               RETURNING j.id, j.state, j.attempt \
             ), ev AS ( \
               INSERT INTO job_events (job_id, at, state, attempt, worker_id, note) \
               SELECT id, $7, state, attempt, $6, 'attempt failed' FROM failed \
             ) SELECT id FROM failed",
        )
        .bind(ids)
        .bind(tokens)
        .bind(errors)
        .bind(retry)
        .bind(json_time(b.now))
        .bind(b.worker_id)
        .bind(b.now)
        .persistent(PLAN_WITH_VALUES)
        .fetch_all(&self.control)
        .await?)
    }

    async fn cancel_running(&self, b: Finish<'_, Lease>) -> Result<Vec<i64>> {
        self.finish_leases(
            b,
            "state = 'cancelled', finalized_at = $3, lease_expires_at = NULL",
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
        let ids: Vec<i64> = sqlx::query_scalar(
            "WITH changed AS ( \
               UPDATE jobs SET state = 'scheduled', attempt = attempt - 1, run_at = $1, worker_id = NULL, \
                 lease_expires_at = NULL WHERE id = $2 AND lease_token = $3 AND state = 'running' \
               RETURNING id, state, attempt \
             ), ev AS ( \
               INSERT INTO job_events (job_id, at, state, attempt, worker_id, note) \
               SELECT id, $4, state, attempt, $5, $6 FROM changed \
             ) SELECT id FROM changed",
        )
        .bind(until)
        .bind(lease.job_id)
        .bind(lease.token)
        .bind(now)
        .bind(worker_id)
        .bind(note)
        .fetch_all(&self.control)
        .await?;
        Ok(!ids.is_empty())
    }

    async fn release_jobs(&self, b: Finish<'_, Lease>) -> Result<Vec<i64>> {
        self.finish_leases(
            b,
            "state = 'available', attempt = j.attempt - 1, run_at = $3, worker_id = NULL, lease_expires_at = NULL",
            "released at shutdown",
        )
        .await
    }

    async fn heartbeat(&self, hb: &Heartbeat<'_>) -> Result<HeartbeatReply> {
        sqlx::query("UPDATE job_workers SET heartbeat_at = $2 WHERE id = $1")
            .bind(hb.worker_id)
            .bind(hb.now)
            .execute(&self.control)
            .await?;
        if hb.leases.is_empty() {
            return Ok(HeartbeatReply::default());
        }
        let (ids, tokens) = split(hb.leases);
        let held: Vec<(i64, i64, bool)> = sqlx::query_as(
            "UPDATE jobs j SET lease_expires_at = clock_timestamp() + make_interval(secs => $3) \
             FROM unnest($1::int8[], $2::int8[]) AS u(id, token) \
             WHERE j.id = u.id AND j.lease_token = u.token AND j.state = 'running' \
             RETURNING j.id, j.lease_token, j.cancel_requested",
        )
        .bind(ids)
        .bind(tokens)
        .bind(hb.lease_ttl.as_secs_f64())
        .persistent(PLAN_WITH_VALUES)
        .fetch_all(&self.control)
        .await?;
        Ok(HeartbeatReply::from_renewed(hb.leases, &held))
    }

    async fn cancel_requests(&self, leases: &[Lease]) -> Result<Vec<Lease>> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, tokens) = split(leases);
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT j.id, j.lease_token FROM jobs j JOIN unnest($1::int8[], $2::int8[]) AS u(id, token) \
             ON j.id = u.id AND j.lease_token = u.token WHERE j.state = 'running' AND j.cancel_requested",
        )
        .bind(ids)
        .bind(tokens)
        .persistent(PLAN_WITH_VALUES)
        .fetch_all(&self.control)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(job_id, token)| Lease { job_id, token })
            .collect())
    }

    async fn report_progress(&self, lease: Lease, progress: &Value) -> Result<bool> {
        let r = sqlx::query("UPDATE jobs SET progress = $3::jsonb WHERE id = $1 AND lease_token = $2 AND state = 'running'")
            .bind(lease.job_id)
            .bind(lease.token)
            .bind(progress.to_string())
            .execute(&self.control)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn rescue_expired(&self, now: DateTime<Utc>, limit: u32) -> Result<u64> {
        let n: i64 = sqlx::query_as(
            "WITH rescued AS ( \
               UPDATE jobs j SET \
                 state = CASE WHEN j.cancel_requested THEN 'cancelled' \
                              WHEN j.attempt >= j.max_attempts THEN 'discarded' ELSE 'retryable' END, \
                 errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, 'at', $3::text, \
                   'error', 'lease expired: the worker stopped heartbeating', 'worker', j.worker_id)), \
                 finalized_at = CASE WHEN j.cancel_requested OR j.attempt >= j.max_attempts THEN $1 END, \
                 run_at = $1, lease_expires_at = NULL \
               WHERE j.id = ANY (ARRAY( \
                 SELECT id FROM jobs WHERE state = 'running' AND lease_expires_at < now() \
                 ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)) AND j.state = 'running' \
               RETURNING j.id, j.state, j.attempt, j.worker_id, j.kind \
             ), ev AS ( \
               INSERT INTO job_events (job_id, at, state, attempt, worker_id, note) \
               SELECT id, $1, state, attempt, worker_id, 'lease expired' FROM rescued \
             ) SELECT count(*), coalesce(array_agg(kind) FILTER (WHERE state = 'discarded'), '{}') FROM rescued",
        )
        .bind(now)
        .bind(i64::from(limit))
        .bind(json_time(now))
        .fetch_one(&self.pool)
        .await
        .map(|(n, discarded): (i64, Vec<String>)| {
            crate::jobs::count_rescue_discards(discarded.iter().map(|k| ("discarded", k.as_str())));
            n
        })?;
        if n > 0 {
            self.notify_any().await?;
        }
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn prune_jobs(&self, before: DateTime<Utc>, limit: u32) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "WITH gone AS ( \
               DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE finalized_at < $1 \
                 AND state IN ('completed', 'cancelled', 'discarded') ORDER BY finalized_at LIMIT $2) \
               RETURNING id \
             ), ev AS (DELETE FROM job_events WHERE job_id IN (SELECT id FROM gone)) \
             SELECT count(*) FROM gone",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_one(&self.pool)
        .await?;
        prune_ticks_and_workers(&mut *self.pool.acquire().await?, before).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn purge_queue(&self, queue: &str) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
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
        // A benchmark starts from tables as autovacuum would leave them: without this, each
        // run on a server with autovacuum off (or not yet come round) claims through the
        // dead index entries of every run before it, and gets slower run after run.
        sqlx::query("VACUUM (ANALYZE) jobs, job_events")
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected())
    }

    async fn register_worker(&self, w: &WorkerInfo) -> Result<()> {
        write_worker(&self.control, w).await
    }

    async fn deregister_worker(&self, worker_id: &str) -> Result<()> {
        delete_worker(&self.control, worker_id).await
    }

    async fn list_workers(&self, since: DateTime<Utc>) -> Result<Vec<WorkerInfo>> {
        read_workers(&self.pool, since).await
    }

    async fn get_job(&self, id: i64) -> Result<Option<Job>> {
        read_job(&self.pool, id).await
    }

    async fn list_jobs(&self, q: &JobQuery) -> Result<Page<Job>> {
        read_jobs(&self.pool, q).await
    }

    async fn job_history(&self, id: i64) -> Result<Vec<JobEvent>> {
        read_history(&self.pool, id).await
    }

    async fn batch_counts(&self, batch_id: Uuid) -> Result<Vec<(JobState, i64)>> {
        read_batch_counts(&self.pool, batch_id).await
    }

    async fn job_events_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<cc_domain::StreamEvent>> {
        read_events_after(&self.pool, after, limit).await
    }

    async fn last_job_event(&self) -> Result<i64> {
        read_last_event(&self.pool).await
    }

    async fn event_gap_mark(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(Some(
            sqlx::query_scalar("SELECT clock_timestamp()")
                .fetch_one(&self.pool)
                .await?,
        ))
    }

    /// No client session of this database (but this one) is in a transaction that began at
    /// or before `mark`. A session of another role whose activity this role may not see
    /// (`<insufficient privilege>`) counts as open, so without `pg_read_all_stats` other
    /// roles' sessions make readers wait their fixed time, as before; so does a server that
    /// does not track activity (`track_activities = off`: no `xact_start` to read). A session
    /// clears its `xact_start` only after its transaction left the set of running ones, so a
    /// read made after this answer sees whatever it committed.
    async fn event_gap_settled(&self, mark: DateTime<Utc>) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT current_setting('track_activities') = 'on' \
               AND NOT EXISTS (SELECT 1 FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid() \
                   AND (query = '<insufficient privilege>' \
                     OR (backend_type = 'client backend' AND xact_start <= $1)))",
        )
        .bind(mark)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn queue_stats(&self, queue: &str) -> Result<crate::jobs::QueueStats> {
        read_queue_stats(&self.pool, queue).await
    }

    async fn queue_unfinished(&self, queue: &str) -> Result<bool> {
        read_queue_unfinished(&self.pool, queue).await
    }

    async fn queue_gauges(&self, now: DateTime<Utc>) -> Result<Vec<crate::jobs::QueueGauge>> {
        read_queue_gauges(&self.pool, now).await
    }

    async fn finished_per_minute(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<crate::jobs::FinishedCount>> {
        let rows: Vec<(DateTime<Utc>, String, i64)> = sqlx::query_as(
            "SELECT date_trunc('minute', finalized_at) AS m, state, count(*) FROM jobs \
             WHERE finalized_at >= $1 GROUP BY m, state ORDER BY m, state",
        )
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        finished_counts(rows.into_iter().map(|(m, s, n)| (Some(m), s, n)))
    }

    async fn job_signals(&self) -> Result<Box<dyn JobSignals>> {
        let mut listener = PgListener::connect_with(&self.listen).await?;
        listener.listen(JOBS_CHANNEL).await?;
        Ok(Box::new(PgSignals(listener)))
    }
}

impl PgStore {
    /// A guarded bulk transition of leases to the state `set` describes (`$3` is now).
    async fn finish_leases(&self, b: Finish<'_, Lease>, set: &str, note: &str) -> Result<Vec<i64>> {
        if b.items.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, tokens) = split(b.items);
        let sql = format!(
            "WITH changed AS ( \
               UPDATE jobs j SET {set} \
               FROM unnest($1::int8[], $2::int8[]) AS u(id, token) \
               WHERE j.id = u.id AND j.lease_token = u.token AND j.state = 'running' \
               RETURNING j.id, j.state, j.attempt \
             ), ev AS ( \
               INSERT INTO job_events (job_id, at, state, attempt, worker_id, note) \
               SELECT id, $3, state, attempt, $4, $5 FROM changed \
             ) SELECT id FROM changed"
        );
        let ids: Vec<i64> = sqlx::query_scalar(&sql)
            .bind(ids)
            .bind(tokens)
            .bind(b.now)
            .bind(b.worker_id)
            .bind(note)
            .persistent(PLAN_WITH_VALUES)
            .fetch_all(&self.control)
            .await?;
        Ok(ids)
    }

    async fn notify_any(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(JOBS_CHANNEL)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

struct PgSignals(PgListener);

#[async_trait]
impl JobSignals for PgSignals {
    async fn next(&mut self) -> Result<Option<String>> {
        match self.0.try_recv().await? {
            Some(n) if !n.payload().is_empty() => Ok(Some(n.payload().to_owned())),
            // The connection dropped (the listener reconnects on the next call) or an
            // "any queue" signal: wake every queue.
            _ => Ok(None),
        }
    }
}
