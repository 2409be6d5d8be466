//! The durable job queue and its worker runtime, on top of the store's [`cc_store::JobStore`].
//!
//! - Enqueue inside the store transaction that causes the job ([`cc_store::JobTx::enqueue`]), so
//!   a rolled-back change leaves no job behind.
//! - Handlers implement [`JobHandler`] and are registered in a [`Registry`] by kind name.
//! - [`Worker`] claims jobs in batches, runs them under a lease renewed by heartbeats, and
//!   writes outcomes in batches guarded by the lease's fencing token. It also rescues expired
//!   leases, fires cron entries and prunes finished jobs.
//! - [`ops`] holds the operator actions (cancel, re-drive) that write audit events.

mod builtin;
mod config;
mod cron;
mod error;
mod handler;
pub mod ops;
mod policy;
mod runtime;

pub use builtin::{register_builtins, NoopHandler, SleepArgs, SleepHandler};
pub use cc_store::jobs::CompletionWrites;
pub use config::{CronEntry, QueueConfig, QueueSpec};
pub use cron::CronSchedule;
pub use error::{JobError, MAX_RETRY_AFTER};
pub use handler::{handler_fn, with_policy, JobContext, JobHandler, Registry};
pub use policy::{KindPolicy, RetryPolicy};
pub use runtime::{Clock, Worker};
