DROP TABLE cron_ticks;
DROP TABLE job_workers;
DROP TABLE job_events;
DROP TABLE jobs;
