//! Roster import storage shared by both backends; a module of each backend (it uses the
//! names `shared.rs` documents). Bulk statements bind at most `MAX_PARAMS` values each, under
//! SQLite's limit of 32,766 and PostgreSQL's of 65,535.

use async_trait::async_trait;
use cc_domain::{Group, ImportRun, ImportStatus, NewAuditEvent, User};
use futures::TryStreamExt;
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::bulk::{
    bulk_add_members, bulk_add_new_members, bulk_append_audit, bulk_insert_users,
    bulk_remove_members, first_load_begin, first_load_finish,
};
use super::*;
use crate::imports::{DirectorySnapshot, GroupRef, ImportStore, ImportTx};
use crate::rows::UserRow;

pub(super) const MAX_PARAMS: usize = 32_000;

#[derive(sqlx::FromRow)]
struct ImportRunRow {
    id: Uuid,
    actor: String,
    request_id: Option<String>,
    file_name: String,
    sha256: String,
    size_bytes: i64,
    format: Option<String>,
    status: String,
    dry_run: bool,
    options: Json<serde_json::Value>,
    counts: Json<serde_json::Value>,
    refusals: Json<serde_json::Value>,
    error_count: i64,
    plan: Option<Json<serde_json::Value>>,
    fingerprint: Option<String>,
    failure: Option<String>,
    created_at: chrono::DateTime<chrono::Utc>,
    planned_at: Option<chrono::DateTime<chrono::Utc>>,
    applied_at: Option<chrono::DateTime<chrono::Utc>>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

const RUN_SELECT: &str = "SELECT id, actor, request_id, file_name, sha256, size_bytes, format, status, dry_run, options, \
     counts, refusals, error_count, plan, fingerprint, failure, created_at, planned_at, applied_at, updated_at \
     FROM import_runs";

impl TryFrom<ImportRunRow> for ImportRun {
    type Error = StoreError;
    fn try_from(r: ImportRunRow) -> Result<Self> {
        Ok(ImportRun {
            id: r.id,
            actor: r.actor,
            request_id: r.request_id,
            file_name: r.file_name,
            sha256: r.sha256,
            size_bytes: r.size_bytes,
            format: r.format,
            status: r
                .status
                .parse::<ImportStatus>()
                .map_err(StoreError::Internal)?,
            dry_run: r.dry_run,
            options: r.options.0,
            counts: r.counts.0,
            refusals: r.refusals.0,
            error_count: r.error_count,
            errors: serde_json::Value::Array(Vec::new()),
            plan: r.plan.map(|j| j.0),
            fingerprint: r.fingerprint,
            failure: r.failure,
            progress: None,
            created_at: r.created_at,
            planned_at: r.planned_at,
            applied_at: r.applied_at,
            updated_at: r.updated_at,
        })
    }
}

/// Reads every person (groups as sorted names) and every group, streaming the rows.
pub(super) async fn load_snapshot(
    conn: &mut <Db as sqlx::Database>::Connection,
) -> Result<DirectorySnapshot> {
    let groups: Vec<(Uuid, String, String, Option<String>)> =
        sqlx::query_as("SELECT id, name, kind, external_id FROM groups")
            .fetch_all(&mut *conn)
            .await?;
    let groups: Vec<GroupRef> = groups
        .into_iter()
        .map(|(id, name, kind, external_id)| {
            Ok(GroupRef {
                id,
                name,
                kind: kind.parse().map_err(StoreError::Internal)?,
                external_id,
            })
        })
        .collect::<Result<_>>()?;
    let sql = "SELECT u.id, u.external_id, u.username, u.given_name, u.family_name, u.email, u.role, u.grade, \
               u.school, u.status, u.version, u.created_at, u.updated_at, CAST(NULL AS TEXT) AS group_names FROM users u";
    let mut users = Vec::new();
    let mut index: std::collections::HashMap<Uuid, u32> = std::collections::HashMap::new();
    {
        let mut rows = sqlx::query_as::<Db, UserRow>(sql).fetch(&mut *conn);
        while let Some(row) = rows.try_next().await? {
            let u = User::try_from(row)?;
            index.insert(u.id, u32::try_from(users.len()).unwrap_or(u32::MAX));
            users.push(u);
        }
    }
    let group_index: std::collections::HashMap<Uuid, usize> =
        groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
    {
        let mut rows =
            sqlx::query_as::<Db, (Uuid, Uuid)>("SELECT user_id, group_id FROM group_members")
                .fetch(&mut *conn);
        while let Some((uid, gid)) = rows.try_next().await? {
            if let (Some(&ui), Some(&gi)) = (index.get(&uid), group_index.get(&gid)) {
                users[ui as usize].groups.push(groups[gi].name.clone());
            }
        }
    }
    for u in &mut users {
        u.groups.sort();
    }
    Ok(DirectorySnapshot { users, groups })
}

#[async_trait]
impl ImportStore for Store {
    async fn directory_snapshot(&self) -> Result<DirectorySnapshot> {
        self.snapshot_for_planning().await
    }

    async fn begin_import(&self) -> Result<Box<dyn ImportTx>> {
        let mut tx = self.timed_begin().await?;
        if BACKEND == crate::Backend::Sqlite {
            // Bulk writes touch every index page; the default 2 MB page cache thrashes on them.
            sqlx::query("PRAGMA cache_size = -131072")
                .execute(&mut *tx)
                .await?;
        }
        Ok(Box::new(self.new_tx(tx)))
    }

    async fn begin_upload(&self) -> Result<Box<dyn ImportTx>> {
        let mut tx = self.timed_begin().await?;
        if BACKEND == crate::Backend::Sqlite {
            // The write connection may still carry an import's large page cache.
            sqlx::query("PRAGMA cache_size = -2000")
                .execute(&mut *tx)
                .await?;
        }
        Ok(Box::new(self.new_tx(tx)))
    }

    async fn get_import_run(&self, id: Uuid) -> Result<Option<ImportRun>> {
        let sql = format!("{RUN_SELECT} WHERE id = $1");
        let row: Option<ImportRunRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(ImportRun::try_from).transpose()
    }

    async fn list_import_runs(&self, limit: u32, before: Option<Uuid>) -> Result<Vec<ImportRun>> {
        let rows: Vec<ImportRunRow> = match before {
            Some(b) => {
                let sql = format!("{RUN_SELECT} WHERE id < $1 ORDER BY id DESC LIMIT $2");
                sqlx::query_as(&sql)
                    .bind(b)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?
            }
            None => {
                let sql = format!("{RUN_SELECT} ORDER BY id DESC LIMIT $1");
                sqlx::query_as(&sql)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?
            }
        };
        rows.into_iter().map(ImportRun::try_from).collect()
    }

    async fn import_file_chunk(&self, id: Uuid, seq: u32) -> Result<Option<Vec<u8>>> {
        Ok(
            sqlx::query_scalar("SELECT content FROM import_files WHERE run_id = $1 AND seq = $2")
                .bind(id)
                .bind(i64::from(seq))
                .fetch_optional(&mut *self.read_conn().await?)
                .await?,
        )
    }

    async fn prune_import_files(
        &self,
        before: chrono::DateTime<chrono::Utc>,
        failed_before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<u64> {
        let mut tx = self.timed_begin().await?;
        let runs: Vec<Uuid> = sqlx::query_scalar(
            "SELECT r.id FROM import_runs r WHERE r.status NOT IN ('planning', 'applying') \
             AND (r.updated_at < $1 OR (r.status = 'failed' AND r.updated_at < $2)) \
             AND EXISTS (SELECT 1 FROM import_files f WHERE f.run_id = r.id) ORDER BY r.updated_at LIMIT $3",
        )
        .bind(before)
        .bind(failed_before)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        for id in &runs {
            sqlx::query("DELETE FROM import_files WHERE run_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(runs.len() as u64)
    }

    async fn import_row_errors(&self, id: Uuid) -> Result<Option<serde_json::Value>> {
        let v: Option<Json<serde_json::Value>> =
            sqlx::query_scalar("SELECT row_errors FROM import_runs WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *self.read_conn().await?)
                .await?;
        Ok(v.map(|j| j.0))
    }
}

pub(super) fn chunk_rows(columns: usize) -> usize {
    (MAX_PARAMS / columns).max(1)
}

#[async_trait]
impl ImportTx for BackendTx {
    async fn directory_snapshot(&mut self) -> Result<DirectorySnapshot> {
        load_snapshot(&mut self.0).await
    }

    async fn enqueue_lifecycle(&mut self, batch: crate::LifecycleBatch<'_>) -> Result<u64> {
        // In slices, so a million-person import never holds a million jobs in memory at once.
        let mut enqueued = 0_u64;
        for slice in batch.intents.chunks(10_000) {
            let jobs: Vec<cc_domain::NewJob> = slice
                .iter()
                .map(|i| cc_domain::NewJob {
                    batch_id: Some(batch.batch_id),
                    created_by: Some(batch.actor.to_owned()),
                    request_id: batch.request_id.map(str::to_owned),
                    ..cc_domain::LifecycleJobArgs::new(i.user_id, i.operation).into_job()
                })
                .collect();
            enqueued += crate::JobTx::enqueue_many(self, &jobs).await?.len() as u64;
        }
        Ok(enqueued)
    }

    async fn insert_users_bulk(&mut self, users: &[User]) -> Result<()> {
        bulk_insert_users(&mut self.0, users).await
    }

    async fn update_users_bulk(&mut self, users: &[User]) -> Result<()> {
        for chunk in users.chunks(chunk_rows(12)) {
            let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(
                "WITH v (id, external_id, username, given_name, family_name, email, role, grade, school, status, \
                 version, updated_at) AS (",
            );
            qb.push_values(chunk, |mut b, u| {
                b.push_bind(u.id)
                    .push_bind(u.external_id.clone())
                    .push_bind(u.username.clone())
                    .push_bind(u.given_name.clone())
                    .push_bind(u.family_name.clone())
                    .push_bind(u.email.clone())
                    .push_bind(u.role.as_str())
                    .push_bind(u.grade)
                    .push_bind(u.school.clone())
                    .push_bind(u.status.as_str())
                    .push_bind(u.version)
                    .push_bind(u.updated_at);
            });
            qb.push(
                ") UPDATE users AS u SET external_id = v.external_id, username = v.username, given_name = v.given_name, \
                 family_name = v.family_name, email = v.email, role = v.role, grade = v.grade, school = v.school, \
                 status = v.status, version = v.version, updated_at = v.updated_at \
                 FROM v WHERE u.id = v.id AND u.version = v.version - 1",
            );
            let r = qb.build().execute(&mut *self.0).await?;
            if r.rows_affected() != chunk.len() as u64 {
                return Err(StoreError::VersionConflict);
            }
        }
        Ok(())
    }

    async fn insert_groups_bulk(&mut self, groups: &[Group]) -> Result<()> {
        for chunk in groups.chunks(chunk_rows(10)) {
            let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(
                "INSERT INTO groups (id, name, display_name, kind, school, external_id, description, version, \
                 created_at, updated_at) ",
            );
            qb.push_values(chunk, |mut b, g| {
                b.push_bind(g.id)
                    .push_bind(g.name.clone())
                    .push_bind(g.display_name.clone())
                    .push_bind(g.kind.as_str())
                    .push_bind(g.school.clone())
                    .push_bind(g.external_id.clone())
                    .push_bind(g.description.clone())
                    .push_bind(g.version)
                    .push_bind(g.created_at)
                    .push_bind(g.updated_at);
            });
            qb.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn add_members_bulk(&mut self, pairs: &[(Uuid, Uuid)]) -> Result<()> {
        bulk_add_members(&mut self.0, pairs).await
    }

    async fn add_new_members_bulk(&mut self, pairs: &[(Uuid, Uuid)]) -> Result<()> {
        bulk_add_new_members(&mut self.0, pairs).await
    }

    async fn begin_first_load(&mut self) -> Result<bool> {
        first_load_begin(self).await
    }

    async fn finish_first_load(&mut self) -> Result<()> {
        first_load_finish(self).await
    }

    async fn remove_members_bulk(&mut self, pairs: &[(Uuid, Uuid)]) -> Result<()> {
        bulk_remove_members(&mut self.0, pairs).await
    }

    async fn insert_user_sources_bulk(
        &mut self,
        user_ids: &[Uuid],
        source: cc_domain::RecordSource,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        for chunk in user_ids.chunks(chunk_rows(3)) {
            let mut qb: QueryBuilder<'_, Db> =
                QueryBuilder::new("INSERT INTO user_sources (user_id, source, updated_at) ");
            qb.push_values(chunk, |mut b, id| {
                b.push_bind(*id).push_bind(source.as_str()).push_bind(at);
            });
            qb.push(" ON CONFLICT (user_id) DO NOTHING");
            qb.build().execute(&mut *self.0).await?;
        }
        Ok(())
    }

    async fn append_audit_bulk(&mut self, events: Vec<NewAuditEvent>) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let head_sql = format!("SELECT seq, hash FROM audit_head WHERE id = 1{FOR_UPDATE}");
        let (seq, hash): (i64, String) = sqlx::query_as(&head_sql).fetch_one(&mut *self.0).await?;
        let (seq, hash) = bulk_append_audit(&mut self.0, events, seq, hash).await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(seq)
            .bind(&hash)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn insert_import_run(
        &mut self,
        run: &ImportRun,
        content: &[u8],
        row_errors: &serde_json::Value,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO import_runs (id, actor, request_id, file_name, sha256, size_bytes, format, status, dry_run, \
             options, counts, refusals, error_count, row_errors, plan, fingerprint, failure, created_at, planned_at, \
             applied_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17, $18, $19, $20, $21)",
        )
        .bind(run.id)
        .bind(&run.actor)
        .bind(&run.request_id)
        .bind(&run.file_name)
        .bind(&run.sha256)
        .bind(run.size_bytes)
        .bind(&run.format)
        .bind(run.status.as_str())
        .bind(run.dry_run)
        .bind(Json(&run.options))
        .bind(Json(&run.counts))
        .bind(Json(&run.refusals))
        .bind(run.error_count)
        .bind(Json(row_errors))
        .bind(run.plan.as_ref().map(Json))
        .bind(&run.fingerprint)
        .bind(&run.failure)
        .bind(run.created_at)
        .bind(run.planned_at)
        .bind(run.applied_at)
        .bind(run.updated_at)
        .execute(&mut *self.0)
        .await?;
        if !content.is_empty() {
            self.insert_import_file_chunk(run.id, 0, content).await?;
        }
        Ok(())
    }

    async fn insert_import_file_chunk(&mut self, id: Uuid, seq: u32, chunk: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO import_files (run_id, seq, content) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(i64::from(seq))
            .bind(chunk)
            .execute(&mut *self.0)
            .await?;
        Ok(())
    }

    async fn update_import_run(
        &mut self,
        run: &ImportRun,
        row_errors: Option<&serde_json::Value>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE import_runs SET format = $2, status = $3, options = $4, counts = $5, refusals = $6, \
             error_count = $7, plan = $8, fingerprint = $9, failure = $10, planned_at = $11, applied_at = $12, \
             updated_at = $13 WHERE id = $1",
        )
        .bind(run.id)
        .bind(&run.format)
        .bind(run.status.as_str())
        .bind(Json(&run.options))
        .bind(Json(&run.counts))
        .bind(Json(&run.refusals))
        .bind(run.error_count)
        .bind(run.plan.as_ref().map(Json))
        .bind(&run.fingerprint)
        .bind(&run.failure)
        .bind(run.planned_at)
        .bind(run.applied_at)
        .bind(run.updated_at)
        .execute(&mut *self.0)
        .await?;
        if let Some(errors) = row_errors {
            sqlx::query("UPDATE import_runs SET row_errors = $2 WHERE id = $1")
                .bind(run.id)
                .bind(Json(errors))
                .execute(&mut *self.0)
                .await?;
        }
        Ok(())
    }

    async fn lock_import_run(&mut self, id: Uuid) -> Result<Option<ImportRun>> {
        let sql = format!("{RUN_SELECT} WHERE id = $1{FOR_UPDATE}");
        let row: Option<ImportRunRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(ImportRun::try_from).transpose()
    }
}
