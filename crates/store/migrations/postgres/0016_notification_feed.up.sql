-- How far the notifications feed has read the event log (job_events): notifications about
-- discarded jobs, import outcomes and failing or recovered targets are taken from it. One
-- row; the feed advances it in the transaction that enqueues the events' dispatch jobs.
CREATE TABLE notification_feed (
    name       TEXT PRIMARY KEY,
    seq        BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
