-- Substring search (`?q=`) on people, groups and devices: a trigram full-text index (FTS5,
-- `tokenize = 'trigram'`) over exactly the columns a search matches, so the candidates of a
-- search come from the index instead of a scan of the table. The store narrows a search to the
-- index's matches and still applies its `lower(column) LIKE` test to them, so results are the
-- same with or without the index; queries shorter than three characters (no trigram) and
-- queries matching very many rows keep the plain scan.
--
-- The indexes are external-content tables: they store no copy of the text, only the index,
-- keyed by the row's rowid. Every table indexed here also has other indexes, so VACUUM keeps
-- its rowids. Triggers keep the index in step with every insert, update and delete; the
-- `rebuild` at the end indexes the rows that exist already. Should an index ever disagree with
-- its table, `INSERT INTO <table>_fts (<table>_fts) VALUES ('rebuild')` restores it.

-- A bulk import names a table here, inside its transaction, while it inserts many rows: their
-- insert trigger stands aside and the import indexes the new rows in one statement before it
-- removes its row again (several times faster than a trigger per row). Never committed with
-- a row in it.
CREATE TABLE fts_deferred (
    table_name TEXT PRIMARY KEY NOT NULL
);

CREATE VIRTUAL TABLE users_fts USING fts5 (
    username, given_name, family_name, email, external_id,
    content = 'users', content_rowid = 'rowid', tokenize = 'trigram'
);
CREATE TRIGGER users_fts_insert AFTER INSERT ON users
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE table_name = 'users') BEGIN
    INSERT INTO users_fts (rowid, username, given_name, family_name, email, external_id)
    VALUES (new.rowid, new.username, new.given_name, new.family_name, new.email, new.external_id);
END;
CREATE TRIGGER users_fts_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, username, given_name, family_name, email, external_id)
    VALUES ('delete', old.rowid, old.username, old.given_name, old.family_name, old.email, old.external_id);
END;
CREATE TRIGGER users_fts_update AFTER UPDATE OF username, given_name, family_name, email, external_id ON users BEGIN
    INSERT INTO users_fts (users_fts, rowid, username, given_name, family_name, email, external_id)
    VALUES ('delete', old.rowid, old.username, old.given_name, old.family_name, old.email, old.external_id);
    INSERT INTO users_fts (rowid, username, given_name, family_name, email, external_id)
    VALUES (new.rowid, new.username, new.given_name, new.family_name, new.email, new.external_id);
END;
INSERT INTO users_fts (users_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE groups_fts USING fts5 (
    name, display_name, external_id,
    content = 'groups', content_rowid = 'rowid', tokenize = 'trigram'
);
CREATE TRIGGER groups_fts_insert AFTER INSERT ON groups
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE table_name = 'groups') BEGIN
    INSERT INTO groups_fts (rowid, name, display_name, external_id)
    VALUES (new.rowid, new.name, new.display_name, new.external_id);
END;
CREATE TRIGGER groups_fts_delete AFTER DELETE ON groups BEGIN
    INSERT INTO groups_fts (groups_fts, rowid, name, display_name, external_id)
    VALUES ('delete', old.rowid, old.name, old.display_name, old.external_id);
END;
CREATE TRIGGER groups_fts_update AFTER UPDATE OF name, display_name, external_id ON groups BEGIN
    INSERT INTO groups_fts (groups_fts, rowid, name, display_name, external_id)
    VALUES ('delete', old.rowid, old.name, old.display_name, old.external_id);
    INSERT INTO groups_fts (rowid, name, display_name, external_id)
    VALUES (new.rowid, new.name, new.display_name, new.external_id);
END;
INSERT INTO groups_fts (groups_fts) VALUES ('rebuild');

CREATE VIRTUAL TABLE devices_fts USING fts5 (
    serial_number, name, model,
    content = 'devices', content_rowid = 'rowid', tokenize = 'trigram'
);
CREATE TRIGGER devices_fts_insert AFTER INSERT ON devices
WHEN NOT EXISTS (SELECT 1 FROM fts_deferred WHERE table_name = 'devices') BEGIN
    INSERT INTO devices_fts (rowid, serial_number, name, model)
    VALUES (new.rowid, new.serial_number, new.name, new.model);
END;
CREATE TRIGGER devices_fts_delete AFTER DELETE ON devices BEGIN
    INSERT INTO devices_fts (devices_fts, rowid, serial_number, name, model)
    VALUES ('delete', old.rowid, old.serial_number, old.name, old.model);
END;
CREATE TRIGGER devices_fts_update AFTER UPDATE OF serial_number, name, model ON devices BEGIN
    INSERT INTO devices_fts (devices_fts, rowid, serial_number, name, model)
    VALUES ('delete', old.rowid, old.serial_number, old.name, old.model);
    INSERT INTO devices_fts (rowid, serial_number, name, model)
    VALUES (new.rowid, new.serial_number, new.name, new.model);
END;
INSERT INTO devices_fts (devices_fts) VALUES ('rebuild');
