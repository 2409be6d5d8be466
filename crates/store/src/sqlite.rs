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
mod checkpoint;
pub(crate) mod direct;
mod file_mode;
mod jobs;
mod snapshot;

type Db = sqlx::Sqlite;
type Store = SqliteStore;
type BackendTx = SqliteTx;

const BACKEND: crate::Backend = crate::Backend::Sqlite;
const GROUP_AGG: &str = "group_concat(g.name, ',')";
/// A person's target links as one JSON text, `[[target, status, last_error, updated_at], …]`
/// in target order (`[]` when none).
const LINKS_JSON: &str = "(SELECT json_group_array(json_array(l.target, l.status, l.last_error, l.updated_at) ORDER BY l.target) FROM target_links l WHERE l.user_id = u.id)";
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

/// The FTS5 trigram table over the columns `?q=` searches in `table` (migration 0010) and the
/// rowid column its rows are keyed by, as the list queries alias the table.
fn text_index_table(table: &str) -> Option<(&'static str, &'static str)> {
    match table {
        "users" => Some(("users_fts", "u.rowid")),
        "groups" => Some(("groups_fts", "g.rowid")),
        "devices" => Some(("devices_fts", "d.rowid")),
        _ => None,
    }
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
    /// The thread that checkpoints the WAL in place of the write connections (none in memory).
    checkpointer: Option<std::sync::Arc<checkpoint::Checkpointer>>,
    /// The hottest reads, on blocking threads without sqlx's hand-offs (none in memory).
    direct: Option<std::sync::Arc<direct::DirectReads>>,
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
            .pragma("temp_store", "memory")
            // A page of people is 51 rows: with the default of 50 the connection's thread
            // would stop before the last row until the task has taken some.
            .row_buffer_size(256);
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let wakeup = jobs::wakeup_for((!in_memory).then(|| opts.get_filename().to_path_buf()));
        let probe = (!in_memory).then(|| opts.clone().read_only(true));
        let changes = (!in_memory)
            .then(|| std::sync::Arc::new(changes::Changes::new(opts.get_filename().to_path_buf())));
        if !in_memory {
            file_mode::prepare(opts.get_filename())?;
        }
        // The write connections leave checkpoints to the store's own thread (sqlite/checkpoint.rs):
        // SQLite's automatic one runs inside a COMMIT and held the one write connection.
        let write_opts = if in_memory {
            opts.clone()
        } else {
            opts.clone()
                .pragma("wal_autocheckpoint", "0")
                .pragma("journal_size_limit", checkpoint::JOURNAL_SIZE_LIMIT)
        };
        let checkpointer = if in_memory {
            None
        } else {
            let started = checkpoint::Checkpointer::start(opts.get_filename().to_path_buf())
                .map_err(|e| {
                    StoreError::Config(format!("cannot start the WAL checkpoint thread: {e}"))
                })?;
            Some(std::sync::Arc::new(started))
        };
        // No pools test a connection before handing it out (sqlx's default pings it): a
        // connection to a local file does not go stale, and each ping is one more round
        // trip to the connection's thread — on a page of people that was a third of them.
        let write = SqlitePoolOptions::new()
            .test_before_acquire(false)
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(cfg.acquire_timeout)
            .connect_with(write_opts.clone())
            .await?;
        let read = if in_memory {
            write.clone()
        } else {
            SqlitePoolOptions::new()
                .test_before_acquire(false)
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
                .test_before_acquire(false)
                .max_connections(cfg.control_connections)
                .acquire_timeout(cfg.acquire_timeout)
                .connect_lazy_with(opts.clone().read_only(true))
        };
        let direct = (!in_memory).then(|| {
            std::sync::Arc::new(direct::DirectReads::new(
                opts.get_filename().to_path_buf(),
                cfg.max_connections,
                cfg.acquire_timeout,
                cfg.busy_timeout,
            ))
        });
        let lease_write = (!in_memory).then(|| {
            SqlitePoolOptions::new()
                .test_before_acquire(false)
                .max_connections(1)
                .acquire_timeout(cfg.acquire_timeout)
                .connect_lazy_with(write_opts)
        });
        Ok(Self {
            read,
            write,
            control,
            lease_write,
            wakeup,
            probe,
            changes,
            checkpointer,
            direct,
        })
    }

    fn change_generation_impl(&self) -> Option<u64> {
        self.changes.as_ref()?.generation()
    }

    fn auth_generation_impl(&self) -> Option<u64> {
        self.changes.as_ref()?.auth_generation()
    }

    fn generations_impl(&self) -> (Option<u64>, Option<u64>) {
        self.changes
            .as_ref()
            .and_then(|c| c.generations())
            .map_or((None, None), |(g, a)| (Some(g), Some(a)))
    }

    fn note_local_change_impl(&self) {
        if let Some(c) = &self.changes {
            c.note_local_change();
        }
    }

    fn reader(&self) -> &SqlitePool {
        &self.read
    }

    fn direct_reads(&self) -> Option<&std::sync::Arc<direct::DirectReads>> {
        self.direct.as_ref()
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
        if let Some(d) = &self.direct {
            stats.push(d.stats());
        }
        stats
    }

    async fn close_impl(&self) {
        self.control.close().await;
        if let Some(p) = &self.lease_write {
            p.close().await;
        }
        if let Some(d) = &self.direct {
            d.close().await;
        }
        self.read.close().await;
        self.write.close().await;
        if let Some(c) = &self.checkpointer {
            c.stop().await;
        }
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

impl SqliteTx {
    /// Nothing to note: the change probe reads `auth_changes` once the file has changed.
    fn note_auth_use(&mut self) {}

    /// What to do once the transaction has committed: nothing here (see `note_auth_use`).
    fn after_commit(&self) -> impl FnOnce() {
        || {}
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

#[cfg(test)]
mod tests {
    use cc_domain::user::UserSort;
    use cc_domain::UserQuery;

    use super::shared::{fetch, text_index, user_sql};
    use super::*;
    use crate::Store as _;

    /// A valid teacher, not yet stored.
    fn person(username: &str, given: &str, family: &str) -> cc_domain::User {
        cc_domain::NewUser {
            username: username.into(),
            given_name: given.into(),
            family_name: family.into(),
            role: cc_domain::Role::Teacher,
            ..cc_domain::NewUser::default()
        }
        .into_user(cc_domain::new_id(), cc_domain::now())
        .expect("valid user")
    }

    /// A migrated in-memory store holding `n` people named `person-<i>` (family name
    /// `Family <i>`), plus Ada Lovelace.
    async fn store_with_people(n: i64) -> SqliteStore {
        let store = SqliteStore::connect("sqlite::memory:", &PoolConfig::default())
            .await
            .expect("open");
        store.migrate_up().await.expect("migrate");
        let mut tx = store.begin().await.expect("begin");
        let mut ada = person("ada", "Augusta", "Lovelace");
        ada.email = Some("countess@example.org".into());
        tx.insert_user(&ada).await.expect("insert");
        tx.commit().await.expect("commit");
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
             INSERT INTO users (id, username, given_name, family_name, role, status, version, \
             created_at, updated_at) \
             SELECT randomblob(16), 'person-' || i, 'Given', 'Family ' || i, 'staff', 'active', 1, \
             '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z' FROM n",
        )
        .bind(n)
        .execute(store.write_pool())
        .await
        .expect("insert people");
        store
    }

    /// The plan SQLite chooses for a people list, one line per step.
    async fn plan_of(store: &SqliteStore, q: &UserQuery) -> (bool, Vec<String>) {
        let mut conn = store.read_conn().await.expect("connection");
        let index = text_index(&mut conn, "users", q.q.as_deref())
            .await
            .expect("probe the index");
        let mut sql = user_sql(q, None, index.as_ref());
        sql.text.insert_str(0, "EXPLAIN QUERY PLAN ");
        let rows: Vec<(i64, i64, i64, String)> = fetch(&mut *conn, sql).await.expect("explain");
        (index.is_some(), rows.into_iter().map(|r| r.3).collect())
    }

    fn scans_users(plan: &[String]) -> bool {
        plan.iter()
            .any(|l| l == "SCAN u" || l.starts_with("SCAN u "))
    }

    #[tokio::test]
    async fn a_search_of_three_characters_reads_the_text_index_instead_of_the_table() {
        let store = store_with_people(50).await;
        for sort in [
            UserSort::Username,
            UserSort::FamilyName,
            UserSort::CreatedAt,
        ] {
            for text in ["lovelace", "COUNTESS@", "zzz-no-match", "a\"b OR c*"] {
                let q = UserQuery {
                    q: Some(text.into()),
                    sort,
                    limit: 50,
                    ..UserQuery::default()
                };
                let (narrowed, plan) = plan_of(&store, &q).await;
                assert!(narrowed, "q={text:?}: the index serves it");
                assert!(
                    plan.iter().any(|l| l.contains("users_fts")),
                    "q={text:?} sort={sort:?}: {plan:?}"
                );
                assert!(!scans_users(&plan), "q={text:?} sort={sort:?}: {plan:?}");
            }
        }
        // Without a trigram the index cannot help: the table is read as before.
        let q = UserQuery {
            q: Some("lo".into()),
            limit: 50,
            ..UserQuery::default()
        };
        let (narrowed, plan) = plan_of(&store, &q).await;
        assert!(!narrowed);
        assert!(!plan.iter().any(|l| l.contains("users_fts")), "{plan:?}");
    }

    /// A commit reaches the database file itself without anyone writing a thousand pages
    /// more: the store's checkpoint thread copies the WAL back, not the next big `COMMIT`.
    /// Read through a copy of the file alone (no `-wal` beside it), which holds only what a
    /// checkpoint has copied.
    #[tokio::test]
    async fn the_checkpoint_thread_copies_commits_into_the_database_file() {
        let dir = std::env::temp_dir().join(format!(
            "cc-store-checkpoint-{}-{}",
            std::process::id(),
            cc_domain::new_id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let db = dir.join("cc.db");
        let store = SqliteStore::connect(
            &format!("sqlite://{}", db.display()),
            &PoolConfig::default(),
        )
        .await
        .expect("open");
        store.migrate_up().await.expect("migrate");
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(store.write_pool())
            .await
            .expect("pragma");
        assert_eq!(
            autocheckpoint, 0,
            "the write connection must not checkpoint in its COMMIT"
        );
        let user = person("checkpointed", "Check", "Point");
        let mut tx = store.begin().await.expect("begin");
        tx.insert_user(&user).await.expect("insert");
        tx.commit().await.expect("commit");

        let copy = dir.join("copy.db");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            for leftover in ["copy.db-wal", "copy.db-shm"] {
                std::fs::remove_file(dir.join(leftover)).ok();
            }
            std::fs::copy(&db, &copy).expect("copy the database file");
            let found: i64 = rusqlite::Connection::open(&copy)
                .and_then(|c| {
                    c.query_row(
                        "SELECT count(*) FROM users WHERE username = 'checkpointed'",
                        [],
                        |r| r.get(0),
                    )
                })
                .unwrap_or(0);
            if found == 1 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the commit did not reach the database file within 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        store.close().await;
        std::fs::remove_dir_all(&dir).ok();
    }

    #[tokio::test]
    async fn a_search_matching_very_many_people_walks_the_table_in_order() {
        let store = store_with_people(shared::NARROW_MIN * 4).await;
        let q = UserQuery {
            q: Some("person-".into()),
            limit: 50,
            ..UserQuery::default()
        };
        let (narrowed, plan) = plan_of(&store, &q).await;
        assert!(!narrowed, "{plan:?}");
        let q = UserQuery {
            q: Some("person-3999".into()),
            limit: 50,
            ..UserQuery::default()
        };
        let (narrowed, plan) = plan_of(&store, &q).await;
        assert!(narrowed, "{plan:?}");
        let page = store.list_users(&q).await.expect("list");
        let names: Vec<&str> = page.items.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["person-3999"]);
    }
}
