//! Noticing commits to the directory and sign-in tables on PostgreSQL, for caches.
//!
//! Migration 0006 puts a statement-level trigger on `users`, `groups`, `group_members`,
//! `operators`, `auth_sessions`, `api_tokens` and `signing_keys` that calls
//! `pg_notify('cc_changed', '')`; PostgreSQL delivers it once per committing transaction to
//! every listening server. One task per process listens (on a connection of its own) and
//! counts. While it is not listening — before the first `LISTEN`, after the connection
//! drops, until it is listening again — the generation is `None` and nothing is cached,
//! so a missed notification can never leave a stale entry behind.
//!
//! Migration 0022 makes the sign-in tables (`operators`, `auth_sessions`, `api_tokens`,
//! `signing_keys`) notify with the payload `auth`: those move the auth generation too, which
//! the cache of authenticated principals is keyed by, so directory and job commits (most
//! commits) leave that cache alone.
//!
//! Across replicas an entry can outlive a commit by the notification's delay (milliseconds);
//! this process's own writes are noted directly ([`Changes::note_local_change`]), so a
//! client that writes and then reads through the same server always sees its write.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;

pub const CHANNEL: &str = "cc_changed";
/// The payload of a commit to the sign-in tables (migration 0022).
const AUTH_PAYLOAD: &str = "auth";

pub(crate) struct Changes {
    generation: AtomicU64,
    auth: AtomicU64,
    listening: AtomicBool,
    started: Once,
}

impl Default for Changes {
    fn default() -> Self {
        Self {
            generation: AtomicU64::new(0),
            auth: AtomicU64::new(0),
            listening: AtomicBool::new(false),
            started: Once::new(),
        }
    }
}

impl Changes {
    /// The current generation, or `None` while not listening. The first call starts the
    /// listening task (it needs a Tokio runtime; without one, `None`).
    pub(crate) fn generation(self: &Arc<Self>, pool: &PgPool) -> Option<u64> {
        if !self.started.is_completed() {
            let handle = tokio::runtime::Handle::try_current().ok()?;
            self.started.call_once(|| {
                handle.spawn(listen(pool.clone(), Arc::clone(self)));
            });
        }
        // Read the generation before the flag: a connection lost in between raises both,
        // and a stale number only makes the caller miss.
        let generation = self.generation.load(Ordering::SeqCst);
        self.listening.load(Ordering::SeqCst).then_some(generation)
    }

    /// The generation of the sign-in tables, or `None` while not listening (as
    /// [`Self::generation`]).
    pub(crate) fn auth_generation(self: &Arc<Self>, pool: &PgPool) -> Option<u64> {
        self.generation(pool)?;
        let generation = self.auth.load(Ordering::SeqCst);
        self.listening.load(Ordering::SeqCst).then_some(generation)
    }

    pub(crate) fn note_local_change(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// This process committed to the sign-in tables (so its own next request need not wait
    /// for the notification).
    pub(crate) fn note_local_auth_change(&self) {
        self.auth.fetch_add(1, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    fn moved(&self, auth: bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if auth {
            self.auth.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn lost(&self) {
        self.listening.store(false, Ordering::SeqCst);
        self.moved(true);
    }
}

async fn listen(pool: PgPool, changes: Arc<Changes>) {
    let closed = pool.close_event();
    tokio::pin!(closed);
    let mut backoff = Duration::from_millis(100);
    loop {
        let run = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            // Whatever happened before this point is unknown: start new generations.
            changes.moved(true);
            changes.listening.store(true, Ordering::SeqCst);
            backoff = Duration::from_millis(100);
            loop {
                match listener.try_recv().await? {
                    Some(n) => changes.moved(n.payload() == AUTH_PAYLOAD),
                    // The connection was lost; notifications may have been missed.
                    None => return Ok::<(), sqlx::Error>(()),
                }
            }
        };
        tokio::select! {
            () = &mut closed => {
                changes.lost();
                return;
            }
            result = run => {
                changes.lost();
                match result {
                    Ok(()) => tracing::warn!("change notifications: connection lost; reconnecting"),
                    Err(e) => tracing::warn!(error = %e, "change notifications: not listening; retrying"),
                }
            }
        }
        tokio::select! {
            () = &mut closed => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
