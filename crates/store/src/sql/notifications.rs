//! The notification deliveries log, shared by both backends (see `shared.rs` for the names).

use async_trait::async_trait;
use cc_domain::{DeliveryState, NewDelivery, NewJob, NotificationDelivery, NotificationEvent};
use chrono::{DateTime, Utc};
use sqlx::types::Json;

use super::*;
use crate::jobs::JobTx;
use crate::notifications::{DeliveryQuery, DeliveryUpdate, DispatchRule, NotificationStore};
use crate::{Result, StoreError};

const DELIVERY_SELECT: &str =
    "SELECT id, channel, event, severity, subject, state, title, attempts, \
     error, job_id, digest_id, created_at, updated_at, sent_at FROM notification_deliveries";

#[derive(sqlx::FromRow)]
struct DeliveryRow {
    id: i64,
    channel: String,
    event: String,
    severity: String,
    subject: String,
    state: String,
    title: String,
    attempts: i32,
    error: Option<String>,
    job_id: Option<i64>,
    digest_id: Option<i64>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
}

impl TryFrom<DeliveryRow> for NotificationDelivery {
    type Error = StoreError;

    fn try_from(r: DeliveryRow) -> Result<Self> {
        let state = DeliveryState::parse(&r.state)
            .ok_or_else(|| StoreError::Internal(format!("unknown delivery state {:?}", r.state)))?;
        Ok(Self {
            id: r.id,
            channel: r.channel,
            event: r.event,
            severity: r.severity,
            subject: r.subject,
            state,
            title: r.title,
            attempts: r.attempts,
            error: r.error,
            job_id: r.job_id,
            digest_id: r.digest_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sent_at: r.sent_at,
        })
    }
}

/// The states that count as "this channel was told" for dedupe and digests.
const TOLD: &str = "state IN ('pending', 'sent', 'held', 'digested')";

async fn insert_delivery(
    tx: &mut BackendTx,
    d: &NewDelivery,
    state: DeliveryState,
    job: Option<NewJob>,
) -> Result<i64> {
    let now = Utc::now();
    let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO notification_deliveries (channel, event, severity, subject, state, title, \
             message, job_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             RETURNING id",
        )
        .bind(&d.channel)
        .bind(d.event.kind.as_str())
        .bind(d.event.severity.as_str())
        .bind(&d.event.subject)
        .bind(state.as_str())
        .bind(&d.title)
        .bind(Json(&d.event))
        .bind(d.job_id)
        .bind(now)
        .fetch_one(&mut *tx.0)
        .await?;
    if let Some(mut job) = job {
        if let Some(args) = job.args.as_object_mut() {
            args.insert("delivery_id".into(), id.into());
        }
        let enqueued = tx.enqueue(&job).await?;
        sqlx::query("UPDATE notification_deliveries SET job_id = $1 WHERE id = $2")
            .bind(enqueued.id)
            .bind(id)
            .execute(&mut *tx.0)
            .await?;
    }
    Ok(id)
}

#[async_trait]
impl NotificationStore for Store {
    async fn record_delivery(&self, d: &NewDelivery, job: Option<NewJob>) -> Result<i64> {
        let mut tx = self.new_tx(self.timed_begin().await?);
        let id = insert_delivery(&mut tx, d, d.state, job).await?;
        crate::Tx::commit(Box::new(tx)).await?;
        Ok(id)
    }

    async fn dispatch(&self, d: &NewDelivery, rule: DispatchRule) -> Result<DeliveryState> {
        let mut tx = self.new_tx(self.timed_begin().await?);
        if BACKEND == crate::Backend::Postgres {
            // SQLite's write transaction already holds the file's lock.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('notify:' || $1))")
                .bind(&d.channel)
                .execute(&mut *tx.0)
                .await?;
        }
        let kind = d.event.kind.as_str();
        let dup: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT id FROM notification_deliveries WHERE channel = $1 AND event = $2 \
             AND subject = $3 AND created_at > $4 AND {TOLD} LIMIT 1"
        ))
        .bind(&d.channel)
        .bind(kind)
        .bind(&d.event.subject)
        .bind(rule.dedupe_since)
        .fetch_optional(&mut *tx.0)
        .await?;
        let state = if dup.is_some() {
            insert_delivery(&mut tx, d, DeliveryState::Deduplicated, None).await?;
            DeliveryState::Deduplicated
        } else {
            let (recent,): (i64,) = sqlx::query_as(&format!(
                "SELECT count(*) FROM notification_deliveries WHERE channel = $1 AND event = $2 \
                 AND created_at > $3 AND {TOLD}"
            ))
            .bind(&d.channel)
            .bind(kind)
            .bind(rule.digest_since)
            .fetch_one(&mut *tx.0)
            .await?;
            if recent >= rule.digest_threshold {
                insert_delivery(&mut tx, d, DeliveryState::Held, None).await?;
                tx.enqueue(&rule.digest_job).await?;
                DeliveryState::Held
            } else {
                insert_delivery(&mut tx, d, DeliveryState::Pending, Some(rule.deliver_job)).await?;
                DeliveryState::Pending
            }
        };
        crate::Tx::commit(Box::new(tx)).await?;
        Ok(state)
    }

    async fn delivery_for_job(&self, job_id: i64) -> Result<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM notification_deliveries WHERE job_id = $1 LIMIT 1")
                .bind(job_id)
                .fetch_optional(&mut *self.read_conn().await?)
                .await?;
        Ok(row.map(|r| r.0))
    }

    async fn take_held(
        &self,
        channel: &str,
        event: &str,
        digest_id: i64,
    ) -> Result<Vec<NotificationEvent>> {
        let mut tx = self.timed_begin().await?;
        let rows: Vec<(Json<NotificationEvent>,)> = sqlx::query_as(
            "UPDATE notification_deliveries SET state = 'digested', digest_id = $3, updated_at = $4 \
             WHERE channel = $1 AND event = $2 AND (state = 'held' OR digest_id = $3) RETURNING message",
        )
        .bind(channel)
        .bind(event)
        .bind(digest_id)
        .bind(Utc::now())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(Json(e),)| e).collect())
    }

    async fn update_delivery(&self, u: &DeliveryUpdate) -> Result<()> {
        let sent_at = (u.state == DeliveryState::Sent).then_some(u.now);
        let mut tx = self.timed_begin().await?;
        sqlx::query(
            "UPDATE notification_deliveries SET state = $2, error = $3, attempts = attempts + 1, \
             updated_at = $4, sent_at = COALESCE($5, sent_at) WHERE id = $1",
        )
        .bind(u.id)
        .bind(u.state.as_str())
        .bind(&u.error)
        .bind(u.now)
        .bind(sent_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_delivery(
        &self,
        id: i64,
    ) -> Result<Option<(NotificationDelivery, NotificationEvent)>> {
        let mut conn = self.read_conn().await?;
        let Some(row) =
            sqlx::query_as::<Db, DeliveryRow>(&format!("{DELIVERY_SELECT} WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        else {
            return Ok(None);
        };
        let (Json(event),): (Json<NotificationEvent>,) =
            sqlx::query_as("SELECT message FROM notification_deliveries WHERE id = $1")
                .bind(id)
                .fetch_one(&mut *conn)
                .await?;
        Ok(Some((row.try_into()?, event)))
    }

    async fn list_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<NotificationDelivery>> {
        let rows: Vec<DeliveryRow> = sqlx::query_as(&format!(
            "{DELIVERY_SELECT} WHERE ($1 IS NULL OR channel = $1) AND ($2 IS NULL OR id < $2) \
             AND ($4 IS NULL OR state = $4) AND ($5 IS NULL OR event = $5) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(q.channel.as_deref())
        .bind(q.before_id)
        .bind(i64::from(q.limit))
        .bind(q.state.map(DeliveryState::as_str))
        .bind(q.event.as_deref())
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn feed_position(&self, name: &str, start: i64) -> Result<i64> {
        let mut tx = self.timed_begin().await?;
        sqlx::query(
            "INSERT INTO notification_feed (name, seq, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(start)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        let (seq,): (i64,) = sqlx::query_as("SELECT seq FROM notification_feed WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(seq)
    }

    async fn advance_feed(&self, name: &str, from: i64, to: i64, jobs: &[NewJob]) -> Result<bool> {
        let mut tx = self.new_tx(self.timed_begin().await?);
        let moved = sqlx::query(
            "UPDATE notification_feed SET seq = $3, updated_at = $4 WHERE name = $1 AND seq = $2",
        )
        .bind(name)
        .bind(from)
        .bind(to)
        .bind(Utc::now())
        .execute(&mut *tx.0)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(false);
        }
        for job in jobs {
            tx.enqueue(job).await?;
        }
        crate::Tx::commit(Box::new(tx)).await?;
        Ok(true)
    }

    async fn record_backup_check(
        &self,
        c: &crate::backups::BackupCheck,
        job: Option<NewJob>,
    ) -> Result<bool> {
        let mut tx = self.new_tx(self.timed_begin().await?);
        // Takes the row's lock: a concurrent check waits, then sees the period begun.
        sqlx::query(
            "INSERT INTO backup_checks (dir, checked_at, newest_at, max_age_secs, problem) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dir) DO UPDATE SET \
             checked_at = excluded.checked_at, newest_at = excluded.newest_at, \
             max_age_secs = excluded.max_age_secs, problem = excluded.problem",
        )
        .bind(&c.dir)
        .bind(c.checked_at)
        .bind(c.newest_at)
        .bind(c.max_age_secs)
        .bind(&c.problem)
        .execute(&mut *tx.0)
        .await?;
        let began = if c.problem.is_some() {
            let began = sqlx::query(
                "UPDATE backup_checks SET stale_since = $2 WHERE dir = $1 AND stale_since IS NULL",
            )
            .bind(&c.dir)
            .bind(c.checked_at)
            .execute(&mut *tx.0)
            .await?
            .rows_affected()
                == 1;
            if began {
                if let Some(job) = job {
                    tx.enqueue(&job).await?;
                }
            }
            began
        } else {
            sqlx::query("UPDATE backup_checks SET stale_since = NULL WHERE dir = $1")
                .bind(&c.dir)
                .execute(&mut *tx.0)
                .await?;
            false
        };
        crate::Tx::commit(Box::new(tx)).await?;
        Ok(began)
    }

    async fn latest_backup_check(&self) -> Result<Option<crate::backups::BackupCheck>> {
        type Row = (
            String,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            i64,
            Option<String>,
            Option<DateTime<Utc>>,
        );
        let row: Option<Row> = sqlx::query_as(
            "SELECT dir, checked_at, newest_at, max_age_secs, problem, stale_since \
             FROM backup_checks ORDER BY checked_at DESC LIMIT 1",
        )
        .fetch_optional(&mut *self.read_conn().await?)
        .await?;
        Ok(row.map(
            |(dir, checked_at, newest_at, max_age_secs, problem, stale_since)| {
                crate::backups::BackupCheck {
                    dir,
                    checked_at,
                    newest_at,
                    max_age_secs,
                    problem,
                    stale_since,
                }
            },
        ))
    }
}
