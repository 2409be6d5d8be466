-- The notification deliveries log: every event for every subscribed channel, with what
-- became of it (sent, failed, deduplicated, held for a digest). Dedupe and digests read it.
CREATE TABLE notification_deliveries (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel    TEXT NOT NULL,
    event      TEXT NOT NULL,
    severity   TEXT NOT NULL,
    subject    TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'deduplicated', 'held', 'digested')),
    title      TEXT NOT NULL,
    message    TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    error      TEXT,
    job_id     INTEGER,
    digest_id  INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    sent_at    TEXT
);
CREATE INDEX notification_deliveries_recent ON notification_deliveries (channel, event, created_at);
CREATE INDEX notification_deliveries_held ON notification_deliveries (channel, event) WHERE state = 'held';
