//! `/api/v1/notifications`: a test message to one channel, the channels checked without
//! sending, and the deliveries log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use cc_domain::{Actor, DeliveryState, EventKind, NewAuditEvent, NotificationDelivery, Page};
use cc_store::DeliveryQuery;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{BodyErrors, CommonErrors};
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::{ApiJson, ApiQuery, CurrentActor};
use crate::AppState;

/// `POST /notifications/test`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// A configured channel's name.
    pub channel: String,
}

/// A test message queued.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestQueued {
    /// Follow it in `GET /notifications/deliveries`.
    pub delivery_id: i64,
    pub channel: String,
}

/// One channel checked without sending.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelCheck {
    pub channel: String,
    /// `slack`, `email` or `webhook`.
    pub kind: String,
    /// `ok` or `failed`.
    pub status: String,
    /// What was checked, or why it failed (never a secret).
    pub detail: String,
}

/// Longest channel name accepted (configuration allows 64).
const MAX_CHANNEL: usize = 64;

/// Queue a test message to one channel, past its event and severity filters and dedupe.
/// Answers with the delivery's id; the message is sent by a worker like any other.
#[utoipa::path(post, path = "/notifications/test", tag = "notifications", request_body = TestRequest,
    responses((status = 202, description = "The test message, queued", body = TestQueued),
        (status = 404, description = "No channel with that name is configured", body = crate::error::Problem, content_type = "application/problem+json"),
        BodyErrors, CommonErrors))]
pub async fn test(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiJson(body): ApiJson<TestRequest>,
) -> ApiResult<(StatusCode, Json<TestQueued>)> {
    let queued = queue_test(&app, &actor, &body.channel).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

/// Queues a test message to `channel` and audits it (`notification.test`): the one path for
/// `POST /notifications/test` and the console's Notifications page.
///
/// # Errors
/// No channel has that name (404), or the store failed.
pub async fn queue_test(app: &AppState, actor: &Actor, channel: &str) -> ApiResult<TestQueued> {
    let unknown = || ApiError::not_found("No notification channel with that name is configured.");
    if channel.len() > MAX_CHANNEL || !app.notifier.channels().iter().any(|(n, _)| n == channel) {
        return Err(unknown());
    }
    let id = app
        .notifier
        .send_test(channel, &actor.name)
        .await
        .map_err(|e| match e {
            cc_notify::TestError::UnknownChannel(_) => unknown(),
            cc_notify::TestError::Store(e) => e.into(),
        })?;
    let mut tx = app.store.begin().await?;
    tx.append_audit(NewAuditEvent {
        actor: actor.name.clone(),
        action: "notification.test".into(),
        target_type: "notification_channel".into(),
        target_id: Some(channel.to_owned()),
        request_id: actor.request_id.clone(),
        before: None,
        after: Some(serde_json::json!({ "delivery_id": id })),
    })
    .await?;
    tx.commit().await?;
    Ok(TestQueued {
        delivery_id: id,
        channel: channel.to_owned(),
    })
}

/// Check every channel without sending a message: an email channel connects, says EHLO,
/// upgrades to TLS and logs in as configured; a webhook's URL is checked (`command-center
/// check` shows the result).
#[utoipa::path(post, path = "/notifications/channels/check", tag = "notifications",
    responses((status = 200, description = "Each channel's check, in configuration order", body = Vec<ChannelCheck>), CommonErrors))]
pub async fn check_channels(State(app): State<AppState>) -> Json<Vec<ChannelCheck>> {
    Json(check_all(&app).await)
}

/// Every channel checked without sending, in configuration order: the one path for
/// `POST /notifications/channels/check` and the console's Notifications page.
pub async fn check_all(app: &AppState) -> Vec<ChannelCheck> {
    app.notifier
        .check()
        .await
        .into_iter()
        .map(|(channel, kind, r)| {
            let (status, detail) = match r {
                Ok(d) => ("ok", d),
                Err(d) => ("failed", d),
            };
            ChannelCheck {
                channel,
                kind: kind.to_owned(),
                status: status.to_owned(),
                detail,
            }
        })
        .collect()
}

/// Filters and paging for `GET /api/v1/notifications/deliveries` (newest first).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Only this channel's deliveries.
    pub channel: Option<String>,
    /// Only deliveries that ended (or stand) so.
    pub outcome: Option<DeliveryState>,
    /// Only this event kind: `job.discarded`, `target.failing`, `target.recovered`,
    /// `import.applied`, `import.refused`, `import.failed`, `device.noncompliant`,
    /// `audit.verification_failed`, `operator.locked_out`, `certificate.expiring`,
    /// `backup.stale` or `test`.
    #[param(inline, value_type = Option<EventKind>)]
    pub event: Option<String>,
}

const CURSOR_KIND: &str = "notification_delivery";

/// The deliveries log, newest first: each event for each channel and what became of it.
#[utoipa::path(get, path = "/notifications/deliveries", tag = "notifications", params(DeliveryListParams),
    responses((status = 200, description = "One page of deliveries", body = Page<NotificationDelivery>), CommonErrors))]
pub async fn deliveries(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<DeliveryListParams>,
) -> ApiResult<Json<Page<NotificationDelivery>>> {
    Ok(Json(list_deliveries(&app, p).await?))
}

/// One page of the deliveries log, newest first: the one read for
/// `GET /notifications/deliveries` and the console's Notifications page (whose paging links
/// carry the same cursors).
///
/// # Errors
/// A bad limit, cursor or event kind (400), or the store failed.
pub async fn list_deliveries(
    app: &AppState,
    p: DeliveryListParams,
) -> ApiResult<Page<NotificationDelivery>> {
    let (limit, before_id) = super::id_paging(p.limit, p.cursor.as_deref(), CURSOR_KIND)?;
    if let Some(e) = p.event.as_deref() {
        if EventKind::parse(e).is_none() {
            return Err(ApiError::new(
                ProblemType::InvalidQuery,
                format!("event must be a notification event kind, e.g. job.discarded (got {e:?})"),
            ));
        }
    }
    // One more than asked tells whether another page follows.
    let mut items = app
        .store
        .notifications()
        .list_deliveries(&DeliveryQuery {
            channel: p.channel,
            state: p.outcome,
            event: p.event,
            before_id,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|d| super::id_cursor(CURSOR_KIND, d.id))
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}
