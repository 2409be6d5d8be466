-- The job kinds each worker has handlers for (comma-separated; NULL for workers of older
-- versions, which claim every kind): jobs whose kind no live worker can run are reported.
ALTER TABLE job_workers ADD COLUMN kinds TEXT;
