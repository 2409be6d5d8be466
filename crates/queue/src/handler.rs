//! The handler interface, the context a handler runs with, and the registry of kinds.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cc_store::jobs::{CompletionWrites, Lease};
use cc_store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::{JobError, KindPolicy};

/// Runs jobs of one kind.
///
/// ```ignore
/// struct Greet;
/// #[derive(serde::Deserialize)]
/// struct GreetArgs { name: String }
///
/// #[async_trait::async_trait]
/// impl JobHandler for Greet {
///     type Args = GreetArgs;
///     type Output = String;
///     fn kind(&self) -> &str { "demo.greet" }
///     async fn run(&self, ctx: JobContext, args: GreetArgs) -> Result<String, JobError> {
///         tracing::info!("greeting");            // logged inside the job's span (job_id, kind)
///         Ok(format!("hello {}", args.name))     // stored as the job's result
///     }
/// }
/// ```
///
/// Execution is at-least-once: a job may run again after a crash or a lost lease, so a
/// handler must be idempotent (check the target before acting).
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The job's `args`, deserialized; a job whose args do not fit is discarded.
    type Args: DeserializeOwned + Send + 'static;
    /// Stored as the job's `result` (`()` stores nothing).
    type Output: Serialize + Send + 'static;

    /// The kind name jobs are enqueued under, e.g. `user.provision`.
    fn kind(&self) -> &str;

    /// Timeout and retry backoff for this kind.
    fn policy(&self) -> KindPolicy {
        KindPolicy::default()
    }

    async fn run(&self, ctx: JobContext, args: Self::Args) -> Result<Self::Output, JobError>;
}

/// What a running handler can see and do.
#[derive(Clone)]
pub struct JobContext {
    pub job_id: i64,
    pub kind: String,
    pub queue: String,
    /// This attempt, starting at 1.
    pub attempt: i32,
    pub max_attempts: i32,
    /// The id of the worker running the attempt.
    pub worker_id: Arc<str>,
    /// Fires when the job is cancelled by an operator, its lease is lost, or the worker is
    /// shutting down and the grace period ran out. Long handlers should select on it.
    pub cancel: CancellationToken,
    /// The span the handler runs in (carries `job_id`, `kind`, `attempt`).
    pub span: tracing::Span,
    pub(crate) lease: Lease,
    pub(crate) store: Arc<dyn Store>,
    /// What to write with the completion (see [`JobContext::on_completion`]).
    pub(crate) completion: Arc<Mutex<CompletionWrites>>,
}

impl JobContext {
    /// Resolves when the job should stop (see [`JobContext::cancel`]).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// True on the last attempt the job gets.
    #[must_use]
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }

    /// Writes to commit together with this attempt's completion, in the completion's
    /// transaction (completions are written in batches, so this costs no transaction of its
    /// own): the job's progress, people's links to targets, audit events. They are written only
    /// if the handler returns `Ok` and the completion is recorded with the lease still held;
    /// an attempt that fails, is cancelled, times out or loses its lease writes none of them,
    /// and neither does a crash before the completion. Adds to what earlier calls in the same
    /// attempt gave (a later progress replaces an earlier one).
    pub fn on_completion(&self, writes: CompletionWrites) {
        self.completion
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .merge(writes);
    }

    /// Records the handler's progress (any JSON, e.g. `{"done": 40, "total": 100}`), shown on
    /// the job. Returns false when the worker no longer holds the job.
    ///
    /// # Errors
    /// The store could not be written.
    pub async fn report_progress(&self, progress: impl Serialize) -> Result<bool, JobError> {
        let value = serde_json::to_value(progress).map_err(JobError::permanent)?;
        self.store
            .report_progress(self.lease, &value)
            .await
            .map_err(JobError::retryable)
    }
}

/// A handler with its types erased, as the registry holds it.
#[async_trait]
pub(crate) trait ErasedHandler: Send + Sync {
    fn policy(&self) -> KindPolicy;
    async fn run_value(&self, ctx: JobContext, args: Value) -> Result<Option<Value>, JobError>;
}

struct Erased<H>(H);

#[async_trait]
impl<H: JobHandler> ErasedHandler for Erased<H> {
    fn policy(&self) -> KindPolicy {
        self.0.policy()
    }

    async fn run_value(&self, ctx: JobContext, args: Value) -> Result<Option<Value>, JobError> {
        let args: H::Args = serde_json::from_value(args)
            .map_err(|e| JobError::Permanent(format!("invalid args: {e}")))?;
        let out = self.0.run(ctx, args).await?;
        let value = serde_json::to_value(out).map_err(JobError::permanent)?;
        Ok((!value.is_null()).then_some(value))
    }
}

/// The kinds a worker can run.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn ErasedHandler>>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry with the built-in `system.*` kinds.
    #[must_use]
    pub fn with_builtins() -> Self {
        let mut r = Self::new();
        crate::register_builtins(&mut r);
        r
    }

    /// Adds a handler, replacing any earlier one of the same kind.
    pub fn register<H: JobHandler>(&mut self, handler: H) -> &mut Self {
        self.handlers
            .insert(handler.kind().to_owned(), Arc::new(Erased(handler)));
        self
    }

    /// The registered kind names, sorted.
    #[must_use]
    pub fn kinds(&self) -> Vec<String> {
        let mut k: Vec<String> = self.handlers.keys().cloned().collect();
        k.sort();
        k
    }

    pub(crate) fn get(&self, kind: &str) -> Option<Arc<dyn ErasedHandler>> {
        self.handlers.get(kind).cloned()
    }
}

/// A handler from a closure over JSON args: `handler_fn("demo.echo", |ctx, args| async move { Ok(args) })`.
pub fn handler_fn<F, Fut>(kind: impl Into<String>, f: F) -> impl JobHandler
where
    F: Fn(JobContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    FnHandler {
        kind: kind.into(),
        f,
        policy: KindPolicy::default(),
    }
}

struct FnHandler<F> {
    kind: String,
    f: F,
    policy: KindPolicy,
}

#[async_trait]
impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, JobError>> + Send + 'static,
{
    type Args = Value;
    type Output = Value;

    fn kind(&self) -> &str {
        &self.kind
    }

    fn policy(&self) -> KindPolicy {
        self.policy.clone()
    }

    async fn run(&self, ctx: JobContext, args: Value) -> Result<Value, JobError> {
        (self.f)(ctx, args).await
    }
}

/// A handler with a different policy: `with_policy(handler_fn(…), KindPolicy { … })`.
pub fn with_policy<H: JobHandler>(handler: H, policy: KindPolicy) -> impl JobHandler {
    Policied { handler, policy }
}

struct Policied<H> {
    handler: H,
    policy: KindPolicy,
}

#[async_trait]
impl<H: JobHandler> JobHandler for Policied<H> {
    type Args = H::Args;
    type Output = H::Output;

    fn kind(&self) -> &str {
        self.handler.kind()
    }

    fn policy(&self) -> KindPolicy {
        self.policy.clone()
    }

    async fn run(&self, ctx: JobContext, args: H::Args) -> Result<H::Output, JobError> {
        self.handler.run(ctx, args).await
    }
}
