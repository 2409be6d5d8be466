-- The job queue: jobs, their state-change history, registered workers and fired cron ticks.
-- Timestamps are RFC 3339 text in UTC, which sorts in time order.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    queue            TEXT NOT NULL,
    kind             TEXT NOT NULL,
    args             TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state IN
                         ('scheduled', 'available', 'running', 'retryable', 'completed', 'cancelled', 'discarded')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL,
    run_at           TEXT NOT NULL,
    errors           TEXT NOT NULL DEFAULT '[]',
    result           TEXT,
    progress         TEXT,
    unique_key       TEXT,
    batch_id         BLOB,
    parent_id        INTEGER,
    created_by       TEXT,
    request_id       TEXT,
    -- The lease: who runs the job, until when, and the fencing token every write by that
    -- worker must present (incremented on each claim).
    worker_id        TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    attempted_at     TEXT,
    finalized_at     TEXT
);
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, id)
    WHERE state IN ('scheduled', 'available', 'retryable');
CREATE INDEX jobs_lease ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finalized ON jobs (finalized_at) WHERE finalized_at IS NOT NULL;
CREATE INDEX jobs_batch ON jobs (batch_id) WHERE batch_id IS NOT NULL;
-- Listing dead letters (other lists scan newest first by id; every index here is paid for on
-- each of a job's transitions).
CREATE INDEX jobs_discarded ON jobs (id) WHERE state = 'discarded';
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('scheduled', 'available', 'running', 'retryable');

CREATE TABLE job_events (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id    INTEGER NOT NULL,
    at        TEXT NOT NULL,
    state     TEXT NOT NULL,
    attempt   INTEGER NOT NULL,
    worker_id TEXT,
    note      TEXT
);
CREATE INDEX job_events_job ON job_events (job_id, seq);

CREATE TABLE job_workers (
    id           TEXT PRIMARY KEY NOT NULL,
    hostname     TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    queues       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);

CREATE TABLE cron_ticks (
    name     TEXT NOT NULL,
    tick     TEXT NOT NULL,
    job_id   INTEGER,
    fired_at TEXT NOT NULL,
    PRIMARY KEY (name, tick)
);
