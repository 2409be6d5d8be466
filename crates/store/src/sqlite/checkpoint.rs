//! WAL checkpoints off the commit path.
//!
//! SQLite's automatic checkpoint runs inside the `COMMIT` that takes the WAL past 1,000 pages,
//! on the committing connection: it copies the WAL into the database file and `fsync`s both
//! before that `COMMIT` returns. The store writes through one connection, so every other write
//! of the process (heartbeats included) waited behind the copy: after a 200,000-person roster
//! apply, whose WAL holds the whole apply, the apply's `COMMIT` took 0.8–1.1 s with the copy
//! and 0.3 s without it (docs/performance.md).
//!
//! The store's write connections therefore run with `wal_autocheckpoint = 0` and a
//! `journal_size_limit`, and this thread checkpoints in their place, on a connection of its
//! own. A `PASSIVE` checkpoint takes no lock a writer needs: writers go on appending to the WAL
//! while it copies what was committed before it started. It runs at most once per [`INTERVAL`],
//! and only when something committed since the last complete one: `PRAGMA data_version` on its
//! connection changes with every other connection's commit, in this process or another
//! (a separate `worker`, an `import` from the CLI). A checkpoint that could not copy everything
//! (a reader still held an older snapshot) is tried again at the next tick.
//!
//! Durability: with `synchronous = NORMAL` a commit is not `fsync`ed by itself; it survives a
//! crash of the process at once, and a power loss once a checkpoint has synced the WAL — now
//! within about a second of the commit, where before it waited for 1,000 pages of WAL.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// How often, at most, the thread checkpoints. Under a steady stream of writes the WAL grows
/// by what one second of writes produced before it is copied back; the automatic checkpoint
/// copied every 1,000 pages, several times a second under the same stream.
pub(crate) const INTERVAL: Duration = Duration::from_secs(1);

/// The WAL file is cut back to this size when a writer starts it over after a complete
/// checkpoint: without a limit it keeps the size of the largest transaction ever written
/// (a roster apply of a million people: gigabytes) for as long as the database is open.
pub(crate) const JOURNAL_SIZE_LIMIT: &str = "67108864";

/// The running checkpoint thread. [`Checkpointer::stop`] (the store's `close`) ends it and waits
/// for it to close its connection; dropping the last handle (with the last clone of the store)
/// ends it without waiting.
pub(crate) struct Checkpointer {
    stop: std::sync::Mutex<Option<Sender<()>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    /// Starts the thread for the database file at `path`.
    ///
    /// # Errors
    /// The thread could not be started. The store must not open without it: its write
    /// connections never checkpoint, so the WAL would grow without end.
    pub(crate) fn start(path: PathBuf) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&path, &stopped))?;
        Ok(Self {
            stop: std::sync::Mutex::new(Some(stop)),
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// Ends the thread and waits until it has closed its connection. Called after the store's
    /// pools are closed (the file's last connection to close runs SQLite's final checkpoint),
    /// so that nothing of a closed store writes to the file afterwards.
    pub(crate) async fn stop(&self) {
        drop(self.stop.lock().ok().and_then(|mut s| s.take()));
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread {
            // The thread wakes at once when its channel closes; a checkpoint in progress ends first.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn run(path: &Path, stopped: &Receiver<()>) {
    let mut conn: Option<Connection> = None;
    // The `data_version` at the last complete checkpoint.
    let mut checkpointed_at: Option<i64> = None;
    let mut warned = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
        if conn.is_none() {
            match open(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    if !warned {
                        tracing::warn!(error = %e, path = %path.display(),
                            "cannot open the database for WAL checkpoints; retrying every second");
                        warned = true;
                    }
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        let Some(version) = super::changes::data_version(c) else {
            conn = None;
            continue;
        };
        if checkpointed_at == Some(version) {
            continue;
        }
        match c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        }) {
            // Every frame of the WAL is in the database file (`-1, -1`: not in WAL mode).
            Ok((log, copied)) if copied >= log => {
                checkpointed_at = Some(version);
                warned = false;
            }
            // Some frames are newer than a reader's snapshot: again at the next tick.
            Ok(_) => {}
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, path = %path.display(), "WAL checkpoint failed; retrying");
                    warned = true;
                }
                conn = None;
            }
        }
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // This connection never writes rows; the setting only keeps it from checkpointing
    // anywhere but here. A PASSIVE checkpoint never waits for a lock, so no busy timeout.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}
