//! Cloudflare jobs: `cloudflare.plan` (read-only; the plan is the result), `cloudflare.apply` (DNS records and WAF rules as declared),
//! `cloudflare.purge`, `cloudflare.certificates` (the monitoring cron job) and
//! `cloudflare.retry_validation`. Each finished job writes one audit event (never the token).
//!
//! Certificate warnings: `cloudflare.certificates` writes a
//! `cloudflare.certificate_expiring` audit event per threshold crossed and enqueues the
//! delivery the [`CertificateNotifier`] given to [`CloudflareJobs::with_notifier`] asks for —
//! where notification channels plug in. Which thresholds were warned about is recorded in the
//! database with the audit event and the delivery job (one transaction), so a restarted
//! worker, or a second one, does not warn again, and a crash cannot lose a recorded warning.
//!
//! [`TokenHealth`] keeps the last verification of the API token for readiness and `check`.

mod token;

pub use token::{TokenHealth, TOKEN_CHECK_INTERVAL};

use std::sync::Arc;

use async_trait::async_trait;
use cc_connectors::cloudflare::{
    ApplySummary, CertificateExpiring, CertificateInfo, CertificateNotifier, Cloudflare,
    CloudflarePlan, PurgeRequest,
};
use cc_connectors::TargetError;
use cc_domain::NewAuditEvent;
use cc_queue::{JobContext, JobError, JobHandler, Registry};
use cc_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The kinds, for enqueueing.
pub const PLAN_KIND: &str = "cloudflare.plan";
pub const APPLY_KIND: &str = "cloudflare.apply";
pub const PURGE_KIND: &str = "cloudflare.purge";
pub const CERTIFICATES_KIND: &str = "cloudflare.certificates";
pub const RETRY_VALIDATION_KIND: &str = "cloudflare.retry_validation";

/// Shared by the four handlers.
#[derive(Clone)]
pub struct CloudflareJobs {
    service: Arc<Cloudflare>,
    store: Arc<dyn Store>,
    notifier: Option<Arc<dyn CertificateNotifier>>,
}

impl CloudflareJobs {
    #[must_use]
    pub fn new(service: Arc<Cloudflare>, store: Arc<dyn Store>) -> Self {
        Self {
            service,
            store,
            notifier: None,
        }
    }

    /// Where certificate warnings go besides the audit log.
    #[must_use]
    pub fn with_notifier(mut self, notifier: Arc<dyn CertificateNotifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// The Cloudflare service these jobs use.
    #[must_use]
    pub fn service(&self) -> &Arc<Cloudflare> {
        &self.service
    }

    /// Adds the five kinds to a worker's registry.
    pub fn register(&self, r: &mut Registry) {
        r.register(PlanHandler(self.clone()));
        r.register(ApplyHandler(self.clone()));
        r.register(PurgeHandler(self.clone()));
        r.register(CertificatesHandler(self.clone()));
        r.register(RetryValidationHandler(self.clone()));
    }

    async fn audit(&self, ctx: &JobContext, action: &str, target_id: Option<String>, after: Value) {
        let event = NewAuditEvent {
            actor: format!("worker:{}", ctx.worker_id),
            action: action.to_owned(),
            target_type: "cloudflare".into(),
            target_id,
            request_id: None,
            before: None,
            after: Some(after),
        };
        let written = async {
            let mut tx = self.store.begin().await?;
            tx.append_audit(event).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, action, "could not audit a Cloudflare job");
        }
    }
}

/// A connector error as the job runner sees it: `Retry-After` kept.
#[must_use]
pub fn job_error(e: TargetError) -> JobError {
    match e {
        TargetError::Retryable {
            message,
            retry_after: Some(after),
        } => JobError::RetryableAfter { message, after },
        TargetError::Retryable { message, .. } => JobError::Retryable(message),
        TargetError::Permanent { message } => JobError::Permanent(message),
    }
}

/// `cloudflare.apply` arguments.
#[derive(Debug, Default, Deserialize)]
pub struct ApplyArgs {
    /// Past the delete guard.
    #[serde(default)]
    pub force: bool,
}

struct PlanHandler(CloudflareJobs);

#[async_trait]
impl JobHandler for PlanHandler {
    type Args = Value;
    type Output = CloudflarePlan;

    fn kind(&self) -> &str {
        PLAN_KIND
    }

    async fn run(&self, _ctx: JobContext, _args: Value) -> Result<CloudflarePlan, JobError> {
        self.0.service.plan().await.map_err(job_error)
    }
}

struct ApplyHandler(CloudflareJobs);

#[async_trait]
impl JobHandler for ApplyHandler {
    type Args = ApplyArgs;
    type Output = ApplySummary;

    fn kind(&self) -> &str {
        APPLY_KIND
    }

    async fn run(&self, ctx: JobContext, args: ApplyArgs) -> Result<ApplySummary, JobError> {
        let result = async {
            let plan = self.0.service.plan().await?;
            self.0.service.apply(&plan, args.force).await
        }
        .await;
        let after = match &result {
            Ok(s) => {
                json!({ "job_id": ctx.job_id, "force": args.force, "dns_changes": s.dns_changes, "waf_changes": s.waf_changes })
            }
            Err(e) => json!({ "job_id": ctx.job_id, "force": args.force, "error": e.message() }),
        };
        self.0.audit(&ctx, APPLY_KIND, None, after).await;
        result.map_err(job_error)
    }
}

/// `cloudflare.purge` arguments.
#[derive(Debug, Deserialize)]
pub struct PurgeArgs {
    pub zone: String,
    pub request: PurgeRequest,
}

struct PurgeHandler(CloudflareJobs);

#[async_trait]
impl JobHandler for PurgeHandler {
    type Args = PurgeArgs;
    type Output = Value;

    fn kind(&self) -> &str {
        PURGE_KIND
    }

    async fn run(&self, ctx: JobContext, args: PurgeArgs) -> Result<Value, JobError> {
        let result = self.0.service.purge(&args.zone, &args.request).await;
        let (kind, items) = match &args.request {
            PurgeRequest::Everything => ("everything", 0),
            PurgeRequest::Urls(u) => ("urls", u.len()),
            PurgeRequest::Hosts(h) => ("hosts", h.len()),
            PurgeRequest::Prefixes(p) => ("prefixes", p.len()),
        };
        let after = match &result {
            Ok(n) => json!({ "job_id": ctx.job_id, "kind": kind, "items": items, "requests": n }),
            Err(e) => {
                json!({ "job_id": ctx.job_id, "kind": kind, "items": items, "error": e.message() })
            }
        };
        self.0
            .audit(&ctx, PURGE_KIND, Some(args.zone.clone()), after)
            .await;
        let requests = result.map_err(job_error)?;
        Ok(json!({ "zone": args.zone, "kind": kind, "items": items, "requests": requests }))
    }
}

/// What the certificate job reports.
#[derive(Debug, Serialize)]
pub struct CertificatesOutput {
    pub certificates: Vec<CertificateInfo>,
    pub warnings: Vec<CertificateExpiring>,
}

struct CertificatesHandler(CloudflareJobs);

#[async_trait]
impl JobHandler for CertificatesHandler {
    type Args = Value;
    type Output = CertificatesOutput;

    fn kind(&self) -> &str {
        CERTIFICATES_KIND
    }

    async fn run(&self, ctx: JobContext, _args: Value) -> Result<CertificatesOutput, JobError> {
        let service = &self.0.service;
        let certificates = service.certificates().await.map_err(job_error)?;
        let crossings = cc_connectors::cloudflare::certs::crossings(
            &certificates,
            &service.config().certificate_warning_days,
            chrono::Utc::now(),
        );
        let mut warnings = Vec::new();
        for w in crossings {
            if self.0.claim_warning(&ctx, &w).await? {
                warnings.push(w);
            }
        }
        Ok(CertificatesOutput {
            certificates,
            warnings,
        })
    }
}

impl CloudflareJobs {
    /// Records a threshold crossing, its audit event and the notifier's delivery job in one
    /// transaction, unless it was warned about before: `true` when it is new.
    async fn claim_warning(
        &self,
        ctx: &JobContext,
        w: &CertificateExpiring,
    ) -> Result<bool, JobError> {
        let key = cc_store::certificates::CertificateWarning {
            zone: w.zone.clone(),
            host: w.host.clone(),
            pack_id: w.pack_id.clone(),
            expires_on: w.expires_on,
            threshold_days: w.threshold_days,
        };
        let delivery = self
            .notifier
            .as_ref()
            .and_then(|n| n.certificate_expiring(w));
        let claimed = async {
            let mut tx = self.store.begin().await?;
            if !tx.claim_certificate_warning(&key).await? {
                return Ok(false);
            }
            tx.append_audit(NewAuditEvent {
                actor: format!("worker:{}", ctx.worker_id),
                action: "cloudflare.certificate_expiring".into(),
                target_type: "cloudflare".into(),
                target_id: Some(w.host.clone()),
                request_id: None,
                before: None,
                after: Some(serde_json::to_value(w).unwrap_or(Value::Null)),
            })
            .await?;
            if let Some(job) = &delivery {
                tx.enqueue(job).await?;
            }
            tx.commit().await?;
            Ok::<_, cc_store::StoreError>(true)
        }
        .await;
        claimed.map_err(|e| {
            tracing::warn!(error = %e, host = %w.host, "could not record a certificate warning");
            JobError::Retryable("could not record a certificate warning (database error)".into())
        })
    }
}

/// `cloudflare.retry_validation` arguments.
#[derive(Debug, Deserialize)]
pub struct RetryValidationArgs {
    pub zone: String,
    pub pack_id: String,
}

struct RetryValidationHandler(CloudflareJobs);

#[async_trait]
impl JobHandler for RetryValidationHandler {
    type Args = RetryValidationArgs;
    type Output = ();

    fn kind(&self) -> &str {
        RETRY_VALIDATION_KIND
    }

    async fn run(&self, ctx: JobContext, args: RetryValidationArgs) -> Result<(), JobError> {
        let result = self
            .0
            .service
            .retry_validation(&args.zone, &args.pack_id)
            .await;
        let after = match &result {
            Ok(()) => json!({ "job_id": ctx.job_id, "pack_id": args.pack_id }),
            Err(e) => {
                json!({ "job_id": ctx.job_id, "pack_id": args.pack_id, "error": e.message() })
            }
        };
        self.0
            .audit(&ctx, RETRY_VALIDATION_KIND, Some(args.zone.clone()), after)
            .await;
        result.map_err(job_error)
    }
}
