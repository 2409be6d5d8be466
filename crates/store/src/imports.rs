//! Storage for roster imports: a snapshot of the directory to plan against, bulk writes that
//! scale to a million people in one transaction, and import runs.
//!
//! Both backends implement these traits (`sql/imports.rs`); [`Store::imports`](crate::Store::imports)
//! hands them out.

use async_trait::async_trait;
use cc_domain::{Group, GroupKind, ImportRun, LifecycleIntent, NewAuditEvent, User};
use serde_json::Value;
use uuid::Uuid;

use crate::{Result, Tx};

/// A group as an import needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: Uuid,
    pub name: String,
    pub kind: GroupKind,
    pub external_id: Option<String>,
}

/// Every person (with group names, sorted) and every group.
#[derive(Debug, Clone, Default)]
pub struct DirectorySnapshot {
    pub users: Vec<User>,
    pub groups: Vec<GroupRef>,
}

/// The lifecycle jobs of one applied import, enqueued as one batch.
#[derive(Debug, Clone, Copy)]
pub struct LifecycleBatch<'a> {
    /// The import run; jobs carry it as their batch id.
    pub batch_id: Uuid,
    pub actor: &'a str,
    pub request_id: Option<&'a str>,
    pub intents: &'a [LifecycleIntent],
}

/// Import operations on the pool.
#[async_trait]
pub trait ImportStore: Send + Sync {
    /// Reads the whole directory (for planning a dry run).
    async fn directory_snapshot(&self) -> Result<DirectorySnapshot>;
    /// Starts a write transaction with the bulk operations an import needs.
    async fn begin_import(&self) -> Result<Box<dyn ImportTx>>;
    /// Starts a write transaction for storing a run and its uploaded file: no bulk writes,
    /// so the backend keeps its default cache (an upload's chunks pass through it once).
    async fn begin_upload(&self) -> Result<Box<dyn ImportTx>>;
    async fn get_import_run(&self, id: Uuid) -> Result<Option<ImportRun>>;
    /// Runs, newest first; `before` is the id of the last run of the previous page.
    async fn list_import_runs(&self, limit: u32, before: Option<Uuid>) -> Result<Vec<ImportRun>>;
    /// One chunk of a run's uploaded file (`seq` from 0); `None` past the last one, or when
    /// the file is not stored (never, or pruned).
    async fn import_file_chunk(&self, id: Uuid, seq: u32) -> Result<Option<Vec<u8>>>;
    /// Deletes the uploaded files of finished runs last updated before `before`, and of failed
    /// runs before `failed_before`, at most `limit` runs' files per call; returns how many
    /// runs lost their file. Runs still planning or applying keep theirs; the runs themselves
    /// (the record of what was imported) are kept.
    async fn prune_import_files(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        failed_before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64>;
    /// Every row error of a run (a JSON array).
    async fn import_row_errors(&self, id: Uuid) -> Result<Option<Value>>;
}

/// A write transaction for an import. Everything commits together, or nothing does.
#[async_trait]
pub trait ImportTx: Tx {
    /// Reads the whole directory inside the transaction (apply re-plans against it).
    async fn directory_snapshot(&mut self) -> Result<DirectorySnapshot>;
    async fn insert_users_bulk(&mut self, users: &[User]) -> Result<()>;
    /// Writes users that carry their next version; fails with `VersionConflict` when any of
    /// them changed since it was read.
    async fn update_users_bulk(&mut self, users: &[User]) -> Result<()>;
    async fn insert_groups_bulk(&mut self, groups: &[Group]) -> Result<()>;
    /// Adds `(group_id, user_id)` memberships (existing ones are kept).
    async fn add_members_bulk(&mut self, pairs: &[(Uuid, Uuid)]) -> Result<()>;
    /// Adds memberships of people inserted earlier in this transaction (by
    /// [`insert_users_bulk`](Self::insert_users_bulk)): none of them can exist yet, so a backend
    /// may write them without looking for existing ones.
    async fn add_new_members_bulk(&mut self, pairs: &[(Uuid, Uuid)]) -> Result<()>;
    async fn remove_members_bulk(&mut self, pairs: &[(Uuid, Uuid)]) -> Result<()>;
    /// Records the source of people inserted earlier in this transaction (people who have a
    /// source record already keep it).
    async fn insert_user_sources_bulk(
        &mut self,
        user_ids: &[Uuid],
        source: cc_domain::RecordSource,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()>;
    /// Appends events to the audit chain, in order, with a few statements.
    async fn append_audit_bulk(&mut self, events: Vec<NewAuditEvent>) -> Result<()>;

    /// Called before the first write of an import into an empty directory (no people, hence
    /// no memberships). A backend may then take the directory's tables for the rest of the
    /// transaction and set aside their secondary indexes and foreign keys, to build them once
    /// over the written rows in [`finish_first_load`](Self::finish_first_load) instead of
    /// maintaining them row by row. Returns whether it did (`false` when the directory is not
    /// empty after all, or the backend has nothing to gain).
    ///
    /// On PostgreSQL this takes `ACCESS EXCLUSIVE` locks on `users`, `group_members` and
    /// `groups` until the transaction ends: other sessions cannot read those tables meanwhile.
    async fn begin_first_load(&mut self) -> Result<bool>;
    /// Builds what [`begin_first_load`](Self::begin_first_load) set aside, checking every
    /// constraint over the written rows; a violation fails the transaction. Does nothing when
    /// nothing was set aside; committing calls it too.
    async fn finish_first_load(&mut self) -> Result<()>;

    /// Enqueues the lifecycle jobs of an import (`lifecycle.<operation>`, one per intent) as one
    /// batch whose id is the import run's, in this transaction; returns how many.
    async fn enqueue_lifecycle(&mut self, batch: LifecycleBatch<'_>) -> Result<u64>;

    /// Stores a new run; a non-empty `content` is stored as the first chunk of its file.
    async fn insert_import_run(
        &mut self,
        run: &ImportRun,
        content: &[u8],
        row_errors: &Value,
    ) -> Result<()>;
    /// Stores chunk `seq` of a run's uploaded file.
    async fn insert_import_file_chunk(&mut self, id: Uuid, seq: u32, chunk: &[u8]) -> Result<()>;
    /// Stores a run's status, counts, plan and refusals (and its row errors when given).
    async fn update_import_run(
        &mut self,
        run: &ImportRun,
        row_errors: Option<&Value>,
    ) -> Result<()>;
    /// Reads a run and locks it for the rest of the transaction.
    async fn lock_import_run(&mut self, id: Uuid) -> Result<Option<ImportRun>>;
}
