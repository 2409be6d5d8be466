-- Operators who sign in through an OpenID provider: each (issuer, subject) pair the provider
-- vouches for is linked to one operator, created at the first sign-in. And the sign-ins in
-- progress: one row per `state` handed to a provider, taken (deleted) by the callback that
-- presents it, so a state works once and only until it expires. The state itself is stored
-- only as a SHA-256 digest.

CREATE TABLE operator_identities (
    issuer        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    operator_id   UUID NOT NULL REFERENCES operators (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_login_at TIMESTAMPTZ,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX operator_identities_operator ON operator_identities (operator_id);

CREATE TABLE oidc_login_states (
    state_hash    TEXT PRIMARY KEY,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    redirect_uri  TEXT NOT NULL,
    return_to     TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX oidc_login_states_expiry ON oidc_login_states (expires_at);
