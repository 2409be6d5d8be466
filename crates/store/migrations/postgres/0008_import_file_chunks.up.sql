-- Uploaded files are stored in chunks, so an upload is written and read back a chunk at a
-- time and never held in memory whole. Existing files become a single chunk.
ALTER TABLE import_files ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE import_files DROP CONSTRAINT import_files_pkey;
ALTER TABLE import_files ADD PRIMARY KEY (run_id, seq);
ALTER TABLE import_files ALTER COLUMN seq DROP DEFAULT;

-- Retention looks for runs by age.
CREATE INDEX import_runs_updated_at ON import_runs (updated_at);
