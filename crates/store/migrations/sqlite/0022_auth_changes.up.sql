-- A counter of commits to the tables a sign-in is checked against (operators, sessions, API
-- tokens, signing keys). The cache of authenticated principals is keyed by it, so commits to
-- the directory or the job queue (most commits) no longer empty that cache; `PRAGMA
-- data_version` says when anything changed, and this row says whether sign-ins did.
CREATE TABLE auth_changes (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
);
INSERT INTO auth_changes (id, n) VALUES (1, 0);

CREATE TRIGGER operators_auth_ins AFTER INSERT ON operators
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER operators_auth_upd AFTER UPDATE ON operators
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER operators_auth_del AFTER DELETE ON operators
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER auth_sessions_auth_ins AFTER INSERT ON auth_sessions
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_sessions_auth_upd AFTER UPDATE ON auth_sessions
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER auth_sessions_auth_del AFTER DELETE ON auth_sessions
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER api_tokens_auth_ins AFTER INSERT ON api_tokens
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_tokens_auth_upd AFTER UPDATE ON api_tokens
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER api_tokens_auth_del AFTER DELETE ON api_tokens
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;

CREATE TRIGGER signing_keys_auth_ins AFTER INSERT ON signing_keys
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_auth_upd AFTER UPDATE ON signing_keys
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_auth_del AFTER DELETE ON signing_keys
BEGIN UPDATE auth_changes SET n = n + 1 WHERE id = 1; END;
