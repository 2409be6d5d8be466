-- Where each person's account on each lifecycle target stands: the account's id there and
-- how the last operation went. One row per (user, target); it goes with the user.

CREATE TABLE target_links (
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target         TEXT NOT NULL,
    account_id     TEXT,
    status         TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    last_operation TEXT NOT NULL,
    last_job_id    BIGINT,
    last_error     TEXT,
    synced_at      TIMESTAMPTZ,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, target)
);
CREATE INDEX target_links_failed ON target_links (target) WHERE status = 'failed';

-- A person's lifecycle jobs run one at a time, in order: a job looks for an earlier
-- unfinished one for the same person by this index.
CREATE INDEX jobs_lifecycle_user ON jobs ((args ->> 'user_id'), id);
