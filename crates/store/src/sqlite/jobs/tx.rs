//! Enqueueing and operator actions inside a write transaction (`JobTx`).

use super::*;

impl SqliteTx {
    async fn insert_one(&mut self, job: &NewJob, now: DateTime<Utc>) -> Result<Option<i64>> {
        let state = initial_state(job, now);
        let id: Option<i64> = sqlx::query_scalar(&format!(
            "INSERT INTO jobs ({INSERT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (unique_key) WHERE {UNFINISHED} DO NOTHING RETURNING id"
        ))
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
        if let Some(id) = id {
            record_events(&mut self.0, &[id], now, None, None).await?;
            if state == JobState::Available {
                raise(&self.1);
            }
        }
        Ok(id)
    }
}

#[async_trait]
impl JobTx for SqliteTx {
    async fn enqueue(&mut self, job: &NewJob) -> Result<Enqueued> {
        job.validate().map_err(crate::StoreError::Invalid)?;
        let now = cc_domain::now();
        if let Some(id) = self.insert_one(job, now).await? {
            return Ok(Enqueued {
                id,
                duplicate: false,
            });
        }
        // SQLite transactions hold the write lock: the holder of the key cannot finish meanwhile.
        let id: i64 = sqlx::query_scalar(&format!(
            "SELECT id FROM jobs WHERE unique_key = $1 AND {UNFINISHED}"
        ))
        .bind(&job.unique_key)
        .fetch_one(&mut *self.0)
        .await?;
        Ok(Enqueued {
            id,
            duplicate: true,
        })
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
        // Runs of consecutive jobs that differ only in their arguments (an import's lifecycle
        // jobs, a batch of the same kind) are inserted with the shared values bound once and
        // the arguments as one JSON array of strings.
        let mut any_available = false;
        let mut start = 0;
        while start < bulk.len() {
            let first = &jobs[bulk[start]];
            let run_at = first.run_at.unwrap_or(now).max(now);
            let state = initial_state(first, now);
            let same = |j: &NewJob| {
                j.queue == first.queue
                    && j.kind == first.kind
                    && j.priority == first.priority
                    && j.max_attempts == first.max_attempts
                    && j.run_at.unwrap_or(now).max(now) == run_at
                    && j.batch_id == first.batch_id
                    && j.parent_id == first.parent_id
                    && j.created_by == first.created_by
                    && j.request_id == first.request_id
            };
            let mut end = start + 1;
            while end < bulk.len() && end - start < 10_000 && same(&jobs[bulk[end]]) {
                end += 1;
            }
            let run = &bulk[start..end];
            start = end;
            any_available |= state == JobState::Available;
            let mut args: Vec<u8> = Vec::with_capacity(run.len() * 96);
            args.push(b'[');
            for (n, &i) in run.iter().enumerate() {
                if n > 0 {
                    args.push(b',');
                }
                // Writing to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut args, &jobs[i].args.to_string());
            }
            args.push(b']');
            let args =
                String::from_utf8(args).map_err(|e| crate::StoreError::Internal(e.to_string()))?;
            let mut new_ids: Vec<i64> = sqlx::query_scalar(&format!(
                "INSERT INTO jobs ({INSERT_COLUMNS}) \
                 SELECT $1, $2, value, $3, $4, $5, $6, NULL, $7, $8, $9, $10, $11 FROM json_each($12) ORDER BY key \
                 RETURNING id"
            ))
            .bind(&first.queue)
            .bind(&first.kind)
            .bind(first.priority)
            .bind(state.as_str())
            .bind(first.max_attempts)
            .bind(run_at)
            .bind(first.batch_id)
            .bind(first.parent_id)
            .bind(&first.created_by)
            .bind(&first.request_id)
            .bind(now)
            .bind(args)
            .fetch_all(&mut *self.0)
            .await?;
            new_ids.sort_unstable();
            sqlx::query(
                "INSERT INTO job_events (job_id, at, state, attempt) \
                 SELECT id, $1, state, 0 FROM jobs WHERE id BETWEEN $2 AND $3 ORDER BY id",
            )
            .bind(now)
            .bind(new_ids.first().copied().unwrap_or(0))
            .bind(new_ids.last().copied().unwrap_or(-1))
            .execute(&mut *self.0)
            .await?;
            for (&i, id) in run.iter().zip(new_ids) {
                ids[i] = id;
            }
        }
        if any_available {
            raise(&self.1);
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
        let (set, note, requested) = match job.state {
            s if s.is_final() => return Ok(Some(CancelOutcome::AlreadyFinal(job))),
            JobState::Running => ("cancel_requested = 1", "cancel requested", true),
            _ => (
                "state = 'cancelled', finalized_at = $2",
                "cancelled by operator",
                false,
            ),
        };
        sqlx::query(&format!("UPDATE jobs SET {set} WHERE id = $1"))
            .bind(id)
            .bind(now)
            .execute(&mut *self.0)
            .await?;
        record_events(&mut self.0, &[id], now, None, Some(note)).await?;
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
             progress = NULL, cancel_requested = 0, worker_id = NULL, lease_expires_at = NULL WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *self.0)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        record_events(&mut self.0, &[id], now, None, Some("re-driven by operator")).await?;
        raise(&self.1);
        self.get_job_for_update(id).await
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
