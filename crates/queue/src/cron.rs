//! Cron entries: each tick enqueues one job, exactly once across all instances.
//!
//! Every instance running the scheduler computes the same ticks. Firing a tick inserts
//! `(name, tick)` into `cron_ticks` and enqueues the job in one transaction; the primary key
//! lets exactly one instance win, and the others roll back. Ticks missed while no instance
//! was running are not fired afterwards.

use std::sync::Arc;

use cc_domain::{Actor, NewJob};
use cc_store::Store;
use chrono::{DateTime, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use tokio_util::sync::CancellationToken;

use crate::CronEntry;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule(Cron);

impl CronSchedule {
    /// Parses five fields (`m h dom mon dow`), or six with leading seconds.
    ///
    /// # Errors
    /// A description of what does not parse.
    pub fn parse(s: &str) -> Result<Self, String> {
        let fields = s.split_whitespace().count();
        if !(5..=6).contains(&fields) && !s.trim_start().starts_with('@') {
            return Err(format!("`{s}` must have 5 fields (or 6 with seconds)"));
        }
        CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(s)
            .map(CronSchedule)
            .map_err(|e| format!("`{s}` is not a valid schedule: {e}"))
    }

    /// The first tick strictly after `t`, on a whole second (so every instance computes the
    /// same tick whatever its clock's sub-second part).
    #[must_use]
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        use chrono::SubsecRound;
        let tick = self
            .0
            .find_next_occurrence(&t.trunc_subsecs(0), false)
            .ok()?
            .trunc_subsecs(0);
        if tick > t {
            Some(tick)
        } else {
            self.next_after(tick)
        }
    }
}

/// Fires one entry's ticks until `stop`.
pub(crate) async fn run_entry(store: Arc<dyn Store>, entry: CronEntry, stop: CancellationToken) {
    let schedule = match CronSchedule::parse(&entry.schedule) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(name = %entry.name, error = %e, "cron entry disabled");
            return;
        }
    };
    let mut after = Utc::now();
    while let Some(tick) = schedule.next_after(after) {
        let wait = (tick - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        match fire(store.as_ref(), &entry, tick).await {
            Ok(Some(id)) => {
                tracing::info!(name = %entry.name, %tick, job_id = id, "cron tick fired")
            }
            Ok(None) => {
                tracing::debug!(name = %entry.name, %tick, "cron tick fired by another instance")
            }
            Err(e) => {
                tracing::warn!(name = %entry.name, %tick, error = %e, "cron tick failed; not retried")
            }
        }
        after = tick;
    }
}

/// Fires one tick; `None` when another instance already did.
///
/// # Errors
/// The store failed.
pub async fn fire(
    store: &dyn Store,
    entry: &CronEntry,
    tick: DateTime<Utc>,
) -> cc_store::Result<Option<i64>> {
    let mut tx = store.begin().await?;
    if !tx
        .claim_cron_tick(&entry.name, tick, cc_domain::now())
        .await?
    {
        return Ok(None);
    }
    let job = NewJob::new(entry.kind.clone(), entry.args.clone())
        .with_queue(entry.queue.clone())
        .caused_by(&Actor::system(&format!("cron:{}", entry.name)));
    let id = tx.enqueue(&job).await?.id;
    tx.set_cron_tick_job(&entry.name, tick, id).await?;
    tx.commit().await?;
    Ok(Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_five_and_six_fields() {
        let t: DateTime<Utc> = "2026-01-01T10:00:30Z".parse().unwrap();
        let five = CronSchedule::parse("*/15 * * * *").unwrap();
        assert_eq!(
            five.next_after(t).unwrap().to_rfc3339(),
            "2026-01-01T10:15:00+00:00"
        );
        let six = CronSchedule::parse("*/10 * * * * *").unwrap();
        let every = CronSchedule::parse("* * * * * *").unwrap();
        let odd: DateTime<Utc> = "2026-01-01T10:00:30.123456Z".parse().unwrap();
        assert_eq!(
            every.next_after(odd).unwrap().to_rfc3339(),
            "2026-01-01T10:00:31+00:00"
        );
        assert_eq!(
            six.next_after(t).unwrap().to_rfc3339(),
            "2026-01-01T10:00:40+00:00"
        );
        assert!(CronSchedule::parse("* * *").is_err());
        assert!(CronSchedule::parse("61 * * * *").is_err());
    }
}
