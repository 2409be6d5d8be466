DROP TRIGGER operators_changed ON operators;
DROP TRIGGER auth_sessions_changed ON auth_sessions;
DROP TRIGGER api_tokens_changed ON api_tokens;
DROP TRIGGER signing_keys_changed ON signing_keys;
CREATE TRIGGER operators_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER auth_sessions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
DROP FUNCTION cc_notify_auth_changed();
