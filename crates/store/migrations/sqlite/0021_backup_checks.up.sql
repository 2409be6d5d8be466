-- The last check of each watched backup directory: when it ran, the newest backup it found,
-- and since when the backups are stale. A stale period is told once: the check that begins
-- it sets stale_since (and enqueues the notification in the same transaction); a fresh
-- backup clears it. Restarted or additional workers read it and do not tell again.
CREATE TABLE backup_checks (
    dir          TEXT PRIMARY KEY,
    checked_at   TEXT NOT NULL,
    newest_at    TEXT,
    max_age_secs BIGINT NOT NULL,
    problem      TEXT,
    stale_since  TEXT
);
