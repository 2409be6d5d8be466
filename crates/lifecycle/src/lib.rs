//! The lifecycle engine: the `lifecycle.*` job kinds that carry a person's provision, update,
//! suspend, reset-password and deprovision to every configured target, and the dry run that
//! shows what they would change.
//!
//! Requests are decided and recorded by the directory service (`cc_service::lifecycle`): the
//! state machine, the status change, the audit event and the job commit together. A job here
//! then, for each target that handles the operation:
//!
//! - skips the target if this job already finished there (a retry after a partial failure does
//!   not redo targets that are done),
//! - applies the operation (targets converge: they look before they act),
//! - records the outcome as the person's link to the target (account id, status, error, time).
//!
//! When every target succeeded, the links, the per-target outcomes (the job's progress) and the
//! job's audit event commit with the job's completion, in its (batched) transaction: once the
//! job is completed they are there, exactly once. When a target failed, the links and the
//! progress are written at once, before the failure is recorded, so a retry skips the targets
//! that are done.
//!
//! A job overtaken by a later change (a provision still queued when the person was
//! deprovisioned) is skipped: jobs never apply out of order. Any retryable target failure makes
//! the job retry through the queue; a permanent one discards it with every target's outcome
//! kept in the job's progress and the links.

pub mod actions;
pub mod cloudflare;
mod handler;
mod health;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cc_connectors::{OperationRequest, Target, TargetLink, TargetPlan};
use cc_domain::{LifecycleOperation, NewNotice, NoticeTopic, TargetLinkRecord, User};
use cc_queue::{Registry, RetryPolicy};
use cc_store::Store;
use serde::Serialize;

pub use actions::{ActionOutcome, ActionPlan, Actions, BulkOutcome, BulkOutcomeJob};
pub use handler::{LifecycleHandler, TargetResult};
pub use health::{TargetHealth, CHECK_TIMEOUT, SYNC_METRIC, TARGET_UP_METRIC};

/// Counter of operations per target: `operation`, `target`, `outcome` (`changed`,
/// `unchanged`, `retryable_error`, `permanent_error`).
pub const OPERATIONS_METRIC: &str = "cc_lifecycle_operations_total";
/// The `outcome` label values of [`OPERATIONS_METRIC`].
pub const OPERATION_OUTCOMES: [&str; 4] =
    ["changed", "unchanged", "retryable_error", "permanent_error"];
/// Histogram of the time one target took for one operation: `operation`, `target`.
pub const DURATION_METRIC: &str = "cc_lifecycle_operation_duration_seconds";

/// Registers the metric descriptions (call once where the exporter is installed).
pub fn describe_metrics() {
    metrics::describe_counter!(
        OPERATIONS_METRIC,
        "Lifecycle operations carried out on a target, by operation, target and outcome."
    );
    metrics::describe_histogram!(
        DURATION_METRIC,
        metrics::Unit::Seconds,
        "Time one target took for one lifecycle operation."
    );
    health::describe();
}

/// A configured target as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TargetInfo {
    pub name: String,
    /// `ldap`, `script`, `webhook` or `scim`.
    pub kind: String,
    /// The operations this target handles.
    pub operations: Vec<LifecycleOperation>,
    /// Whether the target keeps passwords (reset-password sets them there).
    pub holds_passwords: bool,
}

/// One target's dry run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedTarget {
    pub target: String,
    pub kind: String,
    /// What applying would change now (absent when the target could not be read).
    #[schema(value_type = Option<Object>)]
    pub plan: Option<TargetPlan>,
    /// Why the target could not be planned (it may be down).
    pub error: Option<String>,
    /// Whether the error is one a retry could get past.
    pub retryable: Option<bool>,
}

/// The targets and what the jobs need to run. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    targets: Arc<Vec<Arc<dyn Target>>>,
    auth: cc_service::Auth,
    retry: RetryPolicy,
    /// Every target's last check.
    health: health::Snapshot,
    /// Whether each target's last operation here failed (see [`Engine::note_target_outcome`]).
    failing: Arc<Mutex<HashMap<String, bool>>>,
}

/// The default backoff of lifecycle jobs: 5 s doubling to 20 min, so the default ten
/// attempts ride out a target outage of about an hour.
#[must_use]
pub fn default_retry() -> RetryPolicy {
    RetryPolicy {
        base: std::time::Duration::from_secs(5),
        max: std::time::Duration::from_secs(1200),
        jitter: 0.2,
    }
}

impl Engine {
    #[must_use]
    pub fn new(
        store: Arc<dyn Store>,
        targets: Vec<Arc<dyn Target>>,
        auth: cc_service::Auth,
    ) -> Self {
        Self {
            store,
            health: health::initial(&targets),
            targets: Arc::new(targets),
            auth,
            retry: default_retry(),
            failing: Arc::default(),
        }
    }

    /// Uses another retry backoff for the lifecycle kinds.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    #[must_use]
    pub fn targets(&self) -> &[Arc<dyn Target>] {
        &self.targets
    }

    /// The configured targets, in configuration order.
    #[must_use]
    pub fn target_info(&self) -> Vec<TargetInfo> {
        self.targets
            .iter()
            .map(|t| TargetInfo {
                name: t.name().to_owned(),
                kind: t.kind().to_owned(),
                operations: LifecycleOperation::ALL
                    .into_iter()
                    .filter(|op| t.handles(*op))
                    .collect(),
                holds_passwords: t.holds_passwords(),
            })
            .collect()
    }

    /// Whether any target that handles `op` keeps passwords (so a password is worth
    /// generating and revealing for it).
    #[must_use]
    pub fn sets_passwords(&self, op: LifecycleOperation) -> bool {
        op.takes_password()
            && self
                .targets
                .iter()
                .any(|t| t.handles(op) && t.holds_passwords())
    }

    /// Registers the five `lifecycle.*` job kinds.
    pub fn register(&self, registry: &mut Registry) {
        for op in LifecycleOperation::ALL {
            registry.register(LifecycleHandler::new(self.clone(), op));
        }
        self.register_metrics();
    }

    /// Creates `cc_lifecycle_operations_total` at 0 for every target, operation it handles
    /// and outcome, so the series exist before the first operation.
    fn register_metrics(&self) {
        for t in self.targets.iter() {
            for op in LifecycleOperation::ALL
                .into_iter()
                .filter(|op| t.handles(*op))
            {
                for outcome in OPERATION_OUTCOMES {
                    metrics::counter!(OPERATIONS_METRIC, "operation" => op.as_str(), "target" => t.name().to_owned(), "outcome" => outcome)
                        .increment(0);
                }
            }
        }
    }

    /// The dry run: asks every target that handles `op` what it would change for `user` now.
    /// Changes nothing, anywhere.
    pub async fn plan(&self, user: &User, op: LifecycleOperation) -> Vec<PlannedTarget> {
        let links = self
            .store
            .list_target_links(user.id)
            .await
            .unwrap_or_default();
        let mut out = Vec::new();
        for t in self.targets.iter().filter(|t| t.handles(op)) {
            let mut req = OperationRequest::new(op, user.clone());
            if let Some(link) = link_for(&links, t.name()) {
                req = req.with_link(link);
            }
            let (plan, error, retryable) = match t.plan(&req).await {
                Ok(p) => (Some(p), None, None),
                Err(e) => (None, Some(e.message().to_owned()), Some(e.is_retryable())),
            };
            out.push(PlannedTarget {
                target: t.name().to_owned(),
                kind: t.kind().to_owned(),
                plan,
                error,
                retryable,
            });
        }
        out
    }

    /// Announces on the event stream (a `target` notice) that a target started failing, or
    /// recovered: once per change of its outcome in this process, so a bulk of jobs failing
    /// on one target makes one notice, not one per job. A target's first outcome is announced
    /// only when it is a failure. Never fails the job: a notice that cannot be stored is
    /// logged, and tried again with the next outcome.
    pub(crate) async fn note_target_outcome(&self, target: &str, error: Option<&str>) {
        let failing = error.is_some();
        let changed = match self.failing.lock() {
            Ok(mut m) => m
                .insert(target.to_owned(), failing)
                .map_or(failing, |was| was != failing),
            Err(_) => false,
        };
        if !changed {
            return;
        }
        let notice = NewNotice {
            topic: NoticeTopic::Target,
            subject: target.to_owned(),
            state: if failing { "failing" } else { "recovered" }.to_owned(),
            note: error.map(str::to_owned),
        };
        let stored = async {
            let mut tx = self.store.begin().await?;
            tx.append_notice(&notice).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, target_name = target, "could not record a target notice");
            if let Ok(mut m) = self.failing.lock() {
                m.remove(target);
            }
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub(crate) fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    pub(crate) fn auth(&self) -> &cc_service::Auth {
        &self.auth
    }
}

/// The connectors' view of a stored link (only when there is an account).
pub(crate) fn link_for(links: &[TargetLinkRecord], target: &str) -> Option<TargetLink> {
    links.iter().find(|l| l.target == target).and_then(|l| {
        l.account_id.as_ref().map(|a| TargetLink {
            account_id: a.clone(),
            synced_at: l.synced_at,
        })
    })
}
