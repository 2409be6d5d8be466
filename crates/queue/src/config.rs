//! Runtime settings of a worker (the CLI builds them from the `[queue]` configuration).

use std::time::Duration;

use serde_json::Value;

/// One queue a worker serves and how many of its jobs may run at once in this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub concurrency: u32,
}

/// A cron entry: enqueue a job of `kind` on every tick of `schedule`.
#[derive(Debug, Clone, PartialEq)]
pub struct CronEntry {
    /// Unique name; ticks are recorded under it so each fires once across instances.
    pub name: String,
    /// Five fields (minute granularity), or six with leading seconds.
    pub schedule: String,
    pub kind: String,
    pub args: Value,
    pub queue: String,
}

/// Worker runtime settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueConfig {
    pub queues: Vec<QueueSpec>,
    /// Most jobs claimed per round trip.
    pub claim_batch: u32,
    /// How long a busy queue with a backlog waits for more of its slots to free before it
    /// claims (zero: claim as soon as one slot is free). See `runtime::claim`.
    pub claim_gather: Duration,
    /// A lease not renewed for this long (on the database's clock) expires and its job is
    /// rescued. A handler whose lease went unrenewed for two thirds of it is stopped.
    pub lease_ttl: Duration,
    /// How often a worker renews all its leases (one statement for all of them).
    pub heartbeat_interval: Duration,
    /// How often a worker checks its running jobs for cancel requests.
    pub cancel_poll_interval: Duration,
    /// How often an idle worker looks for due jobs without a wake-up (scheduled and retried
    /// jobs, other processes on SQLite, poll-only mode).
    pub poll_interval: Duration,
    /// Never `LISTEN` (for connection poolers in transaction mode): poll only.
    pub poll_only: bool,
    /// How often expired leases are looked for.
    pub rescue_interval: Duration,
    /// On shutdown, how long running jobs may take before they are released.
    pub shutdown_timeout: Duration,
    /// Finished jobs and their history are deleted this long after they finished.
    pub retention: Duration,
    /// Uploaded roster files are deleted this long after their import run last changed
    /// (`import.retention_days`); the runs themselves are kept.
    pub upload_retention: Duration,
    /// The same for the files of failed import runs (`import.failed_retention_days`).
    pub failed_upload_retention: Duration,
    pub prune_interval: Duration,
    pub cron: Vec<CronEntry>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            queues: vec![QueueSpec {
                name: cc_domain::job::DEFAULT_QUEUE.into(),
                concurrency: 20,
            }],
            claim_batch: 200,
            claim_gather: Duration::from_millis(20),
            lease_ttl: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            cancel_poll_interval: Duration::from_millis(500),
            poll_interval: Duration::from_secs(1),
            poll_only: false,
            rescue_interval: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            upload_retention: Duration::from_secs(30 * 24 * 3600),
            failed_upload_retention: Duration::from_secs(3 * 24 * 3600),
            prune_interval: Duration::from_secs(60),
            cron: Vec::new(),
        }
    }
}

impl QueueConfig {
    /// Checks the settings hang together.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.queues.is_empty() {
            return Err("queue: at least one queue is needed".into());
        }
        for q in &self.queues {
            if q.name.is_empty() || q.concurrency == 0 {
                return Err(format!(
                    "queue `{}`: concurrency must be at least 1",
                    q.name
                ));
            }
        }
        if self.claim_batch == 0 {
            return Err("queue.claim_batch must be at least 1".into());
        }
        if self.claim_gather > Duration::from_secs(10) {
            return Err("queue.claim_gather_ms must be at most 10000".into());
        }
        // A handler is stopped when its lease went unrenewed for two thirds of its length, so
        // a lease must survive at least one missed heartbeat.
        if self.heartbeat_interval * 3 > self.lease_ttl {
            return Err(
                "queue.heartbeat_interval_ms must be at most a third of queue.lease_ttl_ms".into(),
            );
        }
        let mut names = std::collections::HashSet::new();
        for c in &self.cron {
            if !names.insert(c.name.as_str()) {
                return Err(format!("queue.cron: the name `{}` is used twice", c.name));
            }
            crate::CronSchedule::parse(&c.schedule)
                .map_err(|e| format!("queue.cron `{}`: {e}", c.name))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claim_gathering_window_is_bounded() {
        let mut c = QueueConfig::default();
        assert_eq!(c.validate(), Ok(()));
        c.claim_gather = Duration::ZERO;
        assert_eq!(c.validate(), Ok(()), "zero turns gathering off");
        c.claim_gather = Duration::from_secs(10);
        assert_eq!(c.validate(), Ok(()));
        c.claim_gather = Duration::from_millis(10_001);
        assert_eq!(
            c.validate(),
            Err("queue.claim_gather_ms must be at most 10000".into())
        );
    }
}
