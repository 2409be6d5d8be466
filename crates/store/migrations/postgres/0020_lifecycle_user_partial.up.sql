-- Only lifecycle jobs are looked up by person (every such query says `kind LIKE 'lifecycle.%'`),
-- so only they keep an entry in this index: other jobs (system, notifications, cron) no longer
-- pay an index entry on each of their state changes.
DROP INDEX jobs_lifecycle_user;
CREATE INDEX jobs_lifecycle_user ON jobs ((args ->> 'user_id'), id) WHERE kind LIKE 'lifecycle.%';
