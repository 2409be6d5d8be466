//! Noticing commits to a SQLite file, for caches of directory reads.
//!
//! `PRAGMA data_version` on a connection changes whenever any *other* connection — in this
//! process or another one (a separate `command-center worker`, an `import` from the CLI) —
//! has committed to the file since the last time that connection asked. Asking is a local
//! check on a dedicated `rusqlite` connection (a file lock taken and released, no query
//! plan), cheap enough to do once per request, so a cache can stay exact. It is coarse: any commit counts, including the job queue's, so caches
//! are emptied more often than strictly needed while jobs run; never less often.
//!
//! The sign-in tables keep a generation of their own: when `data_version` moved, the probe
//! also reads `auth_changes.n` (migration 0022: triggers on operators, sessions, API tokens
//! and signing keys count every row they change), and the auth generation moves only when
//! that count did. The cache of authenticated principals is keyed by it, so a stream of
//! directory and job commits no longer sends every request's token back to the database.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags};

pub(crate) struct Changes {
    path: PathBuf,
    /// The probing connection and what it last reported.
    probe: Mutex<Option<Probe>>,
    generation: AtomicU64,
    auth: AtomicU64,
}

struct Probe {
    conn: Connection,
    /// `PRAGMA data_version` as last read.
    version: i64,
    /// `auth_changes.n` as last read (`None`: could not be read, e.g. before migration 0022).
    auth: Option<i64>,
}

impl Changes {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            probe: Mutex::new(None),
            generation: AtomicU64::new(0),
            auth: AtomicU64::new(0),
        }
    }

    /// The current generation, or `None` when the file cannot be probed (then nothing may be
    /// cached).
    pub(crate) fn generation(&self) -> Option<u64> {
        self.probe()?;
        Some(self.generation.load(Ordering::SeqCst))
    }

    /// The generation of the sign-in tables, or `None` when the file cannot be probed. It
    /// moves whenever [`Self::generation`] would for a commit to those tables (and may move
    /// more often, never less).
    pub(crate) fn auth_generation(&self) -> Option<u64> {
        self.probe()?;
        Some(self.auth.load(Ordering::SeqCst))
    }

    /// Both generations from one probe: `(change, auth)`.
    pub(crate) fn generations(&self) -> Option<(u64, u64)> {
        self.probe()?;
        Some((
            self.generation.load(Ordering::SeqCst),
            self.auth.load(Ordering::SeqCst),
        ))
    }

    /// Asks the file whether anything was committed since the last time, and moves the
    /// generations accordingly; `None` when it cannot be asked.
    fn probe(&self) -> Option<()> {
        let mut probe = self.probe.lock().ok()?;
        if probe.is_none() {
            let conn = Connection::open_with_flags(
                &self.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .ok()?;
            let version = data_version(&conn)?;
            let auth = auth_count(&conn);
            *probe = Some(Probe {
                conn,
                version,
                auth,
            });
            // A new probe knows nothing of what happened before it: start new generations.
            self.moved(true);
        }
        let p = probe.as_mut()?;
        let Some(version) = data_version(&p.conn) else {
            *probe = None;
            self.moved(true);
            return None;
        };
        if version != p.version {
            p.version = version;
            // Read after `data_version`: a commit in between is counted now or seen as a
            // new `data_version` next time, never missed.
            let auth = auth_count(&p.conn);
            let auth_moved = auth.is_none() || auth != p.auth;
            p.auth = auth;
            self.moved(auth_moved);
        }
        Some(())
    }

    fn moved(&self, auth: bool) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        if auth {
            self.auth.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A commit of this process. Only the directory's generation moves: a commit to the
    /// sign-in tables is seen by the probe (`auth_changes`) before the next request reads.
    pub(crate) fn note_local_change(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }
}

/// `auth_changes.n`, or `None` when it cannot be read.
fn auth_count(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("SELECT n FROM auth_changes WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ok()
}

/// `PRAGMA data_version` of `conn`, or `None` when the connection cannot answer.
pub(super) fn data_version(conn: &Connection) -> Option<i64> {
    conn.prepare_cached("PRAGMA data_version")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ok()
}
