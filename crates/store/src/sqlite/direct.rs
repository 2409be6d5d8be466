//! Reads answered on a blocking thread with `rusqlite`, for the hottest read paths.
//!
//! sqlx's SQLite driver runs each connection on a thread of its own: a statement is a command
//! sent to that thread, each row comes back through a channel, and the connection is pinged as
//! it goes back to the pool — several hand-offs between threads per request, which on a busy
//! two-core machine cost more than SQLite itself (see `docs/performance.md`, paging under
//! writes). Here a read is one hand-off: the whole statement runs on a Tokio blocking thread,
//! on a read-only connection of this small pool, and its rows come back as one vector.
//!
//! The connections are read-only and opened on first use; at most `max` are in use at once
//! (the read pool's size), and a caller waits for one no longer than the pool's acquire
//! timeout. One left idle for [`IDLE_TIMEOUT`] is closed (as sqlx's pools do) when the pool is
//! next used. WAL mode lets them read beside the writer, each statement in its own snapshot.
//! They are the `sqlite_direct` pool of the `cc_db_pool_*` metrics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::query::{Arg, Sql};
use crate::{Result, StoreError};

/// How long a connection may sit idle before it is closed: sqlx's default for its pools.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// The pool's name in the `cc_db_pool_*` metrics.
pub(crate) const POOL: &str = "sqlite_direct";

/// Read-only `rusqlite` connections to one database file, used on blocking threads.
pub(crate) struct DirectReads {
    path: PathBuf,
    /// Idle connections, with when each was last given back.
    idle: Mutex<Vec<(Connection, Instant)>>,
    /// Open connections, idle or in use.
    open: AtomicU32,
    max: u32,
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    busy_timeout: Duration,
}

pub(crate) fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("reading the database: {e}"))
}

impl DirectReads {
    pub(crate) fn new(
        path: PathBuf,
        max: u32,
        acquire_timeout: Duration,
        busy_timeout: Duration,
    ) -> Self {
        let max = max.max(1);
        Self {
            path,
            idle: Mutex::new(Vec::new()),
            open: AtomicU32::new(0),
            max,
            permits: Arc::new(Semaphore::new(max as usize)),
            acquire_timeout,
            busy_timeout,
        }
    }

    /// Size, idle connections and limit, for the pool metrics.
    pub(crate) fn stats(&self) -> crate::PoolStats {
        let idle = self.idle.lock().map_or(0, |v| v.len());
        crate::PoolStats {
            name: POOL,
            size: self.open.load(Ordering::Relaxed),
            idle: u32::try_from(idle).unwrap_or(u32::MAX),
            max: self.max,
        }
    }

    /// An idle connection (closing those idle too long), or a new one.
    fn take(&self) -> Result<Connection> {
        let (conn, stale) = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            let stale: Vec<Connection> = {
                let (keep, stale): (Vec<_>, Vec<_>) = idle
                    .drain(..)
                    .partition(|(_, at)| now.duration_since(*at) < IDLE_TIMEOUT);
                *idle = keep;
                stale.into_iter().map(|(c, _)| c).collect()
            };
            (idle.pop().map(|(c, _)| c), stale)
        };
        // Closed outside the lock.
        if !stale.is_empty() {
            self.open
                .fetch_sub(u32::try_from(stale.len()).unwrap_or(0), Ordering::Relaxed);
            drop(stale);
        }
        match conn {
            Some(c) => Ok(c),
            None => {
                let c = self.open()?;
                self.open.fetch_add(1, Ordering::Relaxed);
                Ok(c)
            }
        }
    }

    /// Waits for the reads in flight, refuses new ones and closes every connection.
    pub(crate) async fn close(&self) {
        if let Ok(all) = self.permits.acquire_many(self.max).await {
            self.permits.close();
            drop(all);
        }
        let idle = std::mem::take(
            &mut *self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        self.open
            .fetch_sub(u32::try_from(idle.len()).unwrap_or(0), Ordering::Relaxed);
        drop(idle);
    }

    fn give_back(&self, conn: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((conn, Instant::now()));
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        conn.busy_timeout(self.busy_timeout).map_err(db_err)?;
        conn.execute_batch("PRAGMA temp_store = memory")
            .map_err(db_err)?;
        Ok(conn)
    }

    /// The rows of `sql`, each made by `row`, read on a blocking thread.
    ///
    /// # Errors
    /// No connection became free within the acquire timeout, the statement failed, or `row`
    /// refused a row.
    pub(crate) async fn rows<T, F>(self: &Arc<Self>, sql: Sql, row: F) -> Result<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&rusqlite::Row<'_>) -> Result<T> + Send + 'static,
    {
        let start = Instant::now();
        let permit =
            tokio::time::timeout(self.acquire_timeout, self.permits.clone().acquire_owned())
                .await
                .map_err(|_| StoreError::from(sqlx::Error::PoolTimedOut))?
                .map_err(|_| StoreError::from(sqlx::Error::PoolClosed))?;
        metrics::histogram!("cc_db_pool_acquire_duration_seconds", "pool" => POOL)
            .record(start.elapsed().as_secs_f64());
        let this = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = this.take()?;
            let out = read(&conn, &sql, &row);
            this.give_back(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Internal(format!("read task: {e}")))?
    }
}

fn read<T>(
    conn: &Connection,
    sql: &Sql,
    row: &dyn Fn(&rusqlite::Row<'_>) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(&sql.text).map_err(db_err)?;
    for (i, a) in sql.args.iter().enumerate() {
        // `Sql` names its placeholders `$1…$n`; SQLite numbers named parameters in order of
        // first appearance, so look each one up by name rather than trust the order.
        let name = format!("${}", i + 1);
        let Some(at) = stmt.parameter_index(&name).map_err(db_err)? else {
            continue;
        };
        // The same encodings sqlx's SQLite driver binds: ids as 16-byte blobs, booleans as
        // integers, times as RFC 3339 text.
        match a {
            Arg::Text(v) => stmt.raw_bind_parameter(at, v.as_str()),
            Arg::Int(v) => stmt.raw_bind_parameter(at, v),
            Arg::Uuid(v) => stmt.raw_bind_parameter(at, &v.as_bytes()[..]),
            Arg::Bool(v) => stmt.raw_bind_parameter(at, i64::from(*v)),
            Arg::Time(v) => {
                stmt.raw_bind_parameter(at, v.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false))
            }
        }
        .map_err(db_err)?;
    }
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(db_err)? {
        out.push(row(r)?);
    }
    Ok(out)
}
