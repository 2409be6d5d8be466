-- A person's sync state (part of every user read) follows their target links and their
-- lifecycle jobs: changes to those notify listening servers too, so that cached pages of
-- people are dropped. Jobs notify only when a lifecycle job is added, changes state or goes
-- away (not on heartbeats or progress).
CREATE TRIGGER target_links_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON target_links
    FOR EACH STATEMENT EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER lifecycle_jobs_added AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.kind LIKE 'lifecycle.%') EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER lifecycle_jobs_moved AFTER UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.kind LIKE 'lifecycle.%' AND OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION cc_notify_changed();
CREATE TRIGGER lifecycle_jobs_removed AFTER DELETE ON jobs
    FOR EACH ROW WHEN (OLD.kind LIKE 'lifecycle.%') EXECUTE FUNCTION cc_notify_changed();
