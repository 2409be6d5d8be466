//! What the console's Overview shows about the queue, the directory and imports, read in one
//! place so every front end (the console, the CLI) sees the same figures.

use std::sync::Arc;

use cc_domain::{ImportRun, Job, JobQuery, JobState};
use cc_store::Store;
use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::ServiceError;

/// Minutes the throughput series covers.
pub const THROUGHPUT_MINUTES: usize = 60;
/// Recent jobs of each list.
const RECENT: u32 = 8;

/// The figures of the Overview.
#[derive(Debug, Clone)]
pub struct Overview {
    /// Jobs per state over every queue (every state present, zero when none).
    pub jobs_by_state: Vec<(JobState, i64)>,
    /// When the oldest due job became due (none due: `None`).
    pub oldest_due: Option<DateTime<Utc>>,
    /// Jobs finished per minute over the last hour, oldest minute first
    /// ([`THROUGHPUT_MINUTES`] entries): completed, and failed for good (discarded).
    pub completed_per_minute: Vec<i64>,
    pub discarded_per_minute: Vec<i64>,
    /// The start of the first minute of the series.
    pub series_start: DateTime<Utc>,
    /// The newest jobs, whatever their state.
    pub recent_jobs: Vec<Job>,
    /// The newest jobs whose last attempt failed and that will retry.
    pub retrying_jobs: Vec<Job>,
    /// The newest jobs that failed for good.
    pub discarded_jobs: Vec<Job>,
    /// The newest roster import run (`None` without imports, or on a store without them).
    pub last_import: Option<ImportRun>,
    /// Devices whose compliance check fails.
    pub noncompliant_devices: i64,
    /// People per status (`active`, `suspended`, …).
    pub users_by_status: Vec<(String, i64)>,
}

impl Overview {
    /// Jobs in `state`.
    #[must_use]
    pub fn count(&self, state: JobState) -> i64 {
        self.jobs_by_state
            .iter()
            .find(|(s, _)| *s == state)
            .map_or(0, |(_, n)| *n)
    }
}

/// Reads the Overview's figures (a handful of indexed reads, run at once).
///
/// # Errors
/// A store failure.
pub async fn overview(
    store: &Arc<dyn Store>,
    now: DateTime<Utc>,
) -> Result<Overview, ServiceError> {
    let minute = now.duration_trunc(Duration::minutes(1)).unwrap_or(now);
    let series_start = minute - Duration::minutes(THROUGHPUT_MINUTES as i64 - 1);
    let list = |state: Option<JobState>| JobQuery {
        state,
        limit: RECENT,
        ..JobQuery::default()
    };
    let (all, retry, gone) = (
        list(None),
        list(Some(JobState::Retryable)),
        list(Some(JobState::Discarded)),
    );
    let imports = async {
        match store.imports() {
            Some(i) => i.list_import_runs(1, None).await.map(|mut v| v.pop()),
            None => Ok(None),
        }
    };
    let (gauges, finished, recent, retrying, discarded, last_import, counts) = tokio::try_join!(
        store.queue_gauges(now),
        store.finished_per_minute(series_start),
        store.list_jobs(&all),
        store.list_jobs(&retry),
        store.list_jobs(&gone),
        imports,
        store.directory_counts(),
    )?;
    let mut jobs_by_state: Vec<(JobState, i64)> = JobState::ALL.iter().map(|s| (*s, 0)).collect();
    let mut oldest_due: Option<DateTime<Utc>> = None;
    for g in &gauges {
        for (state, n) in &g.counts {
            if let Some(slot) = jobs_by_state.iter_mut().find(|(s, _)| s == state) {
                slot.1 += n;
            }
        }
        if let Some(t) = g.oldest_due {
            oldest_due = Some(oldest_due.map_or(t, |o| o.min(t)));
        }
    }
    let mut completed_per_minute = vec![0; THROUGHPUT_MINUTES];
    let mut discarded_per_minute = vec![0; THROUGHPUT_MINUTES];
    for f in finished {
        let Ok(i) = usize::try_from((f.minute - series_start).num_minutes()) else {
            continue;
        };
        let series = match f.state {
            JobState::Completed => &mut completed_per_minute,
            JobState::Discarded => &mut discarded_per_minute,
            _ => continue,
        };
        if let Some(slot) = series.get_mut(i) {
            *slot += f.count;
        }
    }
    let noncompliant_devices = counts
        .devices_by_compliance
        .iter()
        .filter(|(c, _)| c == cc_domain::Compliance::Noncompliant.as_str())
        .map(|(_, n)| n)
        .sum();
    Ok(Overview {
        jobs_by_state,
        oldest_due,
        completed_per_minute,
        discarded_per_minute,
        series_start,
        recent_jobs: recent.items,
        retrying_jobs: retrying.items,
        discarded_jobs: discarded.items,
        last_import,
        noncompliant_devices,
        users_by_status: counts.users_by_status,
    })
}

/// What an entry of [`OverviewCache`] was read under: the change generation, the newest job
/// event seen and the wall-clock second.
type CacheKey = (u64, i64, i64);

/// The Overview's figures shared by concurrent readers of one process.
///
/// Exact in the same way as [`crate::cache::GenerationCache`]: an entry is used only while the
/// store reports the change generation it was read under, so no committed change is hidden.
/// Some changes do not move every backend's generation (on PostgreSQL only the directory
/// tables and job outcomes notify), so an entry is also tied to the newest job event this
/// process has seen (`events_seen`: a page refreshed because a job event arrived reads
/// afresh) and used within the wall-clock second it was read in only, which also covers the
/// figures that depend on the clock (which jobs are due, the minute series). A store that
/// cannot report its generation is always read.
#[derive(Default)]
pub struct OverviewCache {
    slot: std::sync::Mutex<Option<(CacheKey, Arc<Overview>)>>,
}

impl OverviewCache {
    /// The figures at `now`: the shared entry when still exact, otherwise a fresh read.
    ///
    /// # Errors
    /// A store failure.
    pub async fn read(
        &self,
        store: &Arc<dyn Store>,
        events_seen: i64,
        now: DateTime<Utc>,
    ) -> Result<Arc<Overview>, ServiceError> {
        // The generation is taken before reading, so a commit during the read makes the
        // entry unusable rather than hiding the commit.
        let key = store
            .change_generation()
            .map(|g| (g, events_seen, now.timestamp()));
        if let Some(key) = key {
            if let Ok(slot) = self.slot.lock() {
                if let Some((k, figures)) = slot.as_ref() {
                    if *k == key {
                        return Ok(figures.clone());
                    }
                }
            }
        }
        let figures = Arc::new(overview(store, now).await?);
        if let Some(key) = key {
            if let Ok(mut slot) = self.slot.lock() {
                // Never replace a later read with an earlier one.
                if slot.as_ref().is_none_or(|(k, _)| *k <= key) {
                    *slot = Some((key, figures.clone()));
                }
            }
        }
        Ok(figures)
    }
}
