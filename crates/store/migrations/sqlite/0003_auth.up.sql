-- Operators and their credentials: login sessions (refresh-token families), refresh tokens,
-- API tokens, generated signing keys, and login throttling. Secrets are stored only as
-- hashes (Argon2id for passwords, SHA-256 for random tokens); signing keys are the exception
-- (see docs/security.md: configure them as secrets to keep them out of the database).

CREATE TABLE operators (
    id                  BLOB PRIMARY KEY NOT NULL,
    username            TEXT NOT NULL UNIQUE,
    password_hash       TEXT NOT NULL,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    disabled            INTEGER NOT NULL DEFAULT 0,
    last_login_at       TEXT,
    password_changed_at TEXT NOT NULL,
    version             INTEGER NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);

CREATE TABLE auth_sessions (
    id             BLOB PRIMARY KEY NOT NULL,
    operator_id    BLOB NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE INDEX auth_sessions_operator ON auth_sessions (operator_id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    session_id BLOB NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE api_tokens (
    id           BLOB PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor')),
    created_by   BLOB NOT NULL REFERENCES operators (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY NOT NULL,
    secret     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One row per throttled key (a hashed operator name or a client address) with recent failures.
CREATE TABLE login_throttle (
    key              TEXT PRIMARY KEY NOT NULL,
    label            TEXT NOT NULL,
    failures         INTEGER NOT NULL,
    first_failure_at TEXT NOT NULL,
    last_failure_at  TEXT NOT NULL,
    locked_until     TEXT
);
