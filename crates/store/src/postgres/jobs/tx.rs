//! Enqueueing and operator actions inside a write transaction (`JobTx`).

use super::*;
use crate::postgres::copy::copy_in;

impl PgTx {
    async fn notify(&mut self, queue: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(JOBS_CHANNEL)
            .bind(queue)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    /// Inserts one job unless its unique key is taken; `None` on a duplicate.
    async fn insert_one(&mut self, job: &NewJob, now: DateTime<Utc>) -> Result<Option<i64>> {
        let state = initial_state(job, now);
        let sql = format!(
            "WITH ins AS ( \
               INSERT INTO jobs ({INSERT_COLUMNS}) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
               ON CONFLICT (unique_key) WHERE {UNFINISHED} DO NOTHING RETURNING id, state \
             ), ev AS (INSERT INTO job_events (job_id, at, state, attempt) SELECT id, $13, state, 0 FROM ins) \
             SELECT id FROM ins"
        );
        let id: Option<i64> = sqlx::query_scalar(&sql)
            .bind(&job.queue)
            .bind(&job.kind)
            .bind(job.args.to_string())
            .bind(job.priority)
            .bind(state.as_str())
            .bind(job.max_attempts)
            .bind(job.run_at.unwrap_or(now).max(now))
            .bind(&job.unique_key)
            .bind(job.batch_id)
            .bind(job.parent_id)
            .bind(&job.created_by)
            .bind(&job.request_id)
            .bind(now)
            .fetch_optional(&mut *self.0)
            .await?;
        if id.is_some() && state == JobState::Available {
            self.notify(&job.queue).await?;
        }
        Ok(id)
    }
}

#[async_trait]
impl JobTx for PgTx {
    async fn enqueue(&mut self, job: &NewJob) -> Result<Enqueued> {
        job.validate().map_err(crate::StoreError::Invalid)?;
        let now = cc_domain::now();
        for _ in 0..3 {
            if let Some(id) = self.insert_one(job, now).await? {
                return Ok(Enqueued {
                    id,
                    duplicate: false,
                });
            }
            let existing: Option<i64> = sqlx::query_scalar(&format!(
                "SELECT id FROM jobs WHERE unique_key = $1 AND {UNFINISHED}"
            ))
            .bind(&job.unique_key)
            .fetch_optional(&mut *self.0)
            .await?;
            if let Some(id) = existing {
                return Ok(Enqueued {
                    id,
                    duplicate: true,
                });
            }
            // The holder of the key finished between the two statements: try again.
        }
        Err(crate::StoreError::Unavailable(
            "unique job key is contended; retry".into(),
        ))
    }

    async fn enqueue_many(&mut self, jobs: &[NewJob]) -> Result<Vec<i64>> {
        let now = cc_domain::now();
        let mut ids = vec![0_i64; jobs.len()];
        let mut bulk: Vec<usize> = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            job.validate().map_err(crate::StoreError::Invalid)?;
            if job.unique_key.is_some() {
                ids[i] = self.enqueue(job).await?.id;
            } else {
                bulk.push(i);
            }
        }
        // Ids are drawn from the identity's sequence first, so the jobs and their first
        // history rows go in with `COPY` (no `RETURNING` there).
        for chunk in bulk.chunks(10_000) {
            let mut new_ids: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval(pg_get_serial_sequence('jobs', 'id')) FROM generate_series(1, $1)",
            )
            .bind(chunk.len() as i64)
            .fetch_all(&mut *self.0)
            .await?;
            new_ids.sort_unstable();
            let states: Vec<JobState> = chunk
                .iter()
                .map(|&i| initial_state(&jobs[i], now))
                .collect();
            let rows = chunk.iter().zip(&new_ids).zip(&states);
            copy_in(
                &mut self.0,
                "COPY jobs (id, queue, kind, args, priority, state, max_attempts, run_at, batch_id, parent_id, \
                 created_by, request_id, created_at) FROM STDIN (FORMAT binary)",
                rows,
                |r, ((&i, &id), state)| {
                    let j = &jobs[i];
                    r.row(13)
                        .int8(id)
                        .text(&j.queue)
                        .text(&j.kind)
                        .jsonb_value(&j.args)
                        .int2(j.priority)
                        .text(state.as_str())
                        .int4(j.max_attempts)
                        .timestamptz(j.run_at.unwrap_or(now).max(now))
                        .opt_uuid(j.batch_id)
                        .opt_int8(j.parent_id)
                        .opt_text(j.created_by.as_deref())
                        .opt_text(j.request_id.as_deref())
                        .timestamptz(now);
                },
            )
            .await?;
            copy_in(
                &mut self.0,
                "COPY job_events (job_id, at, state, attempt) FROM STDIN (FORMAT binary)",
                new_ids.iter().zip(&states),
                |r, (&id, state)| {
                    r.row(4)
                        .int8(id)
                        .timestamptz(now)
                        .text(state.as_str())
                        .int4(0);
                },
            )
            .await?;
            for (&i, id) in chunk.iter().zip(new_ids) {
                ids[i] = id;
            }
            let mut queues: Vec<&str> = chunk
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s == JobState::Available)
                .map(|(&i, _)| jobs[i].queue.as_str())
                .collect();
            queues.sort_unstable();
            queues.dedup();
            for q in queues {
                self.notify(q).await?;
            }
        }
        Ok(ids)
    }

    async fn get_job_for_update(&mut self, id: i64) -> Result<Option<Job>> {
        job_for_update(&mut self.0, id).await
    }

    async fn cancel_job(&mut self, id: i64, now: DateTime<Utc>) -> Result<Option<CancelOutcome>> {
        let Some(job) = self.get_job_for_update(id).await? else {
            return Ok(None);
        };
        let (set, state, note, requested) = match job.state {
            s if s.is_final() => return Ok(Some(CancelOutcome::AlreadyFinal(job))),
            JobState::Running => (
                "cancel_requested = true",
                "running",
                "cancel requested",
                true,
            ),
            _ => (
                "state = 'cancelled', finalized_at = $2",
                "cancelled",
                "cancelled by operator",
                false,
            ),
        };
        sqlx::query(&format!("UPDATE jobs SET {set} WHERE id = $1"))
            .bind(id)
            .bind(now)
            .execute(&mut *self.0)
            .await?;
        sqlx::query(
            "INSERT INTO job_events (job_id, at, state, attempt, note) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(now)
        .bind(state)
        .bind(job.attempt)
        .bind(note)
        .execute(&mut *self.0)
        .await?;
        let job = self
            .get_job_for_update(id)
            .await?
            .ok_or(crate::StoreError::VersionConflict)?;
        Ok(Some(if requested {
            CancelOutcome::Requested(job)
        } else {
            CancelOutcome::Cancelled(job)
        }))
    }

    async fn redrive_job(&mut self, id: i64, now: DateTime<Utc>) -> Result<Option<Job>> {
        let r = sqlx::query(
            "UPDATE jobs SET state = 'available', attempt = 0, run_at = $2, finalized_at = NULL, result = NULL, \
             progress = NULL, cancel_requested = false, worker_id = NULL, lease_expires_at = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("INSERT INTO job_events (job_id, at, state, attempt, note) VALUES ($1, $2, 'available', 0, 're-driven by operator')")
            .bind(id)
            .bind(now)
            .execute(&mut *self.0)
            .await?;
        let job = self.get_job_for_update(id).await?;
        if let Some(j) = &job {
            self.notify(&j.queue).await?;
        }
        Ok(job)
    }

    async fn claim_cron_tick(
        &mut self,
        name: &str,
        tick: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        claim_cron_tick(&mut self.0, name, tick, now).await
    }

    async fn set_cron_tick_job(
        &mut self,
        name: &str,
        tick: DateTime<Utc>,
        job_id: i64,
    ) -> Result<()> {
        set_cron_tick_job(&mut self.0, name, tick, job_id).await
    }
}
