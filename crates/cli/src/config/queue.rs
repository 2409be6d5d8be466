//! The `[queue]` section: worker runtime settings, queues and cron entries.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// Most jobs a worker claims per round trip.
    pub claim_batch: u32,
    /// How long a busy queue waits for more free slots before claiming (0: at once).
    pub claim_gather_ms: u64,
    /// A lease not renewed for this long expires and its job is rescued.
    pub lease_ttl_ms: u64,
    /// How often a worker renews its leases (one statement for all of them).
    pub heartbeat_interval_ms: u64,
    /// How often running jobs are checked for cancel requests.
    pub cancel_poll_interval_ms: u64,
    /// How often an idle worker looks for due jobs without a wake-up.
    pub poll_interval_ms: u64,
    /// Never LISTEN (PostgreSQL behind a transaction-mode pooler): poll only.
    pub poll_only: bool,
    /// How often expired leases are looked for.
    pub rescue_interval_ms: u64,
    /// On shutdown, how long running jobs may take before they are released.
    pub shutdown_timeout_ms: u64,
    /// Finished jobs and their history are deleted this many hours after they finished.
    pub retention_hours: u64,
    pub prune_interval_ms: u64,
    /// Cron entries: `[[queue.cron]]` with name, schedule, kind, args, queue.
    pub cron: Vec<CronSettings>,
    /// Queues served, by name, with the jobs each may run at once per worker process.
    pub queues: BTreeMap<String, QueueLimits>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueLimits {
    pub concurrency: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSettings {
    pub name: String,
    /// Five cron fields (or six with leading seconds), in UTC.
    pub schedule: String,
    pub kind: String,
    #[serde(default = "empty_args")]
    pub args: serde_json::Value,
    #[serde(default = "default_queue")]
    pub queue: String,
}

fn empty_args() -> serde_json::Value {
    serde_json::json!({})
}

fn default_queue() -> String {
    cc_domain::job::DEFAULT_QUEUE.into()
}

impl Default for QueueSettings {
    fn default() -> Self {
        let d = cc_queue::QueueConfig::default();
        let ms = |x: Duration| u64::try_from(x.as_millis()).unwrap_or(u64::MAX);
        Self {
            claim_batch: d.claim_batch,
            claim_gather_ms: ms(d.claim_gather),
            lease_ttl_ms: ms(d.lease_ttl),
            heartbeat_interval_ms: ms(d.heartbeat_interval),
            cancel_poll_interval_ms: ms(d.cancel_poll_interval),
            poll_interval_ms: ms(d.poll_interval),
            poll_only: d.poll_only,
            rescue_interval_ms: ms(d.rescue_interval),
            shutdown_timeout_ms: ms(d.shutdown_timeout),
            retention_hours: d.retention.as_secs() / 3600,
            prune_interval_ms: ms(d.prune_interval),
            cron: Vec::new(),
            queues: d
                .queues
                .into_iter()
                .map(|q| {
                    (
                        q.name,
                        QueueLimits {
                            concurrency: q.concurrency,
                        },
                    )
                })
                .collect(),
        }
    }
}

impl QueueSettings {
    /// The worker runtime configuration these settings describe.
    #[must_use]
    pub fn runtime(&self) -> cc_queue::QueueConfig {
        let ms = Duration::from_millis;
        cc_queue::QueueConfig {
            queues: self
                .queues
                .iter()
                .map(|(name, l)| cc_queue::QueueSpec {
                    name: name.clone(),
                    concurrency: l.concurrency,
                })
                .collect(),
            claim_batch: self.claim_batch,
            claim_gather: ms(self.claim_gather_ms),
            lease_ttl: ms(self.lease_ttl_ms),
            heartbeat_interval: ms(self.heartbeat_interval_ms),
            cancel_poll_interval: ms(self.cancel_poll_interval_ms),
            poll_interval: ms(self.poll_interval_ms),
            poll_only: self.poll_only,
            rescue_interval: ms(self.rescue_interval_ms),
            shutdown_timeout: ms(self.shutdown_timeout_ms),
            retention: Duration::from_secs(self.retention_hours.saturating_mul(3600)),
            prune_interval: ms(self.prune_interval_ms),
            cron: self
                .cron
                .iter()
                .map(|c| cc_queue::CronEntry {
                    name: c.name.clone(),
                    schedule: c.schedule.clone(),
                    kind: c.kind.clone(),
                    args: c.args.clone(),
                    queue: c.queue.clone(),
                })
                .collect(),
            // Set from `[import]` by the worker command.
            ..cc_queue::QueueConfig::default()
        }
    }
}
