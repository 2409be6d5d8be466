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
/// A person's target links as one JSON text, `[[target, status, last_error, updated_at], …]`
/// in target order (NULL when none).
const LINKS_JSON: &str = "(SELECT json_agg(json_build_array(l.target, l.status, l.last_error, l.updated_at) ORDER BY l.target)::text FROM target_links l WHERE l.user_id = u.id)";
const READ_POOL: &str = "postgres";
const WRITE_POOL: &str = "postgres";
const CONTROL_POOL: &str = "postgres_control";
const MIGRATIONS_TABLE_EXISTS: &str = "SELECT to_regclass('_sqlx_migrations') IS NOT NULL";
const FOR_UPDATE: &str = " FOR UPDATE";
/// `u.id` as the text jobs carry in `args ->> 'user_id'`.
const USER_ID_TEXT: &str = "u.id::text";

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

fn platform_match(p: &str) -> String {
    format!("(p.platforms = '[]'::jsonb OR p.platforms ? {p})")
}

/// None: PostgreSQL needs no separate text index; on people, trigram indexes (`pg_trgm`,
/// migration 0009) serve the `lower(column) LIKE` test itself.
fn text_index_table(_table: &str) -> Option<(&'static str, &'static str)> {
    None
}

/// Listeners (`LISTEN` connections held for as long as they listen) a store may open at once:
/// each worker's job wake-ups and the cache's change notifications.
const MAX_LISTENERS: u32 = 16;

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PgStore {
    /// The main pool: requests, imports, claims, maintenance.
    pool: PgPool,
    /// Reserved for readiness checks and the queue's lease and outcome statements (see
    /// [`crate::PoolConfig::control_connections`]).
    control: PgPool,
    /// Connections held by `LISTEN`ers, so they never take a place in the other pools.
    listen: PgPool,
    /// Commits to the directory and sign-in tables, as notified (for caches).
    changes: std::sync::Arc<changes::Changes>,
}

/// A PostgreSQL write transaction, and the statements that rebuild what a first load set
/// aside (`ImportTx::begin_first_load`; empty otherwise).
/// The last field is set when the transaction writes the sign-in tables (it used
/// [`crate::Tx::auth`]): its commit then moves this process's auth generation at once,
/// ahead of the notification.
pub struct PgTx(
    sqlx::Transaction<'static, Db>,
    Vec<String>,
    std::sync::Arc<changes::Changes>,
    bool,
);

/// A pooled connection idle at least this long is pinged before it is handed out; one used
/// more recently is not (see [`checked_pool`]).
pub const RECHECK_IDLE: std::time::Duration = std::time::Duration::from_millis(100);

/// Pool options that check an idle connection before handing it out only when it has been
/// idle for [`RECHECK_IDLE`] or longer.
///
/// sqlx pings every connection as it goes back to the pool, whatever the settings, and by
/// default pings it again before handing it out: two extra round trips to a server process
/// for every acquisition, which under load cost as much server CPU as a short statement. A
/// connection that answered its release ping a few milliseconds ago is alive unless the
/// server went away in those milliseconds — the same moment at which statements in flight
/// fail anyway. One idle longer (a server restart, a connection killer, a failover) is still
/// checked, and a dead one is replaced without the caller seeing an error.
fn checked_pool() -> PgPoolOptions {
    use sqlx::Connection as _;
    PgPoolOptions::new()
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= RECHECK_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

impl PgStore {
    /// Connects to the database named by `url`.
    ///
    /// # Errors
    /// The URL is malformed or the server cannot be reached.
    pub async fn connect(url: &str, cfg: &PoolConfig) -> Result<Self> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid PostgreSQL URL: {e}")))?
            .application_name("command-center");
        let opts = match cfg.statement_timeout {
            Some(t) => opts.options([("statement_timeout", format!("{}ms", t.as_millis().max(1)))]),
            None => opts,
        };
        let pool = checked_pool()
            .max_connections(cfg.max_connections.max(1))
            .min_connections(cfg.min_connections)
            .acquire_timeout(cfg.acquire_timeout)
            .connect_with(opts.clone())
            .await?;
        let control = if cfg.control_connections == 0 {
            pool.clone()
        } else {
            checked_pool()
                .max_connections(cfg.control_connections)
                .acquire_timeout(cfg.acquire_timeout)
                .connect_lazy_with(opts.clone())
        };
        let listen = PgPoolOptions::new()
            .max_connections(MAX_LISTENERS)
            .acquire_timeout(cfg.acquire_timeout)
            .connect_lazy_with(opts);
        Ok(Self {
            pool,
            control,
            listen,
            changes: std::sync::Arc::default(),
        })
    }

    fn change_generation_impl(&self) -> Option<u64> {
        self.changes.generation(&self.listen)
    }

    fn auth_generation_impl(&self) -> Option<u64> {
        self.changes.auth_generation(&self.listen)
    }

    /// Two atomic loads each: nothing to share between them.
    fn generations_impl(&self) -> (Option<u64>, Option<u64>) {
        (self.change_generation_impl(), self.auth_generation_impl())
    }

    fn note_local_change_impl(&self) {
        self.changes.note_local_change();
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL's driver runs on the runtime's own threads: no hand-off to skip.
    #[allow(clippy::unused_self)]
    fn direct_reads(&self) -> Option<&std::sync::Arc<crate::sqlite::direct::DirectReads>> {
        None
    }

    fn migration_pool(&self) -> &PgPool {
        &self.pool
    }

    fn control_pool(&self) -> &PgPool {
        &self.control
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>> {
        Ok(self.pool.begin().await?)
    }

    fn pool_stats_impl(&self) -> Vec<crate::PoolStats> {
        vec![
            Self::pool_stats_of("postgres", &self.pool),
            Self::pool_stats_of("postgres_control", &self.control),
            Self::pool_stats_of("postgres_listen", &self.listen),
        ]
    }

    async fn close_impl(&self) {
        self.listen.close().await;
        self.control.close().await;
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
        PgTx(tx, Vec::new(), self.changes.clone(), false)
    }
}

impl PgTx {
    fn note_auth_use(&mut self) {
        self.3 = true;
    }

    /// What to do once the transaction has committed: a commit that wrote the sign-in tables
    /// moves this process's auth generation (other servers learn of it by notification).
    fn after_commit(&self) -> impl FnOnce() {
        let changes = self.3.then(|| self.2.clone());
        move || {
            if let Some(c) = changes {
                c.note_local_auth_change();
            }
        }
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
#[path = "sql/notifications.rs"]
#[allow(clippy::duplicate_mod)]
mod notifications;
#[path = "sql/shared.rs"]
#[allow(clippy::duplicate_mod)]
mod shared;
#[path = "sql/sources.rs"]
#[allow(clippy::duplicate_mod)]
mod sources;

impl PgStore {
    /// The directory snapshot for planning.
    async fn snapshot_for_planning(&self) -> Result<crate::DirectorySnapshot> {
        let mut conn = self.read_conn().await?;
        load_snapshot(&mut conn).await
    }
}
