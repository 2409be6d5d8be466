//! Noticing commits to a SQLite file, for caches of directory reads.
//!
//! `PRAGMA data_version` on a connection changes whenever any *other* connection — in this
//! process or another one (a separate `command-center worker`, an `import` from the CLI) —
//! has committed to the file since the last time that connection asked. Asking is a local
//! check on a dedicated `rusqlite` connection (a file lock taken and released, no query
//! plan), cheap enough to do once per request, so a cache can stay exact. It is coarse: any commit counts, including the job queue's, so caches
//! are emptied more often than strictly needed while jobs run; never less often.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

pub(crate) struct Changes {
    path: PathBuf,
    /// The probing connection and the `data_version` it last reported.
    probe: Mutex<Option<(Connection, i64)>>,
    generation: AtomicU64,
}

impl Changes {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            probe: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    /// The current generation, or `None` when the file cannot be probed (then nothing may be
    /// cached).
    pub(crate) fn generation(&self) -> Option<u64> {
        let mut probe = self.probe.lock().ok()?;
        if probe.is_none() {
            let conn = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .ok()?;
            let version = data_version(&conn)?;
            *probe = Some((conn, version));
            // A new probe knows nothing of what happened before it: start a new generation.
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        let (conn, seen) = probe.as_mut()?;
        let Some(version) = data_version(conn) else {
            *probe = None;
            self.generation.fetch_add(1, Ordering::SeqCst);
            return None;
        };
        if version != *seen {
            *seen = version;
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        Some(self.generation.load(Ordering::SeqCst))
    }

    pub(crate) fn note_local_change(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// `PRAGMA data_version` of `conn`, or `None` when the connection cannot answer.
pub(super) fn data_version(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("PRAGMA data_version")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ok()
}
