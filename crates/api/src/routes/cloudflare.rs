//! `/api/v1/cloudflare`: Cloudflare automation as jobs. Every route enqueues one job (and
//! its audit event, in one transaction) and answers 202 with it; follow it at
//! `GET /api/v1/jobs/{id}`. The job's `result` holds the plan, the changes made, the purge
//! requests sent or the certificates read.

use axum::extract::State;
use axum::http::{header, HeaderName, StatusCode};
use axum::Json;
use cc_connectors::cloudflare::PurgeRequest;
use cc_domain::{Job, NewJob, ValidationErrors};
use cc_lifecycle::cloudflare::{
    APPLY_KIND, CERTIFICATES_KIND, PLAN_KIND, PURGE_KIND, RETRY_VALIDATION_KIND,
};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{BodyErrors, CommonErrors};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, CurrentActor};
use crate::AppState;

type Accepted = (StatusCode, [(HeaderName, String); 1], Json<Job>);

/// `POST /cloudflare/apply`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Apply even when the delete guard would refuse.
    #[serde(default)]
    pub force: bool,
}

/// What to purge.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurgeKind {
    Everything,
    Urls,
    Hosts,
    Prefixes,
}

/// `POST /cloudflare/purge`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurgeBody {
    /// A configured zone name.
    pub zone: String,
    pub kind: PurgeKind,
    /// URLs (`https://…`), host names, or prefixes (`host/path`); none for `everything`.
    #[serde(default)]
    pub items: Vec<String>,
}

/// `POST /cloudflare/certificates/retry-validation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryValidationBody {
    pub zone: String,
    /// The certificate pack (from the certificates job's result).
    pub pack_id: String,
}

fn zones(app: &AppState) -> Result<&[String], ApiError> {
    app.config
        .cloudflare_zones
        .as_deref()
        .ok_or_else(|| ApiError::not_found("Cloudflare automation is not configured."))
}

fn known_zone(app: &AppState, zone: &str) -> Result<(), ApiError> {
    if zones(app)?.iter().any(|z| z == zone) {
        Ok(())
    } else {
        Err(ApiError::validation(ValidationErrors::single(
            "zone",
            "not a configured Cloudflare zone",
        )))
    }
}

async fn enqueue(
    app: &AppState,
    actor: &cc_domain::Actor,
    kind: &str,
    args: Value,
    target: Option<String>,
) -> ApiResult<Accepted> {
    let mut job = NewJob::new(kind, args.clone());
    job.created_by = Some(actor.name.clone());
    job.request_id.clone_from(&actor.request_id);
    let job = cc_queue::ops::enqueue_audited(app.store.as_ref(), actor, &job, "cloudflare", target)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/jobs/{}", job.id))],
        Json(job),
    ))
}

/// Plan DNS records and WAF rules (read-only), as a job: its `result` is the plan.
#[utoipa::path(post, path = "/cloudflare/plan", tag = "cloudflare",
    responses((status = 202, description = "The job, queued", body = Job), (status = 404, description = "Cloudflare automation is not configured", body = crate::error::Problem, content_type = "application/problem+json"), CommonErrors))]
pub async fn plan(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> ApiResult<Accepted> {
    zones(&app)?;
    enqueue(&app, &actor, PLAN_KIND, json!({}), None).await
}

/// Apply the declared DNS records and WAF rules, as a job (planned afresh when it runs).
#[utoipa::path(post, path = "/cloudflare/apply", tag = "cloudflare", request_body = ApplyRequest,
    responses((status = 202, description = "The job, queued", body = Job), (status = 404, description = "Cloudflare automation is not configured", body = crate::error::Problem, content_type = "application/problem+json"), BodyErrors, CommonErrors))]
pub async fn apply(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(body): ApiJson<ApplyRequest>,
) -> ApiResult<Accepted> {
    zones(&app)?;
    enqueue(
        &app,
        &actor,
        APPLY_KIND,
        json!({ "force": body.force }),
        None,
    )
    .await
}

/// Purge a zone's cache, as an audited job split by Cloudflare's per-request limit.
#[utoipa::path(post, path = "/cloudflare/purge", tag = "cloudflare", request_body = PurgeBody,
    responses((status = 202, description = "The job, queued", body = Job), (status = 404, description = "Cloudflare automation is not configured", body = crate::error::Problem, content_type = "application/problem+json"), BodyErrors, CommonErrors))]
pub async fn purge(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(body): ApiJson<PurgeBody>,
) -> ApiResult<Accepted> {
    known_zone(&app, &body.zone)?;
    let request = match body.kind {
        PurgeKind::Everything if body.items.is_empty() => PurgeRequest::Everything,
        PurgeKind::Everything => {
            return Err(ApiError::validation(ValidationErrors::single(
                "items",
                "must be empty when purging everything",
            )))
        }
        PurgeKind::Urls => PurgeRequest::Urls(body.items),
        PurgeKind::Hosts => PurgeRequest::Hosts(body.items),
        PurgeKind::Prefixes => PurgeRequest::Prefixes(body.items),
    };
    request
        .validate()
        .map_err(|m| ApiError::validation(ValidationErrors::single("items", m)))?;
    let args = json!({ "zone": body.zone, "request": request });
    enqueue(&app, &actor, PURGE_KIND, args, Some(body.zone)).await
}

/// Read every zone's certificates now (the same job the worker runs on its schedule).
#[utoipa::path(post, path = "/cloudflare/certificates/check", tag = "cloudflare",
    responses((status = 202, description = "The job, queued", body = Job), (status = 404, description = "Cloudflare automation is not configured", body = crate::error::Problem, content_type = "application/problem+json"), CommonErrors))]
pub async fn check_certificates(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> ApiResult<Accepted> {
    zones(&app)?;
    enqueue(&app, &actor, CERTIFICATES_KIND, json!({}), None).await
}

/// Ask Cloudflare to validate a certificate pack again, as a job.
#[utoipa::path(post, path = "/cloudflare/certificates/retry-validation", tag = "cloudflare",
    request_body = RetryValidationBody,
    responses((status = 202, description = "The job, queued", body = Job), (status = 404, description = "Cloudflare automation is not configured", body = crate::error::Problem, content_type = "application/problem+json"), BodyErrors, CommonErrors))]
pub async fn retry_validation(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(body): ApiJson<RetryValidationBody>,
) -> ApiResult<Accepted> {
    known_zone(&app, &body.zone)?;
    let ok = !body.pack_id.is_empty()
        && body.pack_id.len() <= 64
        && body
            .pack_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(ApiError::validation(ValidationErrors::single(
            "pack_id",
            "must be a certificate pack id",
        )));
    }
    let args = json!({ "zone": body.zone, "pack_id": body.pack_id });
    enqueue(&app, &actor, RETRY_VALIDATION_KIND, args, Some(body.zone)).await
}
