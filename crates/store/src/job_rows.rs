//! Row shapes for jobs, shared by both backends.

use cc_domain::{Job, JobAttemptError, JobEvent, Notice, StreamEvent, WorkerInfo};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::StoreError;

fn parse_state(s: &str) -> Result<cc_domain::JobState, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Internal(format!("unexpected value in database: {e}")))
}

/// The columns every job read selects, in this order.
pub(crate) const JOB_COLUMNS: &str =
    "id, queue, kind, args, priority, state, attempt, max_attempts, run_at, \
     errors, result, progress, unique_key, batch_id, parent_id, created_by, request_id, worker_id, \
     cancel_requested, created_at, attempted_at, finalized_at";

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: i64,
    queue: String,
    kind: String,
    args: Json<Value>,
    priority: i16,
    state: String,
    attempt: i32,
    max_attempts: i32,
    run_at: DateTime<Utc>,
    errors: Json<Vec<JobAttemptError>>,
    result: Option<Json<Value>>,
    progress: Option<Json<Value>>,
    unique_key: Option<String>,
    batch_id: Option<Uuid>,
    parent_id: Option<i64>,
    created_by: Option<String>,
    request_id: Option<String>,
    worker_id: Option<String>,
    cancel_requested: bool,
    created_at: DateTime<Utc>,
    attempted_at: Option<DateTime<Utc>>,
    finalized_at: Option<DateTime<Utc>>,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            id: r.id,
            queue: r.queue,
            kind: r.kind,
            state: parse_state(&r.state)?,
            args: r.args.0,
            priority: r.priority,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            run_at: r.run_at,
            result: r.result.map(|j| j.0),
            progress: r.progress.map(|j| j.0),
            errors: r.errors.0,
            unique_key: r.unique_key,
            batch_id: r.batch_id,
            parent_id: r.parent_id,
            created_by: r.created_by,
            request_id: r.request_id,
            worker_id: r.worker_id,
            cancel_requested: r.cancel_requested,
            created_at: r.created_at,
            attempted_at: r.attempted_at,
            finalized_at: r.finalized_at,
        })
    }
}

/// Event columns joined with the job's kind and queue (`e` events, `j` jobs). A notice
/// (`topic` set) has no job.
pub(crate) const EVENT_SELECT: &str =
    "SELECT e.seq, e.job_id, e.at, e.state, e.attempt, e.worker_id, e.note, \
     e.topic, e.subject, j.kind, j.queue FROM job_events e LEFT JOIN jobs j ON j.id = e.job_id";

#[derive(sqlx::FromRow)]
pub(crate) struct JobEventRow {
    seq: i64,
    job_id: i64,
    at: DateTime<Utc>,
    state: String,
    attempt: i32,
    worker_id: Option<String>,
    note: Option<String>,
    topic: Option<String>,
    subject: Option<String>,
    kind: Option<String>,
    queue: Option<String>,
}

impl TryFrom<JobEventRow> for StreamEvent {
    type Error = StoreError;
    fn try_from(r: JobEventRow) -> Result<Self, StoreError> {
        let Some(topic) = r.topic.as_deref() else {
            return JobEvent::try_from(r).map(StreamEvent::Job);
        };
        Ok(StreamEvent::Notice(Notice {
            seq: r.seq,
            at: r.at,
            topic: topic
                .parse()
                .map_err(|e| StoreError::Internal(format!("unexpected value in database: {e}")))?,
            subject: r.subject.unwrap_or_default(),
            state: r.state,
            note: r.note,
        }))
    }
}

impl TryFrom<JobEventRow> for JobEvent {
    type Error = StoreError;
    fn try_from(r: JobEventRow) -> Result<Self, StoreError> {
        Ok(JobEvent {
            seq: r.seq,
            job_id: r.job_id,
            at: r.at,
            state: parse_state(&r.state)?,
            attempt: r.attempt,
            worker_id: r.worker_id,
            note: r.note,
            kind: r.kind,
            queue: r.queue,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkerRow {
    id: String,
    hostname: String,
    pid: i64,
    queues: String,
    kinds: Option<String>,
    started_at: DateTime<Utc>,
    heartbeat_at: DateTime<Utc>,
}

impl From<WorkerRow> for WorkerInfo {
    fn from(r: WorkerRow) -> Self {
        WorkerInfo {
            id: r.id,
            hostname: r.hostname,
            pid: r.pid,
            queues: r
                .queues
                .split(',')
                .filter(|q| !q.is_empty())
                .map(str::to_owned)
                .collect(),
            kinds: r.kinds.map(|k| {
                k.split(',')
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect()
            }),
            started_at: r.started_at,
            heartbeat_at: r.heartbeat_at,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimRow {
    pub id: i64,
    pub lease_token: i64,
    pub queue: String,
    pub kind: String,
    pub args: Json<Value>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub created_at: DateTime<Utc>,
    pub batch_id: Option<Uuid>,
}

impl From<ClaimRow> for crate::jobs::ClaimedJob {
    fn from(r: ClaimRow) -> Self {
        crate::jobs::ClaimedJob {
            lease: crate::jobs::Lease {
                job_id: r.id,
                token: r.lease_token,
            },
            queue: r.queue,
            kind: r.kind,
            args: r.args.0,
            attempt: r.attempt,
            max_attempts: r.max_attempts,
            created_at: r.created_at,
            batch_id: r.batch_id,
        }
    }
}

/// A page of jobs from rows fetched with one extra (to know whether there is a next page).
pub(crate) fn job_page(rows: Vec<JobRow>, limit: u32) -> Result<cc_domain::Page<Job>, StoreError> {
    let mut jobs: Vec<Job> = crate::rows::convert(rows)?;
    let more = jobs.len() > limit as usize;
    jobs.truncate(limit as usize);
    let next_cursor = if more {
        jobs.last().map(|j| j.id.to_string())
    } else {
        None
    };
    Ok(cc_domain::Page {
        items: jobs,
        next_cursor,
    })
}
