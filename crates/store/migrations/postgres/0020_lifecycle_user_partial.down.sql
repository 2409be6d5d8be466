DROP INDEX jobs_lifecycle_user;
CREATE INDEX jobs_lifecycle_user ON jobs ((args ->> 'user_id'), id);
