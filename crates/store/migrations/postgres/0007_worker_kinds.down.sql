ALTER TABLE job_workers DROP COLUMN kinds;
