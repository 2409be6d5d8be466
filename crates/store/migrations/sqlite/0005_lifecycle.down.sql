DROP INDEX jobs_lifecycle_user;
DROP TABLE target_links;
