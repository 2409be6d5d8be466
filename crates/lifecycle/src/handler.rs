//! The `lifecycle.<operation>` job handler.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use cc_connectors::{Change, OperationRequest, Target, TargetError};
use cc_domain::{
    LifecycleJobArgs, LifecycleOperation, LinkStatus, NewAuditEvent, TargetLinkRecord, User,
};
use cc_queue::{CompletionWrites, JobContext, JobError, JobHandler, KindPolicy};
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::{link_for, Engine, DURATION_METRIC, OPERATIONS_METRIC};

/// Runs one operation kind.
pub struct LifecycleHandler {
    engine: Engine,
    op: LifecycleOperation,
}

impl LifecycleHandler {
    #[must_use]
    pub fn new(engine: Engine, op: LifecycleOperation) -> Self {
        Self { engine, op }
    }
}

/// What happened on one target, as the job's result and progress list it.
#[derive(Debug, Clone, Serialize)]
pub struct TargetResult {
    pub target: String,
    /// `changed`, `unchanged`, `done_earlier` (an earlier attempt of this job finished
    /// here), `failed`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub detail: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// How long the target asked us to wait before trying again (`Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u64>,
}

#[async_trait]
impl JobHandler for LifecycleHandler {
    type Args = LifecycleJobArgs;
    type Output = Value;

    fn kind(&self) -> &str {
        self.op.job_kind()
    }

    /// Targets have their own (shorter) timeouts; retries follow the engine's backoff
    /// ([`crate::default_retry`] unless set).
    fn policy(&self) -> KindPolicy {
        KindPolicy {
            timeout: Duration::from_secs(600),
            retry: self.engine.retry().clone(),
        }
    }

    async fn run(&self, ctx: JobContext, args: LifecycleJobArgs) -> Result<Value, JobError> {
        if args.operation != self.op {
            return Err(JobError::Permanent(format!(
                "job args say `{}` but the kind is `{}`",
                args.operation,
                self.op.job_kind()
            )));
        }
        let store = self.engine.store();
        // The person, any earlier unfinished job for them and their links: one read.
        let view = store
            .lifecycle_view(args.user_id, ctx.job_id)
            .await
            .map_err(JobError::retryable)?;
        let user = match (view.user, &args.previous) {
            (Some(u), _) => u,
            // Deprovisioning a person deleted since the request: the last known record.
            (None, Some(prev)) if self.op == LifecycleOperation::Deprovision => prev.clone(),
            (None, _) => {
                return Ok(skipped(self.op, args.user_id, "the user no longer exists"));
            }
        };
        // One job at a time per person, in the order they were requested: wait (without
        // spending attempts) while an earlier one is unfinished.
        if let Some((earlier, run_at)) = view.earlier {
            let wait = (run_at - cc_domain::now())
                .to_std()
                .unwrap_or_default()
                .clamp(Duration::from_millis(500), Duration::from_secs(60));
            return Err(JobError::Snooze {
                delay: wait,
                reason: format!("waiting for job {earlier} for the same person"),
            });
        }
        if !self.op.still_wanted(user.status) {
            return Ok(skipped(
                self.op,
                user.id,
                &format!(
                    "superseded: the user is now {}; a later job carries that change",
                    user.status.as_str()
                ),
            ));
        }
        // A password job overtaken by a newer one: the newer password is the one the operator
        // was shown, so this one must not overwrite it when it runs late.
        let mut sealed_password = args.sealed_password.clone();
        if sealed_password.is_some() {
            if let Some(newer) = store
                .newer_password_job(user.id, ctx.job_id)
                .await
                .map_err(JobError::retryable)?
            {
                if self.op == LifecycleOperation::ResetPassword {
                    return Ok(skipped(
                        self.op,
                        user.id,
                        &format!("superseded: job {newer} sets a newer password"),
                    ));
                }
                sealed_password = None;
            }
        }
        let password = match &sealed_password {
            None => None,
            Some(sealed) => {
                let sealer = self
                    .engine
                    .auth()
                    .sealer()
                    .await
                    .map_err(JobError::retryable)?;
                let context = cc_service::lifecycle::seal_context(user.id, self.op);
                Some(sealer.open(sealed, &context).map_err(|e| {
                    JobError::Permanent(format!(
                        "the temporary password cannot be opened ({e}); request the operation again"
                    ))
                })?)
            }
        };
        let links = view.links;
        let mut results = Vec::new();
        // The links this attempt changed: committed with the job's completion when every
        // target succeeded, written at once otherwise (a retry then skips the targets done).
        let mut records: Vec<TargetLinkRecord> = Vec::new();
        for target in self.engine.targets().iter().filter(|t| t.handles(self.op)) {
            let name = target.name();
            let done_here = links.iter().any(|l| {
                l.target == name && l.last_job_id == Some(ctx.job_id) && l.status == LinkStatus::Ok
            });
            if done_here {
                results.push(TargetResult {
                    target: name.to_owned(),
                    status: "done_earlier",
                    account_id: links
                        .iter()
                        .find(|l| l.target == name)
                        .and_then(|l| l.account_id.clone()),
                    changes: Vec::new(),
                    detail: Value::Null,
                    error: None,
                    retryable: None,
                    retry_after_secs: None,
                });
                continue;
            }
            let mut req = OperationRequest::new(self.op, user.clone());
            req.id = request_id(ctx.job_id, name);
            req.previous.clone_from(&args.previous);
            if let Some(link) = link_for(&links, name) {
                req = req.with_link(link);
            }
            if let Some(pw) = &password {
                req = req.with_password(pw.clone());
            }
            let started = Instant::now();
            let outcome = match tokio_select(&ctx, target.as_ref(), &req).await {
                Ok(o) => o,
                Err(e) => {
                    // Stopped: what earlier targets did must not be lost with the attempt.
                    self.write_links(&records).await?;
                    return Err(e);
                }
            };
            metrics::histogram!(DURATION_METRIC, "operation" => self.op.as_str(), "target" => name.to_owned())
                .record(started.elapsed().as_secs_f64());
            let previous_account = links
                .iter()
                .find(|l| l.target == name)
                .and_then(|l| l.account_id.clone());
            let now = cc_domain::now();
            let (record, result) = match outcome {
                Ok(o) => {
                    let status = if o.is_noop() { "unchanged" } else { "changed" };
                    metrics::counter!(OPERATIONS_METRIC, "operation" => self.op.as_str(), "target" => name.to_owned(), "outcome" => status)
                        .increment(1);
                    (
                        TargetLinkRecord {
                            user_id: user.id,
                            target: name.to_owned(),
                            account_id: o.account_id.clone(),
                            status: LinkStatus::Ok,
                            last_operation: self.op,
                            last_job_id: Some(ctx.job_id),
                            last_error: None,
                            synced_at: Some(now),
                            updated_at: now,
                        },
                        TargetResult {
                            target: name.to_owned(),
                            status,
                            account_id: o.account_id,
                            changes: o.changes,
                            detail: o.detail,
                            error: None,
                            retryable: None,
                            retry_after_secs: None,
                        },
                    )
                }
                Err(e) => {
                    let outcome = if e.is_retryable() {
                        "retryable_error"
                    } else {
                        "permanent_error"
                    };
                    metrics::counter!(OPERATIONS_METRIC, "operation" => self.op.as_str(), "target" => name.to_owned(), "outcome" => outcome)
                        .increment(1);
                    tracing::warn!(
                        target_name = name,
                        operation = self.op.as_str(),
                        error = e.message(),
                        retryable = e.is_retryable(),
                        "lifecycle operation failed on a target"
                    );
                    let last = links.iter().find(|l| l.target == name);
                    (
                        TargetLinkRecord {
                            user_id: user.id,
                            target: name.to_owned(),
                            account_id: previous_account.clone(),
                            status: LinkStatus::Failed,
                            last_operation: self.op,
                            last_job_id: Some(ctx.job_id),
                            last_error: Some(e.message().to_owned()),
                            synced_at: last.and_then(|l| l.synced_at),
                            updated_at: now,
                        },
                        TargetResult {
                            target: name.to_owned(),
                            status: "failed",
                            account_id: previous_account,
                            changes: Vec::new(),
                            detail: Value::Null,
                            error: Some(e.message().to_owned()),
                            retryable: Some(e.is_retryable()),
                            retry_after_secs: e.retry_after().map(|d| d.as_secs()),
                        },
                    )
                }
            };
            self.engine
                .note_target_outcome(name, record.last_error.as_deref())
                .await;
            records.push(record);
            results.push(result);
        }
        let report = json!({
            "operation": self.op,
            "user_id": user.id,
            "username": user.username,
            "targets": results,
        });
        let failed: Vec<&TargetResult> = results.iter().filter(|r| r.status == "failed").collect();
        if failed.is_empty() {
            // The links, the per-target outcomes (as the job's progress) and the audit event
            // commit with the completion, in its transaction: once the job is completed they
            // are there, and only then. A crash before leaves none; the retry finds the
            // accounts again (targets look before they act) and links them.
            ctx.on_completion(CompletionWrites {
                progress: Some(report.clone()),
                links: records,
                audit: vec![self.audit_event(&ctx, &user, &results)],
            });
            return Ok(report);
        }
        self.write_links(&records).await?;
        // The per-target outcomes stay on the job even when it fails.
        let _ = ctx.report_progress(&report).await;
        let retry = failed.iter().any(|r| r.retryable == Some(true));
        let summary = failed
            .iter()
            .map(|r| format!("{}: {}", r.target, r.error.as_deref().unwrap_or("failed")))
            .collect::<Vec<_>>()
            .join("; ");
        let finished = failed.is_empty() || !retry || ctx.is_last_attempt();
        if finished {
            self.audit(&ctx, &user, &results).await;
        }
        if retry {
            // The longest wait any target asked for: retrying sooner would only be refused.
            let after = failed
                .iter()
                .filter(|r| r.retryable == Some(true))
                .filter_map(|r| r.retry_after_secs)
                .max();
            Err(match after {
                Some(secs) => JobError::RetryableAfter {
                    message: summary,
                    after: std::time::Duration::from_secs(secs),
                },
                None => JobError::Retryable(summary),
            })
        } else {
            Err(JobError::Permanent(summary))
        }
    }
}

impl LifecycleHandler {
    /// Records the links an attempt changed now, in one transaction each (the attempt is not
    /// completing, so they cannot wait for its completion).
    async fn write_links(&self, records: &[TargetLinkRecord]) -> Result<(), JobError> {
        for record in records {
            self.engine
                .store()
                .upsert_target_link(record)
                .await
                .map_err(JobError::retryable)?;
        }
        Ok(())
    }

    /// Writes the audit event of a job that finished without completing (discarded). A
    /// completed job's event is written with its completion instead.
    async fn audit(&self, ctx: &JobContext, user: &User, results: &[TargetResult]) {
        let event = self.audit_event(ctx, user, results);
        let written = async {
            let mut tx = self.engine.store().begin().await?;
            tx.append_audit(event).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not audit a lifecycle job's outcome");
        }
    }

    /// One audit event per finished job: which targets changed, which failed. Never the
    /// password, never attribute values (those are in the job's result for operators).
    fn audit_event(
        &self,
        ctx: &JobContext,
        user: &User,
        results: &[TargetResult],
    ) -> NewAuditEvent {
        let targets: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "target": r.target,
                    "status": r.status,
                    "changes": r.changes.len(),
                    "error": r.error,
                })
            })
            .collect();
        NewAuditEvent {
            actor: format!("worker:{}", ctx.worker_id),
            action: format!("lifecycle.{}", self.op.as_str()),
            target_type: "user".into(),
            target_id: Some(user.id.to_string()),
            request_id: None,
            before: None,
            after: Some(json!({"job_id": ctx.job_id, "attempt": ctx.attempt, "targets": targets})),
        }
    }
}

/// Applies on one target unless the job is cancelled first.
async fn tokio_select(
    ctx: &JobContext,
    target: &dyn Target,
    req: &OperationRequest,
) -> Result<Result<cc_connectors::TargetOutcome, TargetError>, JobError> {
    tokio::select! {
        () = ctx.cancelled() => Err(JobError::Cancelled),
        r = target.apply(req) => Ok(r),
    }
}

/// Stable across attempts of one job on one target (the webhook's event id).
fn request_id(job_id: i64, target: &str) -> Uuid {
    // FNV-1a of the target name: deterministic across processes and releases.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in target.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&job_id.to_be_bytes());
    bytes[8..].copy_from_slice(&h.to_be_bytes());
    // Version 8 (custom) and the RFC 4122 variant, so it is a well-formed UUID.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Uuid::from_bytes(bytes)
}

fn skipped(op: LifecycleOperation, user_id: Uuid, why: &str) -> Value {
    tracing::info!(operation = op.as_str(), %user_id, reason = why, "lifecycle job skipped");
    json!({"operation": op, "user_id": user_id, "skipped": why, "targets": []})
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_stable_and_distinct() {
        let a = super::request_id(7, "ldap");
        assert_eq!(a, super::request_id(7, "ldap"));
        assert_ne!(a, super::request_id(8, "ldap"));
        assert_ne!(a, super::request_id(7, "hook"));
        assert_eq!(a.get_version_num(), 8);
    }
}
