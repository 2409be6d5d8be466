-- Roster import runs: who imported which file, the plan, and what became of it.
-- The uploaded file is kept in import_files so a previewed run can be applied without a
-- re-upload; listing runs never reads it.

CREATE TABLE import_runs (
    id          UUID PRIMARY KEY,
    actor       TEXT NOT NULL,
    request_id  TEXT,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    format      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('planning', 'planned', 'refused', 'applying', 'applied', 'failed')),
    dry_run     BOOLEAN NOT NULL,
    options     JSONB NOT NULL DEFAULT '{}',
    counts      JSONB NOT NULL DEFAULT '{}',
    refusals    JSONB NOT NULL DEFAULT '[]',
    error_count BIGINT NOT NULL DEFAULT 0,
    row_errors  JSONB NOT NULL DEFAULT '[]',
    plan        JSONB,
    fingerprint TEXT,
    failure     TEXT,
    created_at  TIMESTAMPTZ NOT NULL,
    planned_at  TIMESTAMPTZ,
    applied_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX import_runs_status ON import_runs (status);

CREATE TABLE import_files (
    run_id  UUID PRIMARY KEY REFERENCES import_runs (id) ON DELETE CASCADE,
    content BYTEA NOT NULL
);
