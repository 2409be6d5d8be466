//! Enqueueing and operator actions inside a write transaction (`JobTx`).

use super::*;

const INSERT_COLUMNS: &str =
    "queue, kind, args, priority, state, max_attempts, run_at, unique_key, batch_id, parent_id, created_by, request_id, created_at";

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
        for chunk in bulk.chunks(10_000) {
            let pick = |f: &dyn Fn(&NewJob) -> String| {
                chunk.iter().map(|&i| f(&jobs[i])).collect::<Vec<String>>()
            };
            let states: Vec<&str> = chunk
                .iter()
                .map(|&i| initial_state(&jobs[i], now).as_str())
                .collect();
            let new_ids: Vec<i64> = sqlx::query_scalar(&format!(
                "WITH ins AS ( \
                   INSERT INTO jobs ({INSERT_COLUMNS}) \
                   SELECT q, k, a::jsonb, p, s, m, r, NULL, b, pa, cb, rq, $13 FROM unnest( \
                     $1::text[], $2::text[], $3::text[], $4::int2[], $5::text[], $6::int4[], $7::timestamptz[], \
                     $8::uuid[], $9::int8[], $10::text[], $11::text[], $12::int8[]) \
                     AS u(q, k, a, p, s, m, r, b, pa, cb, rq, ord) ORDER BY ord \
                   RETURNING id, state \
                 ), ev AS (INSERT INTO job_events (job_id, at, state, attempt) SELECT id, $13, state, 0 FROM ins) \
                 SELECT id FROM ins ORDER BY id"
            ))
            .bind(pick(&|j| j.queue.clone()))
            .bind(pick(&|j| j.kind.clone()))
            .bind(pick(&|j| j.args.to_string()))
            .bind(chunk.iter().map(|&i| jobs[i].priority).collect::<Vec<i16>>())
            .bind(states)
            .bind(chunk.iter().map(|&i| jobs[i].max_attempts).collect::<Vec<i32>>())
            .bind(chunk.iter().map(|&i| jobs[i].run_at.unwrap_or(now).max(now)).collect::<Vec<_>>())
            .bind(chunk.iter().map(|&i| jobs[i].batch_id).collect::<Vec<Option<Uuid>>>())
            .bind(chunk.iter().map(|&i| jobs[i].parent_id).collect::<Vec<Option<i64>>>())
            .bind(chunk.iter().map(|&i| jobs[i].created_by.clone()).collect::<Vec<Option<String>>>())
            .bind(chunk.iter().map(|&i| jobs[i].request_id.clone()).collect::<Vec<Option<String>>>())
            .bind((0..chunk.len() as i64).collect::<Vec<i64>>())
            .bind(now)
            .fetch_all(&mut *self.0)
            .await?;
            for (&i, id) in chunk.iter().zip(new_ids) {
                ids[i] = id;
            }
            let mut queues: Vec<&str> = chunk
                .iter()
                .filter(|&&i| initial_state(&jobs[i], now) == JobState::Available)
                .map(|&i| jobs[i].queue.as_str())
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
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE");
        let row: Option<JobRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(Job::try_from).transpose()
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
        let r = sqlx::query("INSERT INTO cron_ticks (name, tick, fired_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(name)
            .bind(tick)
            .bind(now)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_cron_tick_job(
        &mut self,
        name: &str,
        tick: DateTime<Utc>,
        job_id: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE cron_ticks SET job_id = $3 WHERE name = $1 AND tick = $2")
            .bind(name)
            .bind(tick)
            .bind(job_id)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }
}
