-- The notification deliveries log: every event for every subscribed channel, with what
-- became of it (sent, failed, deduplicated, held for a digest). Dedupe and digests read it.
CREATE TABLE notification_deliveries (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel    TEXT NOT NULL,
    event      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'deduplicated', 'held', 'digested')),
    title      TEXT NOT NULL,
    message    JSONB NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    job_id     BIGINT,
    digest_id  BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    sent_at    TIMESTAMPTZ
);
CREATE INDEX notification_deliveries_recent ON notification_deliveries (channel, event, created_at);
CREATE INDEX notification_deliveries_held ON notification_deliveries (channel, event) WHERE state = 'held';
