//! Progress of a long import, shared between the work and whoever shows it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Phase and counters; cheap to update from any thread.
#[derive(Debug, Default)]
pub struct Progress {
    phase: Mutex<&'static str>,
    rows: AtomicU64,
    written: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    pub fn phase(&self, p: &'static str) {
        if let Ok(mut g) = self.phase.lock() {
            *g = p;
        }
    }

    pub fn add_rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets how many changes an apply writes.
    pub fn set_total(&self, n: u64) {
        self.total.store(n, Ordering::Relaxed);
    }

    pub fn add_written(&self, n: u64) {
        self.written.fetch_add(n, Ordering::Relaxed);
    }

    /// `(phase, rows read, changes written, changes to write)`.
    #[must_use]
    pub fn get(&self) -> (&'static str, u64, u64, u64) {
        let phase = self.phase.lock().map(|g| *g).unwrap_or("");
        (
            phase,
            self.rows.load(Ordering::Relaxed),
            self.written.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }

    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        let (phase, rows, written, total) = self.get();
        serde_json::json!({"phase": phase, "rows_read": rows, "changes_written": written, "changes_total": total})
    }
}
