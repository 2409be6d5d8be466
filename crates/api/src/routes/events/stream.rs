//! One open event stream: catches up from the store, then follows the hub; ends when its
//! credentials stop being valid, at the access token's expiry, and at shutdown.

use std::collections::VecDeque;
use std::time::Duration;

use axum::response::sse::Event;
use cc_domain::{NoticeTopic, StreamEvent};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::hub::{Batch, BATCH};
use crate::auth::permissions::{self, Access};
use crate::limits::Slot;
use crate::AppState;

/// Why a stream ended (logged).
#[derive(Debug, Clone, Copy)]
enum End {
    Credentials,
    Expired,
    Shutdown,
}

/// What a stream was opened with.
pub(super) enum Credential {
    /// An access token or API token.
    Bearer(String),
    /// The console's session cookie: it ends with the console session (idle or absolute
    /// timeout, logout); following the stream is not activity.
    Console(String),
}

/// The state of one stream.
pub(super) struct Follower {
    pub app: AppState,
    pub rx: broadcast::Receiver<Batch>,
    /// The last event sent (or skipped).
    pub after: i64,
    /// Events up to here are read from the store rather than the hub.
    pub catch_up_to: i64,
    /// The caller's credential, re-checked every `recheck`.
    pub credential: Credential,
    pub principal: String,
    pub expires_at: Option<Instant>,
    pub next_check: Instant,
    pub pending: VecDeque<StreamEvent>,
    /// The stream's places under the per-principal and per-address caps.
    pub _slots: Vec<Slot>,
}

impl Follower {
    /// The next events to send, or `None` when the stream must end.
    pub(super) async fn next(&mut self) -> Option<Vec<Event>> {
        loop {
            if !self.pending.is_empty() {
                return Some(self.pending.drain(..).map(|e| render(&e)).collect());
            }
            if self.after < self.catch_up_to {
                self.catch_up().await;
                continue;
            }
            let wake = self
                .expires_at
                .map_or(self.next_check, |e| e.min(self.next_check));
            tokio::select! {
                () = self.app.shutdown.cancelled() => return self.end(End::Shutdown),
                () = tokio::time::sleep_until(wake) => {
                    if let Some(end) = self.check().await {
                        return self.end(end);
                    }
                }
                r = self.rx.recv() => match r {
                    Ok(batch) => self.take(&batch),
                    Err(RecvError::Lagged(_)) => self.catch_up_to = self.app.events.position(),
                    Err(RecvError::Closed) => return self.end(End::Shutdown),
                },
            }
        }
    }

    fn end(&self, why: End) -> Option<Vec<Event>> {
        tracing::info!(principal = %self.principal, reason = ?why, "event stream ended");
        None
    }

    /// Queues the batch's events this stream has not sent yet.
    fn take(&mut self, batch: &[StreamEvent]) {
        for e in batch {
            if e.seq() > self.after {
                self.after = e.seq();
                self.pending.push_back(e.clone());
            }
        }
    }

    /// Reads the next events up to `catch_up_to` from the store.
    async fn catch_up(&mut self) {
        match self.app.store.job_events_after(self.after, BATCH).await {
            Ok(events) => {
                let before = self.after;
                let upto = self.catch_up_to;
                let events: Vec<_> = events.into_iter().filter(|e| e.seq() <= upto).collect();
                self.take(&events);
                if self.after == before || events.len() < BATCH as usize {
                    // Nothing more below the hub's position (gaps there were skipped).
                    self.after = self.after.max(upto);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading job events failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Re-checks the credentials: `Some` when the stream must end.
    async fn check(&mut self) -> Option<End> {
        let now = Instant::now();
        if self.expires_at.is_some_and(|e| e <= now) {
            return Some(End::Expired);
        }
        if now < self.next_check {
            return None;
        }
        self.next_check = now + self.app.config.limits.stream_recheck;
        let principal = match &self.credential {
            Credential::Bearer(b) => self.app.auth.authenticate(b).await,
            Credential::Console(c) => self
                .app
                .auth
                .authenticate_console(c, self.app.store.auth_generation(), false)
                .await
                .map(|s| s.principal),
        };
        match principal {
            Ok(p) => {
                let allowed = match permissions::lookup(&axum::http::Method::GET, PATH) {
                    Some(Access::Role(r)) => p.role.allows(r),
                    _ => false,
                };
                (!allowed).then_some(End::Credentials)
            }
            Err(cc_service::AuthError::Service(e)) => {
                // The store is unreachable: no events flow either; try again next time.
                tracing::warn!(error = %e, "could not re-check an event stream's credentials");
                None
            }
            Err(_) => Some(End::Credentials),
        }
    }
}

/// The route, as in the permission table.
const PATH: &str = "/api/v1/events";

fn render(e: &StreamEvent) -> Event {
    let (name, data) = match e {
        StreamEvent::Job(j) => ("job", serde_json::to_string(j)),
        StreamEvent::Notice(n) => (
            match n.topic {
                NoticeTopic::Import => "import",
                NoticeTopic::Target => "target",
            },
            serde_json::to_string(n),
        ),
    };
    Event::default()
        .event(name)
        .id(e.seq().to_string())
        .data(data.unwrap_or_default())
}
