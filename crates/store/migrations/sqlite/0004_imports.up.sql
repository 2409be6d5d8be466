-- Roster import runs: who imported which file, the plan, and what became of it.
-- The uploaded file is kept in import_files so a previewed run can be applied without a
-- re-upload; listing runs never reads it.

CREATE TABLE import_runs (
    id          BLOB PRIMARY KEY NOT NULL,
    actor       TEXT NOT NULL,
    request_id  TEXT,
    file_name   TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL,
    format      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('planning', 'planned', 'refused', 'applying', 'applied', 'failed')),
    dry_run     INTEGER NOT NULL,
    options     TEXT NOT NULL DEFAULT '{}',
    counts      TEXT NOT NULL DEFAULT '{}',
    refusals    TEXT NOT NULL DEFAULT '[]',
    error_count INTEGER NOT NULL DEFAULT 0,
    row_errors  TEXT NOT NULL DEFAULT '[]',
    plan        TEXT,
    fingerprint TEXT,
    failure     TEXT,
    created_at  TEXT NOT NULL,
    planned_at  TEXT,
    applied_at  TEXT,
    updated_at  TEXT NOT NULL
);
CREATE INDEX import_runs_status ON import_runs (status);

CREATE TABLE import_files (
    run_id  BLOB PRIMARY KEY NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    content BLOB NOT NULL
);
