//! Jobs: durable units of work the queue runs, and the records an operator reads about them.
//!
//! A job moves through [`JobState`]s; every transition is recorded as a [`JobEvent`]. The
//! store assigns ids (`i64`, increasing) and the worker runtime drives the transitions.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::validation::ValidationErrors;

/// Where a job is in its life.
///
/// `scheduled`, `available` and `retryable` are waiting (claimable once `run_at` has passed);
/// `running` is leased by a worker; `completed`, `cancelled` and `discarded` are final.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Scheduled,
    Available,
    Running,
    Retryable,
    Completed,
    Cancelled,
    Discarded,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Scheduled,
        JobState::Available,
        JobState::Running,
        JobState::Retryable,
        JobState::Completed,
        JobState::Cancelled,
        JobState::Discarded,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Scheduled => "scheduled",
            JobState::Available => "available",
            JobState::Running => "running",
            JobState::Retryable => "retryable",
            JobState::Completed => "completed",
            JobState::Cancelled => "cancelled",
            JobState::Discarded => "discarded",
        }
    }

    /// Completed, cancelled or discarded: nothing more will happen unless an operator re-drives it.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Cancelled | JobState::Discarded
        )
    }
}

impl std::str::FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state `{s}`"))
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobAttemptError {
    pub attempt: i32,
    pub at: DateTime<Utc>,
    pub error: String,
    /// The worker that ran the attempt.
    pub worker: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": 1042, "queue": "default", "kind": "system.noop", "state": "completed", "args": {},
    "priority": 0, "attempt": 1, "max_attempts": 5, "run_at": "2026-11-21T09:15:02.123456Z",
    "result": null, "progress": null, "errors": [], "unique_key": null, "batch_id": null, "parent_id": null,
    "created_by": "operator:admin", "request_id": null, "worker_id": null, "cancel_requested": false,
    "created_at": "2026-11-21T09:15:02.123456Z", "attempted_at": "2026-11-21T09:15:02.125001Z",
    "finalized_at": "2026-11-21T09:15:02.126100Z"}))]
pub struct Job {
    pub id: i64,
    pub queue: String,
    pub kind: String,
    pub state: JobState,
    #[schema(value_type = Object)]
    pub args: Value,
    /// Higher runs first; default 0.
    pub priority: i16,
    /// Attempts started so far (the running attempt included).
    pub attempt: i32,
    pub max_attempts: i32,
    /// Not claimed before this time.
    pub run_at: DateTime<Utc>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// The last progress the handler reported.
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    /// Errors of failed attempts, oldest first.
    pub errors: Vec<JobAttemptError>,
    pub unique_key: Option<String>,
    pub batch_id: Option<Uuid>,
    pub parent_id: Option<i64>,
    /// The actor that caused the job (`operator:<name>`, `system:<component>`).
    pub created_by: Option<String>,
    pub request_id: Option<String>,
    /// The worker holding the lease while `running`.
    pub worker_id: Option<String>,
    /// An operator asked to cancel the running job; its handler is told.
    pub cancel_requested: bool,
    pub created_at: DateTime<Utc>,
    pub attempted_at: Option<DateTime<Utc>>,
    pub finalized_at: Option<DateTime<Utc>>,
}

/// A job to enqueue. Build with [`NewJob::new`] and the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJob {
    pub queue: String,
    pub kind: String,
    pub args: Value,
    pub priority: i16,
    pub max_attempts: i32,
    /// `None`: as soon as possible.
    pub run_at: Option<DateTime<Utc>>,
    /// While a job with this key is unfinished, enqueueing another returns it instead.
    pub unique_key: Option<String>,
    pub batch_id: Option<Uuid>,
    pub parent_id: Option<i64>,
    pub created_by: Option<String>,
    pub request_id: Option<String>,
}

/// Attempts a job gets unless its kind or the caller says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;
/// The queue jobs go to unless the caller names one.
pub const DEFAULT_QUEUE: &str = "default";

impl NewJob {
    /// A job of `kind` with `args` on the default queue.
    #[must_use]
    pub fn new(kind: impl Into<String>, args: Value) -> Self {
        Self {
            queue: DEFAULT_QUEUE.into(),
            kind: kind.into(),
            args,
            priority: 0,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            run_at: None,
            unique_key: None,
            batch_id: None,
            parent_id: None,
            created_by: None,
            request_id: None,
        }
    }

    #[must_use]
    pub fn with_queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = queue.into();
        self
    }

    #[must_use]
    pub fn with_priority(mut self, priority: i16) -> Self {
        self.priority = priority;
        self
    }

    #[must_use]
    pub fn with_max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n;
        self
    }

    #[must_use]
    pub fn with_run_at(mut self, at: DateTime<Utc>) -> Self {
        self.run_at = Some(at);
        self
    }

    #[must_use]
    pub fn with_unique_key(mut self, key: impl Into<String>) -> Self {
        self.unique_key = Some(key.into());
        self
    }

    #[must_use]
    pub fn with_batch(mut self, batch_id: Uuid) -> Self {
        self.batch_id = Some(batch_id);
        self
    }

    #[must_use]
    pub fn with_parent(mut self, parent_id: i64) -> Self {
        self.parent_id = Some(parent_id);
        self
    }

    /// Stamps who caused the job (and under which request).
    #[must_use]
    pub fn caused_by(mut self, actor: &crate::Actor) -> Self {
        self.created_by = Some(actor.name.clone());
        self.request_id.clone_from(&actor.request_id);
        self
    }

    /// Checks the fields the store relies on.
    ///
    /// # Errors
    /// Field errors for an empty or overlong queue or kind, or fewer than one attempt.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        for (field, value) in [("queue", &self.queue), ("kind", &self.kind)] {
            if value.is_empty() || value.len() > 100 {
                errors.add(field, "must be 1 to 100 characters");
            }
        }
        if !(1..=1000).contains(&self.max_attempts) {
            errors.add("max_attempts", "must be between 1 and 1000");
        }
        if self
            .unique_key
            .as_ref()
            .is_some_and(|k| k.is_empty() || k.len() > 500)
        {
            errors.add("unique_key", "must be 1 to 500 characters");
        }
        errors.into_result(())
    }
}

/// One recorded state change of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobEvent {
    /// Position in the event log; resume a stream after it with `Last-Event-ID`.
    pub seq: i64,
    pub job_id: i64,
    pub at: DateTime<Utc>,
    /// The state the job entered.
    pub state: JobState,
    pub attempt: i32,
    pub worker_id: Option<String>,
    /// What happened, when the state alone does not say (e.g. `lease expired`, `released`).
    pub note: Option<String>,
    /// The job's kind and queue (absent once the job has been pruned).
    pub kind: Option<String>,
    pub queue: Option<String>,
}

/// Filters and paging for listing jobs, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobQuery {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub queue: Option<String>,
    pub batch_id: Option<Uuid>,
    /// Only jobs with an id below this (the cursor).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// A worker process that has registered itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WorkerInfo {
    pub id: String,
    pub hostname: String,
    pub pid: i64,
    pub queues: Vec<String>,
    /// The job kinds this worker has handlers for (it claims only these); `None` for a worker
    /// of an older version, which claims every kind.
    pub kinds: Option<Vec<String>>,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
}

/// A job with its recorded history, as `GET /api/v1/jobs/{id}` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobDetail {
    #[serde(flatten)]
    pub job: Job,
    /// Every state change, oldest first.
    pub history: Vec<JobEvent>,
}

/// How far a batch has got: job counts by state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"batch_id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f60", "total": 3,
    "counts": {"completed": 2, "running": 1}, "finished": false}))]
pub struct BatchProgress {
    pub batch_id: Uuid,
    pub total: i64,
    /// Jobs per state; states with no jobs are left out.
    pub counts: std::collections::BTreeMap<JobState, i64>,
    /// True when every job is completed, cancelled or discarded.
    pub finished: bool,
}
