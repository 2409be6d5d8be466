-- One-time request keys and notices go.

DROP TABLE request_keys;
DELETE FROM job_events WHERE topic IS NOT NULL;
ALTER TABLE job_events DROP COLUMN subject;
ALTER TABLE job_events DROP COLUMN topic;
