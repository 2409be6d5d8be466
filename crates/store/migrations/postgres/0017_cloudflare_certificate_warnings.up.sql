-- Which certificate expiry thresholds have been warned about, so a restarted worker (or
-- another one) does not warn again. A certificate is its zone, host, pack and expiry: a
-- renewed certificate has a new expiry and starts afresh.

CREATE TABLE cloudflare_certificate_warnings (
    zone           TEXT NOT NULL,
    host           TEXT NOT NULL,
    pack_id        TEXT NOT NULL,
    expires_on     BIGINT NOT NULL,
    threshold_days INTEGER NOT NULL,
    warned_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (zone, host, pack_id, expires_on, threshold_days)
);
