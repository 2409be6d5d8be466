-- Back to one row per file: the chunks joined in order.
DROP INDEX import_runs_updated_at;

CREATE TEMPORARY TABLE import_files_joined AS
SELECT run_id, string_agg(content, ''::bytea ORDER BY seq) AS content FROM import_files GROUP BY run_id;
DELETE FROM import_files;
ALTER TABLE import_files DROP CONSTRAINT import_files_pkey;
ALTER TABLE import_files DROP COLUMN seq;
ALTER TABLE import_files ADD PRIMARY KEY (run_id);
INSERT INTO import_files (run_id, content) SELECT run_id, content FROM import_files_joined;
DROP TABLE import_files_joined;
