DROP TABLE audit_head;
DROP TABLE audit_events;
DROP TABLE policies;
DROP TABLE devices;
DROP TABLE group_members;
DROP TABLE groups;
DROP TABLE users;
