//! `/api/v1/audit`

use axum::extract::State;
use axum::Json;
use cc_domain::{AuditEvent, AuditQuery, Cursor, Page};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::CommonErrors;
use crate::auth::middleware::Authenticated;
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::ApiQuery;
use crate::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
    /// e.g. `operator:admin`.
    pub actor: Option<String>,
    /// An exact action (`user.update`) or a prefix ending in `.` (`user.`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    /// RFC 3339; events at or after.
    pub since: Option<DateTime<Utc>>,
    /// RFC 3339; events before.
    pub until: Option<DateTime<Utc>>,
}

/// List audit events, newest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(AuditListParams),
    responses((status = 200, description = "One page of events", body = Page<AuditEvent>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<AuditListParams>,
) -> ApiResult<Json<Page<AuditEvent>>> {
    let limit = cc_domain::page::parse_limit(p.limit)
        .map_err(|m| ApiError::new(ProblemType::InvalidQuery, m))?;
    let before_seq = p
        .cursor
        .as_deref()
        .map(|c| {
            Cursor::decode(c, "seq")
                .ok()
                .and_then(|c| c.v.parse::<i64>().ok())
        })
        .map(|v| v.ok_or_else(|| ApiError::new(ProblemType::InvalidCursor, "cursor is not valid")))
        .transpose()?;
    let q = AuditQuery {
        actor: p.actor,
        action: p.action,
        target_type: p.target_type,
        target_id: p.target_id,
        request_id: p.request_id,
        since: p.since,
        until: p.until,
        limit: limit + 1,
        before_seq,
    };
    let mut items = app.store.list_audit(&q).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            items.last().map(|e| {
                Cursor {
                    s: "seq".into(),
                    v: e.seq.to_string(),
                    id: uuid::Uuid::nil(),
                }
                .encode()
            })
        })
        .flatten();
    Ok(Json(Page { items, next_cursor }))
}

/// The result of verifying the audit hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyResult {
    /// True when every event matches its hash and links to its predecessor.
    pub intact: bool,
    pub checked: u64,
    pub head_seq: i64,
    /// The first event where the chain breaks.
    pub first_break: Option<BreakInfo>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BreakInfo {
    pub seq: i64,
    /// `tampered`, `missing`, `relinked` or `truncated`.
    pub kind: String,
    pub detail: String,
}

/// Verify the audit hash chain.
#[utoipa::path(get, path = "/audit/verify", tag = "audit",
    responses((status = 200, description = "Verification result", body = VerifyResult), CommonErrors))]
pub async fn verify(
    State(app): State<AppState>,
    Authenticated(principal): Authenticated,
) -> ApiResult<Json<VerifyResult>> {
    let _slot = crate::limits::expensive(&app, &principal)?;
    let r = app.audit_verifier.verify().await?;
    Ok(Json(VerifyResult {
        intact: r.first_break.is_none(),
        checked: r.checked,
        head_seq: r.head_seq,
        first_break: r.first_break.map(|b| BreakInfo {
            seq: b.seq,
            kind: b.kind.to_owned(),
            detail: b.detail,
        }),
    }))
}
