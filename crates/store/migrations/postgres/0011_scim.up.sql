-- API tokens may carry the `scim` role (SCIM clients: the `/scim/v2` endpoint and nothing else).
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('admin', 'operator', 'auditor', 'scim'));

-- Where each person's record came from (roster import, SCIM or the API), and what a SCIM
-- client said of them that the directory has no column for: the userName as sent and the
-- enterprise extension.
CREATE TABLE user_sources (
    user_id         UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    source          TEXT NOT NULL CHECK (source IN ('roster', 'scim', 'api')),
    scim_user_name  TEXT,
    scim_attributes JSONB NOT NULL DEFAULT '{}',
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX user_sources_scim_user_name ON user_sources (lower(scim_user_name));
