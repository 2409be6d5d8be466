//! `/api/v1/events`: a server-sent-events stream of job state changes.
//!
//! The stream reads the `job_events` table, so every replica serves every change whoever made
//! it. Each event's `id` is its sequence number: a client that reconnects with
//! `Last-Event-ID` resumes right after the last event it saw. The handler returns at once
//! with a streaming body, so the request timeout (which bounds producing the response head)
//! does not cut the stream.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use cc_domain::JobEvent;
use cc_store::Store;
use futures::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use super::CommonErrors;
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::ApiQuery;
use crate::AppState;

/// How often the stream looks for new events.
const POLL: Duration = Duration::from_millis(200);
/// How long a gap in sequence numbers is waited for (a transaction that took a number may
/// still commit) before it is skipped (it rolled back).
const GAP_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Resume after this sequence number (same as the `Last-Event-ID` header, which wins).
    pub after: Option<i64>,
}

/// Stream job state changes (`text/event-stream`).
///
/// Each event has `event: job`, `id: <seq>` and a JSON `JobEvent` as data. Without
/// `Last-Event-ID` (or `after`) the stream starts with the next change.
#[utoipa::path(get, path = "/events", tag = "jobs", params(EventParams,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event")),
    responses((status = 200, description = "An endless stream of job events", body = JobEvent, content_type = "text/event-stream"),
        CommonErrors))]
pub async fn stream(
    State(app): State<AppState>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<EventParams>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let from_header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::new(
                        ProblemType::InvalidLastEventId,
                        "Last-Event-ID must be an event sequence number",
                    )
                })
        })
        .transpose()?;
    let after = match from_header.or(p.after) {
        Some(seq) => seq,
        None => app.store.last_job_event().await?,
    };
    let reader = Reader {
        store: app.store.clone(),
        after,
        gap_since: None,
    };
    let events = futures::stream::unfold(reader, |mut r| async move {
        let batch = r.next_batch().await;
        Some((futures::stream::iter(batch), r))
    });
    let events = futures::StreamExt::flatten(events);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Reader {
    store: Arc<dyn Store>,
    after: i64,
    gap_since: Option<Instant>,
}

impl Reader {
    /// Waits for the next events in sequence order and renders them.
    async fn next_batch(&mut self) -> Vec<Result<Event, Infallible>> {
        loop {
            match self.store.job_events_after(self.after, 500).await {
                Ok(events) => {
                    let ready = self.in_order(events);
                    if !ready.is_empty() {
                        return ready.iter().map(render).collect();
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading job events failed"),
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The events that can be sent now: those following `after` without a gap, or past a
    /// gap that has been open longer than [`GAP_WAIT`].
    fn in_order(&mut self, events: Vec<JobEvent>) -> Vec<JobEvent> {
        let mut out = Vec::new();
        for e in events {
            if e.seq != self.after + 1 {
                let since = *self.gap_since.get_or_insert_with(Instant::now);
                if since.elapsed() < GAP_WAIT {
                    break;
                }
            }
            self.gap_since = None;
            self.after = e.seq;
            out.push(e);
        }
        out
    }
}

fn render(e: &JobEvent) -> Result<Event, Infallible> {
    let data = serde_json::to_string(e).unwrap_or_default();
    Ok(Event::default()
        .event("job")
        .id(e.seq.to_string())
        .data(data))
}
