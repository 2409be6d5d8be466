//! Built-in kinds: `system.noop` (benchmarks, smoke tests) and `system.sleep`.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::{JobContext, JobError, JobHandler, Registry};

/// Registers every built-in kind.
pub fn register_builtins(r: &mut Registry) {
    r.register(NoopHandler);
    r.register(SleepHandler);
}

/// `system.noop`: does nothing, successfully.
pub struct NoopHandler;

#[async_trait]
impl JobHandler for NoopHandler {
    type Args = serde_json::Value;
    type Output = ();

    fn kind(&self) -> &str {
        "system.noop"
    }

    async fn run(&self, _ctx: JobContext, _args: serde_json::Value) -> Result<(), JobError> {
        Ok(())
    }
}

/// Arguments of `system.sleep`.
#[derive(Debug, Deserialize)]
pub struct SleepArgs {
    /// How long to sleep.
    pub ms: u64,
}

/// `system.sleep`: waits `ms` milliseconds, stopping early when cancelled.
pub struct SleepHandler;

#[async_trait]
impl JobHandler for SleepHandler {
    type Args = SleepArgs;
    type Output = ();

    fn kind(&self) -> &str {
        "system.sleep"
    }

    async fn run(&self, ctx: JobContext, args: SleepArgs) -> Result<(), JobError> {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(args.ms)) => Ok(()),
            () = ctx.cancelled() => Err(JobError::Cancelled),
        }
    }
}
