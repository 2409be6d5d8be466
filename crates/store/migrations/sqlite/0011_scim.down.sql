DROP TABLE user_sources;

DELETE FROM api_tokens WHERE role = 'scim';
CREATE TABLE api_tokens_old (
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
INSERT INTO api_tokens_old SELECT id, name, token_hash, role, created_by, created_at, expires_at, revoked_at, last_used_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_old RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_active_name ON api_tokens (name) WHERE revoked_at IS NULL;
