-- Commits to the tables a sign-in is checked against (operators, sessions, API tokens,
-- signing keys) notify with the payload 'auth', the others with ''. Listening servers key
-- their cache of authenticated principals by the 'auth' notifications alone, so commits to
-- the directory or the job queue (most commits) no longer empty that cache.
CREATE FUNCTION cc_notify_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cc_changed', 'auth');
    RETURN NULL;
END
$$;

DROP TRIGGER operators_changed ON operators;
DROP TRIGGER auth_sessions_changed ON auth_sessions;
DROP TRIGGER api_tokens_changed ON api_tokens;
DROP TRIGGER signing_keys_changed ON signing_keys;
CREATE TRIGGER operators_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_auth_changed();
CREATE TRIGGER auth_sessions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_auth_changed();
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_auth_changed();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_auth_changed();
