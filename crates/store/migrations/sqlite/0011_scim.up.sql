-- API tokens may carry the `scim` role (SCIM clients: the `/scim/v2` endpoint and nothing else).
-- SQLite cannot change a CHECK constraint in place, so the table is rebuilt.
CREATE TABLE api_tokens_new (
    id           BLOB PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    role         TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'auditor', 'scim')),
    created_by   BLOB NOT NULL REFERENCES operators (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
);
INSERT INTO api_tokens_new SELECT id, name, token_hash, role, created_by, created_at, expires_at, revoked_at, last_used_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Where each person's record came from (roster import, SCIM or the API), and what a SCIM
-- client said of them that the directory has no column for: the userName as sent and the
-- enterprise extension.
CREATE TABLE user_sources (
    user_id         BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source          TEXT NOT NULL CHECK (source IN ('roster', 'scim', 'api')),
    scim_user_name  TEXT,
    scim_attributes TEXT NOT NULL DEFAULT '{}',
    updated_at      TEXT NOT NULL
);
CREATE UNIQUE INDEX user_sources_scim_user_name ON user_sources (lower(scim_user_name));
