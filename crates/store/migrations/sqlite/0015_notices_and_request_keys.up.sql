-- The event stream also carries notices about things other than jobs (an import run's
-- outcome, a lifecycle target failing or recovering), in the same sequence as job events.
-- A notice has a topic and a subject (the run id, the target name) and no job (job_id 0).

ALTER TABLE job_events ADD COLUMN topic TEXT;
ALTER TABLE job_events ADD COLUMN subject TEXT;

-- One-time keys of requests that must not run twice (a form posted again by a reload): the
-- job the first request made.
CREATE TABLE request_keys (
    key        TEXT PRIMARY KEY NOT NULL,
    job_id     INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX request_keys_created ON request_keys (created_at);
