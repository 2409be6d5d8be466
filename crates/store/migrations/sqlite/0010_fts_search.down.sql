-- The full-text indexes of `?q=` search go; searches scan the tables again.

DROP TRIGGER users_fts_update;
DROP TRIGGER users_fts_delete;
DROP TRIGGER users_fts_insert;
DROP TABLE users_fts;

DROP TRIGGER groups_fts_update;
DROP TRIGGER groups_fts_delete;
DROP TRIGGER groups_fts_insert;
DROP TABLE groups_fts;

DROP TRIGGER devices_fts_update;
DROP TRIGGER devices_fts_delete;
DROP TRIGGER devices_fts_insert;
DROP TABLE devices_fts;

DROP TABLE fts_deferred;
