-- The record of backup checks goes: the next check tells of stale backups afresh.
DROP TABLE backup_checks;
