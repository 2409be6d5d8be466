//! The embedded backend: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection and start with `BEGIN IMMEDIATE`, so
//! writers queue in the pool (fairly, without busy-looping) instead of failing on lock
//! upgrades; reads use a separate read-only pool and never block the writer. Two small pools
//! keep what must answer promptly apart from bulk work: read-only control connections for
//! readiness (a write transaction, however long, does not block a WAL reader), and one write
//! connection for heartbeats, which waits for the write lock as long as the lease allows
//! (instead of failing after the pool's acquire timeout behind a long import).

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use crate::{PoolConfig, Result, StoreError};

use imports::load_snapshot;

mod bulk;
mod changes;
mod file_mode;
mod jobs;
mod snapshot;

type Db = sqlx::Sqlite;
type Store = SqliteStore;
type BackendTx = SqliteTx;

const BACKEND: crate::Backend = crate::Backend::Sqlite;
const GROUP_AGG: &str = "group_concat(g.name, ',')";
const READ_POOL: &str = "sqlite_read";
const WRITE_POOL: &str = "sqlite_write";
const CONTROL_POOL: &str = "sqlite_control";
const MIGRATIONS_TABLE_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations')";
const FOR_UPDATE: &str = "";
/// `u.id` (a 16-byte BLOB) as the hyphenated text jobs carry in `args ->> 'user_id'`.
const USER_ID_TEXT: &str = "lower(substr(hex(u.id), 1, 8) || '-' || substr(hex(u.id), 9, 4) || '-' || \
     substr(hex(u.id), 13, 4) || '-' || substr(hex(u.id), 17, 4) || '-' || substr(hex(u.id), 21, 12))";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

fn platform_match(p: &str) -> String {
    format!(
        "(p.platforms = '[]' OR EXISTS (SELECT 1 FROM json_each(p.platforms) WHERE value = {p}))"
    )
}

/// The SQLite store.
#[derive(Clone)]
pub struct SqliteStore {
    read: SqlitePool,
    write: SqlitePool,
    /// Read-only connections for readiness checks (the read pool in memory).
    control: SqlitePool,
    /// The heartbeats' own write connection (none in memory, where there is one connection).
    lease_write: Option<SqlitePool>,
    /// Raised when a transaction enqueues a job, waking this process's workers.
    wakeup: jobs::Wakeup,
    /// How to open the connection that notices other processes' commits (none in memory).
    probe: Option<SqliteConnectOptions>,
    /// Commits to the file by any connection, for caches (none in memory).
    changes: Option<std::sync::Arc<changes::Changes>>,
}

/// A SQLite write transaction.
pub struct SqliteTx(sqlx::Transaction<'static, Db>, jobs::Wakeup);

impl SqliteStore {
    /// Opens (creating if needed) the database file named by `url`.
    ///
    /// # Errors
    /// The URL is malformed or the file cannot be opened.
    pub async fn connect(url: &str, cfg: &PoolConfig) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(cfg.busy_timeout)
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let wakeup = jobs::wakeup_for((!in_memory).then(|| opts.get_filename().to_path_buf()));
        let probe = (!in_memory).then(|| opts.clone().read_only(true));
        let changes = (!in_memory)
            .then(|| std::sync::Arc::new(changes::Changes::new(opts.get_filename().to_path_buf())));
        if !in_memory {
            file_mode::prepare(opts.get_filename())?;
        }
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(cfg.acquire_timeout)
            .connect_with(opts.clone())
            .await?;
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(cfg.max_connections.max(1))
                .min_connections(cfg.min_connections)
                .acquire_timeout(cfg.acquire_timeout)
                .connect_with(opts.clone().read_only(true))
                .await?
        };
        let control = if in_memory || cfg.control_connections == 0 {
            read.clone()
        } else {
            SqlitePoolOptions::new()
                .max_connections(cfg.control_connections)
                .acquire_timeout(cfg.acquire_timeout)
                .connect_lazy_with(opts.clone().read_only(true))
        };
        let lease_write = (!in_memory).then(|| {
            SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(cfg.acquire_timeout)
                .connect_lazy_with(opts)
        });
        Ok(Self {
            read,
            write,
            control,
            lease_write,
            wakeup,
            probe,
            changes,
        })
    }

    fn change_generation_impl(&self) -> Option<u64> {
        self.changes.as_ref()?.generation()
    }

    fn note_local_change_impl(&self) {
        if let Some(c) = &self.changes {
            c.note_local_change();
        }
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn migration_pool(&self) -> &SqlitePool {
        &self.write
    }

    fn control_pool(&self) -> &SqlitePool {
        &self.control
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
    }

    fn pool_stats_impl(&self) -> Vec<crate::PoolStats> {
        let mut stats = vec![
            Self::pool_stats_of("sqlite_read", &self.read),
            Self::pool_stats_of("sqlite_write", &self.write),
            Self::pool_stats_of("sqlite_control", &self.control),
        ];
        if let Some(p) = &self.lease_write {
            stats.push(Self::pool_stats_of("sqlite_lease_write", p));
        }
        stats
    }

    async fn close_impl(&self) {
        self.control.close().await;
        if let Some(p) = &self.lease_write {
            p.close().await;
        }
        self.read.close().await;
        self.write.close().await;
    }

    /// The write pool, for the queue and other subsystems that share the file.
    #[must_use]
    pub fn write_pool(&self) -> &SqlitePool {
        &self.write
    }

    /// The read pool.
    #[must_use]
    pub fn read_pool(&self) -> &SqlitePool {
        &self.read
    }
}

impl SqliteStore {
    /// The directory snapshot for planning: read directly from the file when there is one.
    async fn snapshot_for_planning(&self) -> Result<crate::DirectorySnapshot> {
        let Some(path) = self.probe.as_ref().map(|o| o.get_filename().to_path_buf()) else {
            let mut conn = self.read_conn().await?;
            return load_snapshot(&mut conn).await;
        };
        tokio::task::spawn_blocking(move || snapshot::load(&path))
            .await
            .map_err(|e| StoreError::Internal(format!("snapshot task: {e}")))?
    }

    fn new_tx(&self, tx: sqlx::Transaction<'static, Db>) -> BackendTx {
        SqliteTx(tx, self.wakeup.clone())
    }
}

// The SQL both backends share: each file is compiled once per backend, over the names defined
// above (see `sql/shared.rs`), hence one file loaded as a module twice in this crate.
#[path = "sql/auth.rs"]
#[allow(clippy::duplicate_mod)]
mod auth;
#[path = "sql/imports.rs"]
#[allow(clippy::duplicate_mod)]
mod imports;
#[path = "sql/migrate.rs"]
#[allow(clippy::duplicate_mod)]
mod migrate;
#[path = "sql/shared.rs"]
#[allow(clippy::duplicate_mod)]
mod shared;
