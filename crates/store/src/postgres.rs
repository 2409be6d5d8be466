//! The scale-out backend: PostgreSQL, shared by any number of API replicas and workers.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::{PoolConfig, Result, StoreError};

use imports::load_snapshot;

mod bulk;
mod changes;
pub(crate) mod copy;
mod jobs;
pub use changes::CHANNEL as CHANGES_CHANNEL;
pub use jobs::JOBS_CHANNEL;

type Db = sqlx::Postgres;
type Store = PgStore;
type BackendTx = PgTx;

const BACKEND: crate::Backend = crate::Backend::Postgres;
const GROUP_AGG: &str = "string_agg(g.name, ',')";
const READ_POOL: &str = "postgres";
const WRITE_POOL: &str = "postgres";
const FOR_UPDATE: &str = " FOR UPDATE";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn platform_match(p: &str) -> String {
    format!("(p.platforms = '[]'::jsonb OR p.platforms ? {p})")
}

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Commits to the directory and sign-in tables, as notified (for caches).
    changes: std::sync::Arc<changes::Changes>,
}

/// A PostgreSQL write transaction, and the statements that rebuild what a first load set
/// aside (`ImportTx::begin_first_load`; empty otherwise).
pub struct PgTx(sqlx::Transaction<'static, Db>, Vec<String>);

impl PgStore {
    /// Connects to the database named by `url`.
    ///
    /// # Errors
    /// The URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str, cfg: &PoolConfig) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("command-center");
        let pool = PgPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .min_connections(cfg.min_connections)
            .acquire_timeout(cfg.acquire_timeout)
            .connect_with(opts)
            .await?;
        Ok(Self {
            pool,
            changes: std::sync::Arc::default(),
        })
    }

    fn change_generation_impl(&self) -> Option<u64> {
        self.changes.generation(&self.pool)
    }

    fn note_local_change_impl(&self) {
        self.changes.note_local_change();
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn migration_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    fn pool_stats_impl(&self) -> Vec<crate::PoolStats> {
        vec![Self::pool_stats_of("postgres", &self.pool)]
    }

    async fn close_impl(&self) {
        self.pool.close().await;
    }

    /// The connection pool, for the queue and other subsystems.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PgStore {
    fn new_tx(&self, tx: sqlx::Transaction<'static, Db>) -> BackendTx {
        PgTx(tx, Vec::new())
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

impl PgStore {
    /// The directory snapshot for planning.
    async fn snapshot_for_planning(&self) -> Result<crate::DirectorySnapshot> {
        let mut conn = self.read_conn().await?;
        load_snapshot(&mut conn).await
    }
}
