-- Index builds may take longer than a server's statement timeout.
SET LOCAL statement_timeout = 0;
-- Substring search (`?q=`) on people: `lower(column) LIKE '%text%'` is served by trigram
-- indexes (one per searched column, combined by a bitmap OR) instead of a scan of the table.
-- pg_trgm is a trusted extension: the database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_username_trgm ON users USING gin (lower(username) gin_trgm_ops);
CREATE INDEX users_given_name_trgm ON users USING gin (lower(given_name) gin_trgm_ops);
CREATE INDEX users_family_name_trgm ON users USING gin (lower(family_name) gin_trgm_ops);
CREATE INDEX users_email_trgm ON users USING gin (lower(email) gin_trgm_ops);
CREATE INDEX users_external_id_trgm ON users USING gin (lower(external_id) gin_trgm_ops);
