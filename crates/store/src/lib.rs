//! Persistence for Command Center.
//!
//! [`Store`] is the storage interface the rest of the system uses; [`Tx`] is one write
//! transaction, in which a change, its audit event and (later) its jobs commit together.
//! Two backends implement it — [`sqlite`] for the embedded default and [`postgres`] for
//! scale-out — sharing their SQL where the dialects agree (see `sql/shared.rs`). The backend
//! is chosen by the database URL's scheme in [`connect`].

pub mod auth;
pub mod backups;
pub mod certificates;
mod error;
pub mod imports;
mod job_rows;
pub mod jobs;
pub mod notifications;
pub mod postgres;
mod query;
mod rows;
pub mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use cc_domain::{
    AuditEvent, AuditQuery, Device, DeviceQuery, Group, GroupQuery, NewAuditEvent, Page, Policy,
    PolicyQuery, User, UserQuery,
};
use uuid::Uuid;

pub use auth::{AuthStore, AuthTx};
pub use error::StoreError;
pub use imports::{DirectorySnapshot, GroupRef, ImportStore, ImportTx, LifecycleBatch};
pub use jobs::{JobStore, JobTx};
pub use notifications::{DeliveryQuery, DeliveryUpdate, DispatchRule, NotificationStore};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Connection pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The main pool: requests, imports, claims, maintenance.
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout: Duration,
    /// How long SQLite waits for another process's write lock.
    pub busy_timeout: Duration,
    /// Connections of the control pool, kept apart from the main pool so that bulk work can
    /// never starve what must answer promptly: readiness checks and the job queue's lease
    /// and outcome statements (heartbeats, cancel polls, completions). On SQLite these are
    /// read-only connections for the checks (a write lock does not block them in WAL mode).
    pub control_connections: u32,
    /// PostgreSQL cancels any statement running longer (`statement_timeout`); `None` for no
    /// limit. Servers set it so one expensive read cannot hold a connection for long.
    pub statement_timeout: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            control_connections: 4,
            statement_timeout: None,
        }
    }
}

/// What a lifecycle job reads before it acts, as [`Store::lifecycle_view`] returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleView {
    pub user: Option<User>,
    /// The oldest unfinished lifecycle job for the person enqueued before this one, and when
    /// it runs next.
    pub earlier: Option<(i64, chrono::DateTime<chrono::Utc>)>,
    pub links: Vec<cc_domain::TargetLinkRecord>,
}

/// A pool's current occupancy, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolStats {
    pub name: &'static str,
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// Applied and known schema migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// `(version, description, applied)` for every migration the binary knows, in order.
    pub migrations: Vec<(i64, String, bool)>,
    /// Versions applied in the database that this binary does not know (a newer binary ran).
    pub unknown_applied: Vec<i64>,
}

impl MigrationStatus {
    /// True when every known migration is applied and none is unknown.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.unknown_applied.is_empty() && self.migrations.iter().all(|m| m.2)
    }

    #[must_use]
    pub fn pending(&self) -> usize {
        self.migrations.iter().filter(|m| !m.2).count()
    }
}

/// Members of a group, as returned by [`Store::group_members`].
pub type MemberPage = Page<User>;

/// Counts for the directory gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryCounts {
    pub users_by_status: Vec<(String, i64)>,
    pub devices_by_compliance: Vec<(String, i64)>,
}

/// The storage interface. Reads run on the pool; writes go through [`Store::begin`].
#[async_trait]
pub trait Store: JobStore + Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Operators, sessions, tokens and login throttling.
    fn auth(&self) -> &dyn AuthStore;

    /// A number that changes whenever people, groups, memberships, operators, sessions, API
    /// tokens or signing keys may have changed — by this process or any other — or `None`
    /// when the store cannot tell right now (then nothing may be cached). Caches of reads
    /// from those tables keep what they read under the generation they saw *before* reading
    /// and use it only while the generation is unchanged. SQLite: `PRAGMA data_version`
    /// (any commit to the file counts); PostgreSQL: notifications from triggers.
    fn change_generation(&self) -> Option<u64>;

    /// [`Self::change_generation`] for the sign-in tables alone (operators, sessions, API
    /// tokens, signing keys): it moves whenever one of those changes and may move more often,
    /// never less; `None` when the store cannot tell. The cache of authenticated principals
    /// is keyed by it, so commits to the directory or the job queue leave it alone. The
    /// default is the change generation itself.
    fn auth_generation(&self) -> Option<u64> {
        self.change_generation()
    }

    /// [`Self::change_generation`] and [`Self::auth_generation`] together, from one look at
    /// the database where the store needs one (SQLite's probe): what a request takes before
    /// it reads anything.
    fn generations(&self) -> (Option<u64>, Option<u64>) {
        (self.change_generation(), self.auth_generation())
    }

    /// Tells caches that this process has just committed a change (so they need not wait
    /// for the database to say so). The API calls it after every write request.
    fn note_local_change(&self);

    /// Starts a write transaction.
    async fn begin(&self) -> Result<Box<dyn Tx>>;

    /// One round trip to the database.
    async fn ping(&self) -> Result<()>;
    async fn migration_status(&self) -> Result<MigrationStatus>;
    /// Applies pending migrations; returns the versions applied.
    async fn migrate_up(&self) -> Result<Vec<i64>>;
    /// Reverts the last `steps` applied migrations; returns the versions reverted.
    async fn migrate_down(&self, steps: u32) -> Result<Vec<i64>>;
    fn pool_stats(&self) -> Vec<PoolStats>;
    async fn close(&self);

    async fn get_user(&self, id: Uuid) -> Result<Option<User>>;
    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>>;
    async fn list_users(&self, q: &UserQuery) -> Result<Page<User>>;
    /// [`Self::list_users`] with each person's `sync` filled in as [`Self::user_sync`] gives
    /// it (the backends read both on one connection, the state as a column of the page's
    /// query).
    async fn list_users_synced(&self, q: &UserQuery) -> Result<Page<User>> {
        let mut page = self.list_users(q).await?;
        let ids: Vec<Uuid> = page.items.iter().map(|u| u.id).collect();
        let mut sync = self.user_sync(&ids).await?;
        for user in &mut page.items {
            user.sync = sync.remove(&user.id);
        }
        Ok(page)
    }
    /// How many people are in each sync state (see [`cc_domain::SyncState`]).
    async fn count_sync_states(&self) -> Result<Vec<(cc_domain::SyncState, i64)>>;
    /// The sync state of each of these people (derived as the `sync` filter derives it) and
    /// how the last operation went on each of their targets; people that do not exist are
    /// left out.
    async fn user_sync(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, cc_domain::UserSync>>;
    async fn get_group(&self, id: Uuid) -> Result<Option<Group>>;
    async fn get_group_by_name(&self, name: &str) -> Result<Option<Group>>;
    async fn list_groups(&self, q: &GroupQuery) -> Result<Page<Group>>;
    async fn group_members(&self, group_id: Uuid, q: &UserQuery) -> Result<Page<User>>;
    async fn get_device(&self, id: Uuid) -> Result<Option<Device>>;
    async fn list_devices(&self, q: &DeviceQuery) -> Result<Page<Device>>;
    async fn get_policy(&self, id: Uuid) -> Result<Option<Policy>>;
    async fn list_policies(&self, q: &PolicyQuery) -> Result<Page<Policy>>;
    async fn directory_counts(&self) -> Result<DirectoryCounts>;

    /// Audit events matching the query, newest first.
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>>;
    /// Up to `limit` events with `seq > after_seq`, oldest first (for verification).
    async fn audit_after(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>>;
    /// The chain head: the last sequence number and hash.
    async fn audit_head(&self) -> Result<(i64, String)>;

    /// Roster import storage; `None` for stores that do not support imports.
    /// Where a person's accounts stand on each target (by target name).
    async fn list_target_links(&self, user_id: Uuid) -> Result<Vec<cc_domain::TargetLinkRecord>>;
    /// Records how an operation went on one target for one person (inserts or replaces the
    /// row). A link for a user that no longer exists is silently dropped.
    async fn upsert_target_link(&self, link: &cc_domain::TargetLinkRecord) -> Result<()>;

    /// The newest lifecycle job for `user_id` after `job_id` that carries a password, if any:
    /// an older password job that runs late (after retries) must not overwrite the newer
    /// password an operator was shown.
    async fn newer_password_job(&self, user_id: Uuid, job_id: i64) -> Result<Option<i64>>;

    /// The oldest unfinished lifecycle job for `user_id` enqueued before `job_id`, with when
    /// it runs next: a person's lifecycle jobs run one at a time, in order.
    async fn earlier_lifecycle_job(
        &self,
        user_id: Uuid,
        job_id: i64,
    ) -> Result<Option<(i64, chrono::DateTime<chrono::Utc>)>>;

    /// What a lifecycle job reads before it acts on `user_id`: the person, the oldest
    /// unfinished lifecycle job for them enqueued before `job_id` (as
    /// [`Store::earlier_lifecycle_job`]) and their target links (as
    /// [`Store::list_target_links`]). The backends read all three with one statement, from
    /// one snapshot; when the person no longer exists, `earlier` and `links` are read apart
    /// (a deprovision of a deleted person still needs them).
    async fn lifecycle_view(&self, user_id: Uuid, job_id: i64) -> Result<LifecycleView> {
        let user = self.get_user(user_id).await?;
        let earlier = self.earlier_lifecycle_job(user_id, job_id).await?;
        let links = self.list_target_links(user_id).await?;
        Ok(LifecycleView {
            user,
            earlier,
            links,
        })
    }

    /// Where these people's records came from (those with no record of it are left out).
    async fn user_sources(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, cc_domain::UserSource>>;
    /// The person a SCIM client named with this `userName` (compared ignoring case).
    async fn user_id_by_scim_name(&self, name: &str) -> Result<Option<Uuid>>;

    fn imports(&self) -> Option<&dyn ImportStore> {
        None
    }

    /// The notification deliveries log.
    fn notifications(&self) -> &dyn NotificationStore;
}

/// One write transaction. Dropping it without [`Tx::commit`] rolls back.
///
/// `get_*` methods lock the row they read (PostgreSQL `FOR UPDATE`; SQLite transactions
/// already hold the write lock), so read-modify-write inside a transaction is safe.
#[async_trait]
pub trait Tx: JobTx + Send {
    /// Operator and credential writes in this transaction.
    fn auth(&mut self) -> &mut dyn AuthTx;

    async fn get_user(&mut self, id: Uuid) -> Result<Option<User>>;
    async fn insert_user(&mut self, u: &User) -> Result<()>;
    /// Writes `u`, which must carry the next version; fails with `VersionConflict` otherwise.
    async fn update_user(&mut self, u: &User) -> Result<()>;
    async fn delete_user(&mut self, id: Uuid) -> Result<bool>;
    /// Replaces a user's memberships with the named groups; unknown names are a validation error.
    async fn set_user_groups(&mut self, user_id: Uuid, names: &[String]) -> Result<()>;

    async fn get_group(&mut self, id: Uuid) -> Result<Option<Group>>;
    async fn insert_group(&mut self, g: &Group) -> Result<()>;
    async fn update_group(&mut self, g: &Group) -> Result<()>;
    async fn delete_group(&mut self, id: Uuid) -> Result<bool>;
    /// Adds a member; returns false when already a member.
    async fn add_member(&mut self, group_id: Uuid, user_id: Uuid) -> Result<bool>;
    /// Removes a member; returns false when not a member.
    async fn remove_member(&mut self, group_id: Uuid, user_id: Uuid) -> Result<bool>;

    async fn get_device(&mut self, id: Uuid) -> Result<Option<Device>>;
    async fn insert_device(&mut self, d: &Device) -> Result<()>;
    async fn update_device(&mut self, d: &Device) -> Result<()>;
    async fn delete_device(&mut self, id: Uuid) -> Result<bool>;

    async fn get_policy(&mut self, id: Uuid) -> Result<Option<Policy>>;
    async fn insert_policy(&mut self, p: &Policy) -> Result<()>;
    async fn update_policy(&mut self, p: &Policy) -> Result<()>;
    async fn delete_policy(&mut self, id: Uuid) -> Result<bool>;

    /// Where a person's record came from (locked with the transaction's other reads).
    async fn get_user_source(&mut self, id: Uuid) -> Result<Option<cc_domain::UserSource>>;
    /// Records (inserts or replaces) where a person's record came from.
    async fn put_user_source(&mut self, s: &cc_domain::UserSource) -> Result<()>;

    /// Appends an event to the audit chain.
    async fn append_audit(&mut self, e: NewAuditEvent) -> Result<AuditEvent>;
    /// The job a request with this one-time key made, if one did.
    async fn request_key_job(&mut self, key: &str) -> Result<Option<i64>>;
    /// Records that the request with this one-time key made `job_id`; `false` when the key
    /// was recorded already (a concurrent request with it won: roll back).
    async fn insert_request_key(&mut self, key: &str, job_id: i64) -> Result<bool>;
    /// Appends a notice to the event log (the live stream sends it once this commits).
    async fn append_notice(&mut self, n: &cc_domain::NewNotice) -> Result<()>;
    /// Records that `w` is being warned about, unless this certificate was already warned
    /// about at this threshold or a smaller one: `true` when the caller should warn. Records
    /// of the same zone, host and pack with another expiry (a certificate since renewed)
    /// are removed.
    async fn claim_certificate_warning(
        &mut self,
        w: &certificates::CertificateWarning,
    ) -> Result<bool>;

    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Opens the store a database URL names: `sqlite://path` or `sqlite::memory:`, or
/// `postgres://…` / `postgresql://…`. Does not migrate.
///
/// # Errors
/// An unsupported scheme, or the database cannot be reached.
pub async fn connect(url: &str, pool: &PoolConfig) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url, pool).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url, pool).await?))
    } else {
        Err(StoreError::Config(
            "database URL must start with sqlite:// or postgres:// (see CC_DATABASE_URL)".into(),
        ))
    }
}

/// Removes the password from a database URL, for logs and `config` output.
///
/// Credentials end at the last `@`, as URL parsers read them, so a password that itself holds
/// an `@` is removed whole.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((creds, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact_url("postgres://cc:s3cret@db:5432/cc"),
            "postgres://cc:***@db:5432/cc"
        );
        assert_eq!(
            super::redact_url("postgres://cc@db/cc"),
            "postgres://cc@db/cc"
        );
        assert_eq!(
            super::redact_url("sqlite://data/x.db"),
            "sqlite://data/x.db"
        );
        assert_eq!(
            super::redact_url("postgres://cc:p@ss/w@rd@db/cc"),
            "postgres://cc:***@db/cc"
        );
    }
}
