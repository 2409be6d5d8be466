-- The directory: people, groups, memberships, devices, policies; and the audit chain.
-- Ids are UUIDv7 stored as 16-byte blobs (they sort by creation time); timestamps are RFC 3339 text.

CREATE TABLE users (
    id          BLOB PRIMARY KEY NOT NULL,
    external_id TEXT UNIQUE,
    username    TEXT NOT NULL UNIQUE,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    email       TEXT UNIQUE,
    role        TEXT NOT NULL CHECK (role IN ('student', 'teacher', 'staff', 'administrator')),
    grade       INTEGER CHECK (grade BETWEEN -1 AND 12),
    school      TEXT,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'active', 'suspended', 'deprovisioned')),
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX users_family_name ON users (family_name, id);
CREATE INDEX users_school ON users (school);
CREATE INDEX users_status ON users (status);

CREATE TABLE groups (
    id           BLOB PRIMARY KEY NOT NULL,
    name         TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('school', 'class', 'security')),
    school       TEXT,
    external_id  TEXT UNIQUE,
    description  TEXT,
    version      INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE group_members (
    group_id BLOB NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id  BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

CREATE TABLE devices (
    id               BLOB PRIMARY KEY NOT NULL,
    serial_number    TEXT NOT NULL UNIQUE,
    name             TEXT,
    platform         TEXT NOT NULL,
    model            TEXT,
    os_version       TEXT,
    assigned_user_id BLOB REFERENCES users (id) ON DELETE SET NULL,
    facts            TEXT NOT NULL DEFAULT '{}',
    last_check_in_at TEXT,
    compliance       TEXT NOT NULL CHECK (compliance IN ('unknown', 'compliant', 'noncompliant')),
    version          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX devices_assigned_user ON devices (assigned_user_id);
CREATE INDEX devices_platform ON devices (platform);

CREATE TABLE policies (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    category    TEXT NOT NULL,
    platforms   TEXT NOT NULL DEFAULT '[]',
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    enabled     INTEGER NOT NULL,
    remediation TEXT,
    version     INTEGER NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Append-only; seq is assigned under the audit_head row so it has no gaps.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY NOT NULL,
    occurred_at TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT,
    request_id  TEXT,
    before      TEXT,
    after       TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target_type, target_id);
CREATE INDEX audit_events_actor ON audit_events (actor);
CREATE INDEX audit_events_request ON audit_events (request_id);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
