-- Servers cache reads of the directory and of sign-ins; a commit that changes these tables
-- notifies every listening server (once per transaction: PostgreSQL folds identical
-- notifications of one transaction into one) so that they drop what they cached.
CREATE FUNCTION cc_notify_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cc_changed', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER groups_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON groups
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER group_members_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON group_members
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER operators_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON operators
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER auth_sessions_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON auth_sessions
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER api_tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
