//! The `[backups]` section: where backups land and how old the newest may be. With `dir`
//! set, workers check it every 15 minutes (`backup.check`), export
//! `cc_backup_newest_timestamp_seconds` and emit `backup.stale` once per stale period. See
//! docs/operations.md ("Backups").

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupsSettings {
    /// The directory backups are written to, readable by the worker (e.g. the `pgbackup`
    /// volume mounted read-only). Empty: backups are not watched.
    pub dir: String,
    /// The newest backup may be this old before the backups count as stale.
    pub max_age_hours: u64,
}

/// The longest `max_age_hours` accepted (a year).
const MAX_AGE_HOURS_LIMIT: u64 = 24 * 366;

impl Default for BackupsSettings {
    fn default() -> Self {
        Self {
            dir: String::new(),
            max_age_hours: 26,
        }
    }
}

impl BackupsSettings {
    /// Whether backups are watched.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        !self.dir.trim().is_empty()
    }

    #[must_use]
    pub fn max_age(&self) -> Duration {
        Duration::from_secs(self.max_age_hours.saturating_mul(3600))
    }

    /// # Errors
    /// `max_age_hours` is 0 or more than a year.
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=MAX_AGE_HOURS_LIMIT).contains(&self.max_age_hours) {
            return Err(format!(
                "backups.max_age_hours must be between 1 and {MAX_AGE_HOURS_LIMIT} (got {})",
                self.max_age_hours
            ));
        }
        Ok(())
    }
}
