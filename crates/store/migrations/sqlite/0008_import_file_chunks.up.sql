-- Uploaded files are stored in chunks, so an upload is written and read back a chunk at a
-- time and never held in memory whole. Existing files become a single chunk.
ALTER TABLE import_files RENAME TO import_files_whole;

CREATE TABLE import_files (
    run_id  BLOB NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (run_id, seq)
);

INSERT INTO import_files (run_id, seq, content) SELECT run_id, 0, content FROM import_files_whole;

DROP TABLE import_files_whole;

-- Retention looks for runs by age.
CREATE INDEX import_runs_updated_at ON import_runs (updated_at);
