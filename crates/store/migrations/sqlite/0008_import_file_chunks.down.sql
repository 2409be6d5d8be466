-- Back to one row per file. SQLite cannot concatenate BLOBs in SQL, so only files stored in
-- a single chunk are kept; runs whose files had more must be uploaded again to be applied.
DROP INDEX import_runs_updated_at;

ALTER TABLE import_files RENAME TO import_files_chunks;

CREATE TABLE import_files (
    run_id  BLOB PRIMARY KEY NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    content BLOB NOT NULL
);

INSERT INTO import_files (run_id, content)
SELECT run_id, content FROM import_files_chunks c
WHERE seq = 0 AND NOT EXISTS (SELECT 1 FROM import_files_chunks d WHERE d.run_id = c.run_id AND d.seq > 0);

DROP TABLE import_files_chunks;
