DROP TRIGGER lifecycle_jobs_removed ON jobs;
DROP TRIGGER lifecycle_jobs_moved ON jobs;
DROP TRIGGER lifecycle_jobs_added ON jobs;
DROP TRIGGER target_links_changed ON target_links;
