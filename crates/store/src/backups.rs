//! The record of backup checks (migration 0021): per watched directory, the last check and
//! since when the backups are stale, so a stale period is told once across restarts and
//! workers.

use chrono::{DateTime, Utc};

/// One check of a backup directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCheck {
    /// The directory watched.
    pub dir: String,
    pub checked_at: DateTime<Utc>,
    /// The modification time of the newest backup found, if any.
    pub newest_at: Option<DateTime<Utc>>,
    /// How old the newest backup may be.
    pub max_age_secs: i64,
    /// Why the backups are stale (too old, none, the directory unreadable); `None` when fresh.
    pub problem: Option<String>,
    /// Since when the backups are stale: set by the store at the first stale check of a
    /// period, cleared by a fresh one (ignored when recording).
    pub stale_since: Option<DateTime<Utc>>,
}
