//! `/api/v1/events`: a server-sent-events stream of job state changes, and of notices about
//! other things an operator follows live (an import run's outcome, a lifecycle target failing
//! or recovering).
//!
//! The stream reads the event log (the `job_events` table), so every replica serves every change whoever made
//! it. Each event's `id` is its sequence number: a client that reconnects with
//! `Last-Event-ID` resumes right after the last event it saw. One poller per process reads
//! the table and fans out to every stream ([`hub`]); a stream ends when its credentials stop
//! being valid, at the access token's expiry and at shutdown ([`stream`]), and each principal
//! and address may hold only so many at once. The handler returns at once with a streaming
//! body, so the request timeout (which bounds producing the response head) does not cut the
//! stream.

pub mod hub;
mod stream;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Extension;
use futures::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::CommonErrors;
use crate::auth::client_addr::ClientAddr;
use crate::auth::middleware::{bearer, Authenticated};
use crate::auth::session_cookie;
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::ApiQuery;
use crate::limits::too_many_at_once;
use crate::AppState;
use stream::{Credential, Follower};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Resume after this sequence number (same as the `Last-Event-ID` header, which wins).
    pub after: Option<i64>,
}

/// One server-sent event of the stream: `event: job` with a `JobEvent` as JSON in `data`, or
/// `event: import` / `event: target` with a `Notice`; `id: <seq>` either way.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the wire format; events are rendered by `render`
pub struct JobEventMessage {
    /// `job`, `import` or `target`.
    #[schema(pattern = "^(job|import|target)$")]
    pub event: String,
    /// The event's sequence number (resume with `Last-Event-ID`).
    #[schema(pattern = "^[0-9]+$")]
    pub id: String,
    /// A `JobEvent` (`job`) or a `Notice` (`import`, `target`) as JSON.
    pub data: String,
}

/// Stream job state changes (`text/event-stream`).
///
/// Takes a bearer credential, or the web console's session cookie (the console's pages follow
/// this stream).
///
/// Each job event has `event: job`, `id: <seq>` and a JSON `JobEvent` as data. Notices share
/// the sequence: `event: import` (an import run applied, refused by a guard, or failed) and
/// `event: target` (a lifecycle target failing, or recovered) carry a JSON `Notice`. Without
/// `Last-Event-ID` (or `after`) the stream starts with the next change.
#[utoipa::path(get, path = "/events", tag = "jobs", params(EventParams,
        ("Last-Event-ID" = Option<String>, Header, pattern = "^[0-9]{1,18}$", description = "Resume after this event (its sequence number)")),
    responses((status = 200, description = "An endless stream of job events", body = JobEventMessage, content_type = "text/event-stream"),
        CommonErrors))]
pub async fn stream(
    State(app): State<AppState>,
    Authenticated(principal): Authenticated,
    addr: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<EventParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let from_header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|s| (1..=18).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ProblemType::InvalidLastEventId,
                        "Last-Event-ID must be an event sequence number",
                    )
                })
        })
        .transpose()?;
    let limits = &app.config.limits;
    let mut slots = Vec::new();
    let key = format!("principal:{}", principal.name);
    slots.push(
        app.stream_slots
            .try_take(&key, limits.streams_per_principal)
            .ok_or_else(|| {
                too_many_at_once(
                    ProblemType::TooManyStreams,
                    format!(
                        "This operator or token already has {} open event streams; close one first.",
                        limits.streams_per_principal
                    ),
                )
            })?,
    );
    if let Some(ip) = addr.and_then(|a| a.0 .0) {
        slots.push(
            app.stream_slots
                .try_take(&format!("addr:{ip}"), limits.streams_per_address)
                .ok_or_else(|| {
                    too_many_at_once(
                        ProblemType::TooManyStreams,
                        format!(
                            "This address already has {} open event streams; close one first.",
                            limits.streams_per_address
                        ),
                    )
                })?,
        );
    }
    let (rx, position) = app.events.subscribe().await?;
    let after = from_header.or(p.after).unwrap_or(position);
    let credential = match bearer(&headers) {
        Some(b) => Credential::Bearer(b.to_owned()),
        None => Credential::Console(
            session_cookie::read(&headers)
                .unwrap_or_default()
                .to_owned(),
        ),
    };
    let now = tokio::time::Instant::now();
    let follower = Follower {
        expires_at: match &credential {
            Credential::Bearer(b) => access_token_expiry(b).map(|secs| now + secs),
            Credential::Console(_) => None,
        },
        credential,
        principal: principal.name,
        rx,
        after,
        catch_up_to: position,
        next_check: now + limits.stream_recheck,
        pending: VecDeque::new(),
        _slots: slots,
        app,
    };
    let events = futures::stream::unfold(follower, |mut f| async move {
        let batch = f.next().await?;
        Some((futures::stream::iter(batch.into_iter().map(Ok)), f))
    });
    let events = futures::StreamExt::flatten(events);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Time left until an access token's `exp` (already verified by authentication). API tokens
/// (and anything unreadable) give `None`: their expiry is found by the periodic re-check.
fn access_token_expiry(bearer: &str) -> Option<Duration> {
    use base64::Engine as _;
    let payload = bearer.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let exp = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()?;
    let left = exp - chrono::Utc::now().timestamp();
    Some(Duration::from_secs(u64::try_from(left).unwrap_or(0)))
}
