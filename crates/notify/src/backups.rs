//! Backup freshness. When `[backups]` is configured, the `backup.check` job (a worker cron
//! job, every 15 minutes) finds the newest backup in the directory the backups land in and
//! publishes its time as [`NEWEST_METRIC`]. When that backup is older than allowed, or the
//! directory holds none or cannot be read, the backups are stale: the check that finds a
//! stale period beginning records it and enqueues its `backup.stale` notification in one
//! transaction (migration 0021), so the period is told once however many workers check or
//! restart; a fresh backup ends it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use cc_domain::{EventKind, NotificationEvent, Subscriptions};
use cc_queue::{JobContext, JobError, JobHandler, Registry};
use cc_store::backups::BackupCheck;
use cc_store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The job kind that checks the backup directory.
pub const CHECK_KIND: &str = "backup.check";
/// How often the check runs (cron, in the workers).
pub const CHECK_SCHEDULE: &str = "*/15 * * * *";
/// Gauge: the modification time (Unix seconds) of the newest backup; 0 when there is none
/// or the directory cannot be read. Exported only where `[backups]` is configured.
pub const NEWEST_METRIC: &str = "cc_backup_newest_timestamp_seconds";

/// The problem recorded when the directory holds no backup at all (a new deployment before
/// its first backup, or backups written elsewhere).
pub const NO_BACKUP: &str = "the backup directory holds no backup";

/// Watches one backup directory. Cheap to clone.
#[derive(Clone)]
pub struct BackupWatch {
    store: Arc<dyn Store>,
    dir: PathBuf,
    max_age: Duration,
    subscriptions: Subscriptions,
}

/// What one check found (the job's result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupReport {
    /// The modification time of the newest backup, if any.
    pub newest_at: Option<DateTime<Utc>>,
    /// Why the backups are stale; `None` when fresh.
    pub problem: Option<String>,
    /// This check began a stale period (and queued its notification when a channel wants
    /// it).
    pub began_stale: bool,
}

impl BackupWatch {
    /// Watches `dir`, allowing the newest backup to be `max_age` old; `subscriptions` say
    /// whether a channel wants `backup.stale` (see [`crate::Notifier::backup_watch`]).
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        dir: PathBuf,
        max_age: Duration,
        subscriptions: Subscriptions,
    ) -> Self {
        Self {
            store,
            dir,
            max_age,
            subscriptions,
        }
    }

    /// Registers the `backup.check` kind and exports [`NEWEST_METRIC`] now (from a first look
    /// at the directory), so the first scrape has it.
    pub fn register(&self, registry: &mut Registry) {
        metrics::describe_gauge!(
            NEWEST_METRIC,
            "Modification time of the newest backup in the backup directory (Unix seconds; 0: none, or unreadable)."
        );
        export(newest_backup(&self.dir).ok().flatten());
        registry.register(CheckHandler(self.clone()));
    }

    /// Looks at the directory, publishes the newest backup's time and records the check,
    /// beginning or ending a stale period.
    ///
    /// # Errors
    /// The store failed (the check is then retried by its job).
    pub async fn check(&self) -> Result<BackupReport, cc_store::StoreError> {
        let dir = self.dir.clone();
        let found = tokio::task::spawn_blocking(move || newest_backup(&dir))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        let now = Utc::now();
        let newest_at = found.as_ref().ok().copied().flatten();
        export(newest_at);
        let newest_at = newest_at.map(DateTime::<Utc>::from);
        let problem = match (&found, newest_at) {
            (Err(e), _) => Some(format!(
                "the backup directory cannot be read ({})",
                e.kind()
            )),
            (Ok(_), None) => Some(NO_BACKUP.to_owned()),
            (Ok(_), Some(t)) => {
                let age = (now - t).to_std().unwrap_or_default();
                (age > self.max_age).then(|| {
                    format!(
                        "the newest backup is {} old (allowed: {})",
                        hours(age),
                        hours(self.max_age)
                    )
                })
            }
        };
        let job = problem
            .as_ref()
            .and_then(|p| self.subscriptions.dispatch_job(&self.event(p, newest_at)));
        let check = BackupCheck {
            dir: self.dir.to_string_lossy().into_owned(),
            checked_at: now,
            newest_at,
            max_age_secs: i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX),
            problem: problem.clone(),
            stale_since: None,
        };
        let began_stale = self
            .store
            .notifications()
            .record_backup_check(&check, job)
            .await?;
        if began_stale {
            tracing::warn!(dir = %self.dir.display(), problem = problem.as_deref().unwrap_or(""), "backups are stale");
        }
        Ok(BackupReport {
            newest_at,
            problem,
            began_stale,
        })
    }

    /// The `backup.stale` event. Its subject names the newest backup, so that the next stale
    /// period (after a fresh backup) is a new event, not a repeat within the dedupe window.
    fn event(&self, problem: &str, newest_at: Option<DateTime<Utc>>) -> NotificationEvent {
        let dir = self.dir.display();
        let newest = newest_at.map_or_else(
            || "none".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        );
        NotificationEvent::new(
            EventKind::BackupStale,
            format!("backups in {dir} (newest: {newest})"),
            format!("Backups in {dir} are stale (newest: {newest})"),
        )
        .with_error(problem)
    }
}

/// The modification time of the newest regular file in `dir`. Names starting with `.` and
/// ending in `.partial` (a dump still being written) are passed over, and so are entries
/// gone while the directory is read (a backup being pruned).
fn newest_backup(dir: &Path) -> std::io::Result<Option<SystemTime>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name.ends_with(".partial") {
            continue;
        }
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if meta.is_file() {
            newest = newest.max(meta.modified().ok());
        }
    }
    Ok(newest)
}

fn export(newest: Option<SystemTime>) {
    let secs = newest
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    metrics::gauge!(NEWEST_METRIC).set(secs);
}

/// A duration as whole hours, or minutes below two hours.
fn hours(d: Duration) -> String {
    let mins = d.as_secs() / 60;
    if mins < 120 {
        format!("{mins} minutes")
    } else {
        format!("{} hours", mins / 60)
    }
}

struct CheckHandler(BackupWatch);

#[async_trait]
impl JobHandler for CheckHandler {
    type Args = serde_json::Value;
    type Output = BackupReport;

    fn kind(&self) -> &str {
        CHECK_KIND
    }

    async fn run(
        &self,
        _ctx: JobContext,
        _args: serde_json::Value,
    ) -> Result<BackupReport, JobError> {
        self.0.check().await.map_err(|e| {
            tracing::warn!(error = %e, "could not record a backup check");
            JobError::Retryable("could not record the backup check (database error)".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_regular_file_counts_and_partial_dumps_do_not() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(newest_backup(dir.path()).unwrap(), None);
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let f = std::fs::File::create(dir.path().join("a.dump")).unwrap();
        f.set_modified(old).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("b.dump.partial"), "x").unwrap();
        std::fs::write(dir.path().join(".hidden"), "x").unwrap();
        assert_eq!(newest_backup(dir.path()).unwrap(), Some(old));
        assert!(newest_backup(&dir.path().join("missing")).is_err());
        assert_eq!(hours(Duration::from_secs(90 * 60)), "90 minutes");
        assert_eq!(hours(Duration::from_secs(27 * 3600 + 59)), "27 hours");
    }
}
