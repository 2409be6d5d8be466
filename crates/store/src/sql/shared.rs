//! SQL shared by the SQLite and PostgreSQL backends.
//!
//! This file is a module of both `sqlite.rs` and `postgres.rs` (`#[path]`), compiled once per
//! backend; each parent defines:
//! - `type Db` (the sqlx database), `Store` (the store struct) and `BackendTx` (its transaction),
//! - `Store::reader()` (the pool reads run on), `Store::control_pool()` and `Store::begin_write()`,
//! - `READ_POOL` / `WRITE_POOL` / `CONTROL_POOL` (pool names for metrics),
//! - `platform_match(placeholder)` (SQL true when a policy applies to that platform),
//! - `text_index_table(table)` (the full-text table and rowid column that can narrow a `?q=`
//!   search of `table`, if any),
//! - `USER_ID_TEXT` (SQL for `u.id` as hyphenated text, as in a job's `args ->> 'user_id'`),
//! - `GROUP_AGG` (SQL aggregating `g.name` into a comma-separated list) and
//!   `FOR_UPDATE` (the row-lock suffix, empty on SQLite whose write transactions lock the file).
//!
//! Everything here is ordinary Rust over those names; the dialects agree on the rest
//! (`$n` placeholders, `RETURNING`, row values, `ON CONFLICT`).

use std::sync::LazyLock;

use async_trait::async_trait;
use cc_domain::user::UserSort;
use cc_domain::{
    AuditEvent, AuditQuery, Device, DeviceQuery, Group, GroupQuery, NewAuditEvent, Page, Policy,
    PolicyQuery, User, UserQuery, ValidationErrors,
};
use sqlx::types::Json;
use uuid::Uuid;

use super::*;
use crate::query::{paginate, trigram_phrase, Arg, Sql, TextIndex};
use crate::rows::{convert, AuditRow, DeviceRow, GroupRow, PolicyRow, UserRow};
use crate::{DirectoryCounts, Result, StoreError, Tx};

static USER_SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT u.id, u.external_id, u.username, u.given_name, u.family_name, u.email, u.role, u.grade, \
         u.school, u.status, u.version, u.created_at, u.updated_at, \
         (SELECT {GROUP_AGG} FROM group_members gm JOIN groups g ON g.id = gm.group_id WHERE gm.user_id = u.id) \
         AS group_names FROM users u"
    )
});

const GROUP_SELECT: &str =
    "SELECT g.id, g.name, g.display_name, g.kind, g.school, g.external_id, g.description, \
     (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) AS member_count, \
     g.version, g.created_at, g.updated_at FROM groups g";

const DEVICE_SELECT: &str = "SELECT d.id, d.serial_number, d.name, d.platform, d.model, d.os_version, \
     d.assigned_user_id, d.facts, d.last_check_in_at, d.compliance, d.version, d.created_at, d.updated_at \
     FROM devices d";

const POLICY_SELECT: &str =
    "SELECT p.id, p.name, p.description, p.category, p.platforms, p.rule, p.severity, \
     p.enabled, p.remediation, p.version, p.created_at, p.updated_at FROM policies p";

const AUDIT_SELECT: &str =
    "SELECT seq, occurred_at, actor, action, target_type, target_id, request_id, \
     before, after, prev_hash, hash FROM audit_events";

/// Runs a built query and collects its rows.
pub(super) async fn fetch<'e, R, E>(executor: E, sql: Sql) -> Result<Vec<R>>
where
    R: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    E: sqlx::Executor<'e, Database = Db>,
{
    let mut q = sqlx::query_as::<Db, R>(&sql.text);
    for a in sql.args {
        q = match a {
            Arg::Text(v) => q.bind(v),
            Arg::Int(v) => q.bind(v),
            Arg::Uuid(v) => q.bind(v),
            Arg::Bool(v) => q.bind(v),
            Arg::Time(v) => q.bind(v),
        };
    }
    Ok(q.fetch_all(executor).await?)
}

/// Upserts a person's link to a target (`$1` … `$9`: user, target, account id, status, last
/// operation, last job, last error, synced at, updated at), writing nothing when the person is
/// gone (deleted while the job ran).
const UPSERT_LINK: &str = "INSERT INTO target_links (user_id, target, account_id, status, \
     last_operation, last_job_id, last_error, synced_at, updated_at) \
     SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM users WHERE id = $1) \
     ON CONFLICT (user_id, target) DO UPDATE SET account_id = excluded.account_id, status = excluded.status, \
     last_operation = excluded.last_operation, last_job_id = excluded.last_job_id, \
     last_error = excluded.last_error, synced_at = excluded.synced_at, updated_at = excluded.updated_at";

/// [`UPSERT_LINK`] with `l` bound.
pub(super) fn upsert_link(
    l: &cc_domain::TargetLinkRecord,
) -> sqlx::query::Query<'_, Db, <Db as sqlx::Database>::Arguments<'_>> {
    sqlx::query(UPSERT_LINK)
        .bind(l.user_id)
        .bind(&l.target)
        .bind(&l.account_id)
        .bind(l.status.as_str())
        .bind(l.last_operation.as_str())
        .bind(l.last_job_id)
        .bind(&l.last_error)
        .bind(l.synced_at)
        .bind(l.updated_at)
}

/// SQL true when a target link of user `u` failed.
const SYNC_FAILED: &str =
    "EXISTS (SELECT 1 FROM target_links tl WHERE tl.user_id = u.id AND tl.status = 'failed')";

/// SQL true when user `u` has an unfinished lifecycle job (the `jobs_lifecycle_user` index).
static SYNC_PENDING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "EXISTS (SELECT 1 FROM jobs j WHERE (j.args ->> 'user_id') = {USER_ID_TEXT} \
         AND j.kind LIKE 'lifecycle.%' AND j.state IN ('available', 'scheduled', 'running', 'retryable'))"
    )
});

/// SQL for user `u`'s sync state: `'failed'`, `'pending'` or `'in_sync'`, as [`sync_clause`]
/// decides it.
static SYNC_STATE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "CASE WHEN {SYNC_FAILED} THEN 'failed' WHEN {} THEN 'pending' ELSE 'in_sync' END",
        *SYNC_PENDING
    )
});

/// `USER_SELECT` with each person's sync state ([`SYNC_STATE`]) and target links
/// ([`LINKS_JSON`]) as two more columns,
/// `sync_state`.
static SYNCED_USER_SELECT: LazyLock<String> = LazyLock::new(|| {
    USER_SELECT.replacen(
        " FROM users u",
        &format!(
            ", {} AS sync_state, {LINKS_JSON} AS links FROM users u",
            *SYNC_STATE
        ),
        1,
    )
});

/// A row of [`SYNCED_USER_SELECT`].
#[derive(sqlx::FromRow)]
struct SyncedUserRow {
    #[sqlx(flatten)]
    user: UserRow,
    sync_state: String,
    links: Option<String>,
}

impl SyncedUserRow {
    /// A row read with `rusqlite` (SQLite's direct reads, `sqlite/direct.rs`).
    fn from_sqlite(r: &rusqlite::Row<'_>) -> Result<Self> {
        let bad = |e: rusqlite::Error| StoreError::Internal(format!("reading a person: {e}"));
        Ok(Self {
            user: UserRow::from_sqlite(r)?,
            sync_state: r.get(14).map_err(bad)?,
            links: r.get(15).map_err(bad)?,
        })
    }
}

/// The links of one person as [`LINKS_JSON`] gives them.
fn synced_targets(json: Option<&str>) -> Result<Vec<cc_domain::TargetSync>> {
    let bad = |e: &dyn std::fmt::Display| StoreError::Internal(format!("target links column: {e}"));
    let Some(json) = json else {
        return Ok(Vec::new());
    };
    let rows: Vec<(String, String, Option<String>, String)> =
        serde_json::from_str(json).map_err(|e| bad(&e))?;
    rows.into_iter()
        .map(|(target, status, error, updated_at)| {
            let status: cc_domain::LinkStatus = status.parse().map_err(|e: String| bad(&e))?;
            let at = crate::rows::stored_time(&updated_at)?;
            Ok(cc_domain::TargetSync::from_parts(target, status, error, at))
        })
        .collect()
}

fn sync_state(name: &str) -> Result<cc_domain::SyncState> {
    cc_domain::SyncState::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| StoreError::Internal(format!("unknown sync state `{name}`")))
}

/// The target links of these people, by target name (`$1…$n`: the ids).
async fn links_of(
    conn: &mut <Db as sqlx::Database>::Connection,
    ids: &[Uuid],
) -> Result<Vec<cc_domain::TargetLinkRecord>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT user_id, target, account_id, status, last_operation, last_job_id, last_error, \
         synced_at, updated_at FROM target_links WHERE user_id IN ({}) ORDER BY target",
        id_params(ids.len())
    );
    let mut links = sqlx::query_as::<Db, LinkRow>(&sql);
    for id in ids {
        links = links.bind(*id);
    }
    links
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(cc_domain::TargetLinkRecord::try_from)
        .collect()
}

/// `$1, $2, …, $n`.
fn id_params(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// SQL true when user `u` is in `state`.
fn sync_clause(state: cc_domain::SyncState) -> String {
    match state {
        cc_domain::SyncState::Failed => SYNC_FAILED.to_owned(),
        cc_domain::SyncState::Pending => format!("NOT {SYNC_FAILED} AND {}", *SYNC_PENDING),
        cc_domain::SyncState::InSync => format!("NOT {SYNC_FAILED} AND NOT {}", *SYNC_PENDING),
    }
}

/// A text index narrows a search when it finds fewer rows than a quarter of the table (and
/// always below this many). Narrowing fetches and sorts every match, so its cost grows with
/// their number; a search matching more rows than that (`?q=example.org` when every address
/// is at example.org) walks the table in the requested order instead, which meets a page of
/// matches after a few hundred rows.
pub(super) const NARROW_MIN: i64 = 1000;

/// The text index to narrow a `?q=` search of `table` to, when there is one (SQLite's FTS5
/// trigram tables), `q` has a trigram, and the index finds few enough rows (see
/// [`NARROW_MIN`]; the count stops at the cap, so it stays cheap for common text). The
/// search's own substring test still decides which rows match, so this changes only how
/// they are found, never which.
pub(super) async fn text_index(
    conn: &mut <Db as sqlx::Database>::Connection,
    table: &str,
    q: Option<&str>,
) -> Result<Option<TextIndex>> {
    let Some((fts, rowid)) = text_index_table(table) else {
        return Ok(None);
    };
    let Some(phrase) = q.and_then(trigram_phrase) else {
        return Ok(None);
    };
    // `max(rowid)` (a lookup at the end of the table) stands for the number of rows.
    let sql = format!(
        "WITH cap (n) AS (SELECT max({NARROW_MIN}, coalesce((SELECT max(rowid) FROM {table}), 0) / 4)) \
         SELECT (SELECT count(*) FROM (SELECT 1 FROM {fts} WHERE {fts} MATCH $1 \
         LIMIT (SELECT n FROM cap))) < (SELECT n FROM cap)"
    );
    let (narrow,): (bool,) = sqlx::query_as(&sql)
        .bind(&phrase)
        .fetch_one(&mut *conn)
        .await?;
    Ok(narrow.then_some(TextIndex {
        table: fts,
        rowid,
        phrase,
    }))
}

pub(super) fn user_sql(q: &UserQuery, member_of: Option<Uuid>, index: Option<&TextIndex>) -> Sql {
    user_sql_from(&USER_SELECT, q, member_of, index)
}

/// [`user_sql`] on another select of `users u` (`SYNCED_USER_SELECT`).
fn user_sql_from(
    select: &str,
    q: &UserQuery,
    member_of: Option<Uuid>,
    index: Option<&TextIndex>,
) -> Sql {
    let mut s = Sql::new(select);
    s.push(" WHERE 1=1");
    if let Some(v) = q.status {
        s.eq("u.status", Arg::Text(v.as_str().into()));
    }
    if let Some(v) = q.role {
        s.eq("u.role", Arg::Text(v.as_str().into()));
    }
    if let Some(v) = q.grade {
        s.eq("u.grade", Arg::Int(i64::from(v)));
    }
    if let Some(v) = &q.school {
        s.eq("u.school", Arg::Text(v.clone()));
    }
    if let Some(v) = &q.group {
        let p = s.arg(Arg::Text(v.clone()));
        s.push(&format!(
            " AND EXISTS (SELECT 1 FROM group_members gm JOIN groups g ON g.id = gm.group_id \
             WHERE gm.user_id = u.id AND g.name = {p})"
        ));
    }
    if let Some(gid) = member_of {
        let p = s.arg(Arg::Uuid(gid));
        s.push(&format!(" AND EXISTS (SELECT 1 FROM group_members gm WHERE gm.user_id = u.id AND gm.group_id = {p})"));
    }
    if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
        s.text_search_in(
            &[
                "u.username",
                "u.given_name",
                "u.family_name",
                "u.email",
                "u.external_id",
            ],
            text,
            index,
        );
    }
    if let Some(state) = q.sync {
        s.push(&format!(" AND {}", sync_clause(state)));
    }
    let column = match q.sort {
        UserSort::Username => Some(("u.username", true)),
        UserSort::FamilyName => Some(("u.family_name", false)),
        UserSort::CreatedAt => None,
    };
    s.keyset_on("u.id", column, q.dir, q.cursor.as_ref(), q.limit);
    s
}

fn user_page(rows: Vec<UserRow>, q: &UserQuery) -> Result<Page<User>> {
    Ok(users_page(convert(rows)?, q))
}

/// The page `q` asked for, of the people its query read (one more than the limit when there
/// are more).
fn users_page(users: Vec<User>, q: &UserQuery) -> Page<User> {
    paginate(users, q.limit, q.sort.name(), |u| {
        (q.sort.value_of(u), u.id)
    })
}

fn by_id_page<T>(items: Vec<T>, limit: u32, id: impl Fn(&T) -> Uuid) -> Page<T> {
    paginate(items, limit, "id", |x| (String::new(), id(x)))
}

#[async_trait]
impl crate::Store for Store {
    async fn user_sources(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, cc_domain::UserSource>> {
        self.user_sources_impl(ids).await
    }

    async fn user_id_by_scim_name(&self, name: &str) -> Result<Option<Uuid>> {
        self.user_id_by_scim_name_impl(name).await
    }

    fn backend(&self) -> crate::Backend {
        BACKEND
    }

    fn change_generation(&self) -> Option<u64> {
        self.change_generation_impl()
    }

    fn auth_generation(&self) -> Option<u64> {
        self.auth_generation_impl()
    }

    fn generations(&self) -> (Option<u64>, Option<u64>) {
        self.generations_impl()
    }

    fn note_local_change(&self) {
        self.note_local_change_impl();
    }

    fn auth(&self) -> &dyn crate::AuthStore {
        self
    }

    async fn begin(&self) -> Result<Box<dyn Tx>> {
        Ok(Box::new(self.new_tx(self.timed_begin().await?)))
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&mut *self.control_conn().await?)
            .await?;
        Ok(())
    }

    async fn migration_status(&self) -> Result<crate::MigrationStatus> {
        self.migration_status_impl().await
    }

    async fn migrate_up(&self) -> Result<Vec<i64>> {
        self.migrate_up_impl().await
    }

    async fn migrate_down(&self, steps: u32) -> Result<Vec<i64>> {
        self.migrate_down_impl(steps).await
    }

    fn pool_stats(&self) -> Vec<crate::PoolStats> {
        self.pool_stats_impl()
    }

    async fn close(&self) {
        self.close_impl().await;
    }

    async fn get_user(&self, id: Uuid) -> Result<Option<User>> {
        let sql = format!("{} WHERE u.id = $1", *USER_SELECT);
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(User::try_from).transpose()
    }

    async fn get_user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("{} WHERE u.username = $1", *USER_SELECT);
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(username)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(User::try_from).transpose()
    }

    async fn list_users(&self, q: &UserQuery) -> Result<Page<User>> {
        let mut conn = self.read_conn().await?;
        let index = text_index(&mut conn, "users", q.q.as_deref()).await?;
        let rows: Vec<UserRow> = fetch(&mut *conn, user_sql(q, None, index.as_ref())).await?;
        user_page(rows, q)
    }

    async fn list_users_synced(&self, q: &UserQuery) -> Result<Page<User>> {
        // One statement, so one snapshot and one round trip: each person's state and links
        // are columns of the page's own query.
        let index = if q.q.as_deref().and_then(trigram_phrase).is_some() {
            let mut conn = self.read_conn().await?;
            text_index(&mut conn, "users", q.q.as_deref()).await?
        } else {
            None
        };
        let sql = user_sql_from(&SYNCED_USER_SELECT, q, None, index.as_ref());
        let rows: Vec<SyncedUserRow> = match self.direct_reads() {
            Some(direct) => direct.rows(sql, SyncedUserRow::from_sqlite).await?,
            None => fetch(&mut *self.read_conn().await?, sql).await?,
        };
        let mut users = Vec::with_capacity(rows.len());
        for row in rows {
            let mut user = User::try_from(row.user)?;
            user.sync = Some(cc_domain::UserSync {
                state: sync_state(&row.sync_state)?,
                targets: synced_targets(row.links.as_deref())?,
            });
            users.push(user);
        }
        Ok(users_page(users, q))
    }

    async fn count_sync_states(&self) -> Result<Vec<(cc_domain::SyncState, i64)>> {
        let mut out = Vec::new();
        let mut conn = self.read_conn().await?;
        for state in cc_domain::SyncState::ALL {
            let sql = format!("SELECT count(*) FROM users u WHERE {}", sync_clause(state));
            let n: i64 = sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?;
            out.push((state, n));
        }
        Ok(out)
    }

    async fn user_sync(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, cc_domain::UserSync>> {
        use cc_domain::{TargetSync, UserSync};
        let mut out = std::collections::HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT u.id, {} FROM users u WHERE u.id IN ({})",
            *SYNC_STATE,
            id_params(ids.len())
        );
        let mut states = sqlx::query_as::<Db, (Uuid, String)>(&sql);
        for id in ids {
            states = states.bind(*id);
        }
        let mut conn = self.read_conn().await?;
        for (id, state) in states.fetch_all(&mut *conn).await? {
            out.insert(
                id,
                UserSync {
                    state: sync_state(&state)?,
                    targets: Vec::new(),
                },
            );
        }
        for link in links_of(&mut conn, ids).await? {
            if let Some(sync) = out.get_mut(&link.user_id) {
                sync.targets.push(TargetSync::of(&link));
            }
        }
        Ok(out)
    }

    async fn get_group(&self, id: Uuid) -> Result<Option<Group>> {
        let sql = format!("{GROUP_SELECT} WHERE g.id = $1");
        let row: Option<GroupRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(Group::try_from).transpose()
    }

    async fn get_group_by_name(&self, name: &str) -> Result<Option<Group>> {
        let sql = format!("{GROUP_SELECT} WHERE g.name = $1");
        let row: Option<GroupRow> = sqlx::query_as(&sql)
            .bind(name)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(Group::try_from).transpose()
    }

    async fn list_groups(&self, q: &GroupQuery) -> Result<Page<Group>> {
        let mut s = Sql::new(GROUP_SELECT);
        s.push(" WHERE 1=1");
        if let Some(v) = q.kind {
            s.eq("g.kind", Arg::Text(v.as_str().into()));
        }
        if let Some(v) = &q.school {
            s.eq("g.school", Arg::Text(v.clone()));
        }
        let mut conn = self.read_conn().await?;
        if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
            let index = text_index(&mut conn, "groups", Some(text)).await?;
            let columns = ["g.name", "g.display_name", "g.external_id"];
            s.text_search_in(&columns, text, index.as_ref());
        }
        s.keyset("g.id", None, q.dir, q.cursor.as_ref(), q.limit);
        let rows: Vec<GroupRow> = fetch(&mut *conn, s).await?;
        Ok(by_id_page(convert(rows)?, q.limit, |g: &Group| g.id))
    }

    async fn group_members(&self, group_id: Uuid, q: &UserQuery) -> Result<Page<User>> {
        let mut conn = self.read_conn().await?;
        let index = text_index(&mut conn, "users", q.q.as_deref()).await?;
        let rows: Vec<UserRow> =
            fetch(&mut *conn, user_sql(q, Some(group_id), index.as_ref())).await?;
        user_page(rows, q)
    }

    async fn get_device(&self, id: Uuid) -> Result<Option<Device>> {
        let sql = format!("{DEVICE_SELECT} WHERE d.id = $1");
        let row: Option<DeviceRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(Device::try_from).transpose()
    }

    async fn list_devices(&self, q: &DeviceQuery) -> Result<Page<Device>> {
        let mut s = Sql::new(DEVICE_SELECT);
        s.push(" WHERE 1=1");
        if let Some(v) = q.platform {
            s.eq("d.platform", Arg::Text(v.as_str().into()));
        }
        if let Some(v) = q.compliance {
            s.eq("d.compliance", Arg::Text(v.as_str().into()));
        }
        if let Some(v) = q.assigned_user_id {
            s.eq("d.assigned_user_id", Arg::Uuid(v));
        }
        let mut conn = self.read_conn().await?;
        if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
            let index = text_index(&mut conn, "devices", Some(text)).await?;
            let columns = ["d.serial_number", "d.name", "d.model"];
            s.text_search_in(&columns, text, index.as_ref());
        }
        s.keyset("d.id", None, q.dir, q.cursor.as_ref(), q.limit);
        let rows: Vec<DeviceRow> = fetch(&mut *conn, s).await?;
        Ok(by_id_page(convert(rows)?, q.limit, |d: &Device| d.id))
    }

    async fn get_policy(&self, id: Uuid) -> Result<Option<Policy>> {
        let sql = format!("{POLICY_SELECT} WHERE p.id = $1");
        let row: Option<PolicyRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.read_conn().await?)
            .await?;
        row.map(Policy::try_from).transpose()
    }

    async fn list_policies(&self, q: &PolicyQuery) -> Result<Page<Policy>> {
        let mut s = Sql::new(POLICY_SELECT);
        s.push(" WHERE 1=1");
        if let Some(v) = q.category {
            s.eq("p.category", Arg::Text(v.as_str().into()));
        }
        if let Some(v) = q.enabled {
            s.eq("p.enabled", Arg::Bool(v));
        }
        if let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) {
            s.text_search(&["p.name", "p.description"], text);
        }
        if let Some(v) = q.platform {
            let p = s.arg(Arg::Text(v.as_str().into()));
            s.push(&format!(" AND {}", platform_match(&p)));
        }
        s.keyset("p.id", None, q.dir, q.cursor.as_ref(), q.limit);
        let rows: Vec<PolicyRow> = fetch(&mut *self.read_conn().await?, s).await?;
        Ok(by_id_page(convert(rows)?, q.limit, |p: &Policy| p.id))
    }

    async fn directory_counts(&self) -> Result<DirectoryCounts> {
        let users: Vec<(String, i64)> =
            sqlx::query_as("SELECT status, count(*) FROM users GROUP BY status")
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
        let devices: Vec<(String, i64)> =
            sqlx::query_as("SELECT compliance, count(*) FROM devices GROUP BY compliance")
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
        Ok(DirectoryCounts {
            users_by_status: users,
            devices_by_compliance: devices,
        })
    }

    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>> {
        let mut s = Sql::new(AUDIT_SELECT);
        s.push(" WHERE 1=1");
        if let Some(v) = &q.actor {
            s.eq("actor", Arg::Text(v.clone()));
        }
        if let Some(v) = &q.action {
            if v.ends_with('.') {
                let p = s.arg(Arg::Text(v.clone()));
                s.push(&format!(" AND substr(action, 1, length({p})) = {p}"));
            } else {
                s.eq("action", Arg::Text(v.clone()));
            }
        }
        if let Some(v) = &q.target_type {
            s.eq("target_type", Arg::Text(v.clone()));
        }
        if let Some(v) = &q.target_id {
            s.eq("target_id", Arg::Text(v.clone()));
        }
        if let Some(v) = &q.request_id {
            s.eq("request_id", Arg::Text(v.clone()));
        }
        if let Some(v) = q.since {
            let p = s.arg(Arg::Time(v));
            s.push(&format!(" AND occurred_at >= {p}"));
        }
        if let Some(v) = q.until {
            let p = s.arg(Arg::Time(v));
            s.push(&format!(" AND occurred_at < {p}"));
        }
        if let Some(v) = q.before_seq {
            let p = s.arg(Arg::Int(v));
            s.push(&format!(" AND seq < {p}"));
        }
        let p = s.arg(Arg::Int(i64::from(q.limit)));
        s.push(&format!(" ORDER BY seq DESC LIMIT {p}"));
        let rows: Vec<AuditRow> = fetch(&mut *self.read_conn().await?, s).await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    async fn audit_after(&self, after_seq: i64, limit: u32) -> Result<Vec<AuditEvent>> {
        let sql = format!("{AUDIT_SELECT} WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows: Vec<AuditRow> = sqlx::query_as(&sql)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.read_conn().await?)
            .await?;
        Ok(rows.into_iter().map(AuditEvent::from).collect())
    }

    async fn audit_head(&self) -> Result<(i64, String)> {
        Ok(
            sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
                .fetch_one(&mut *self.read_conn().await?)
                .await?,
        )
    }

    async fn list_target_links(&self, user_id: Uuid) -> Result<Vec<cc_domain::TargetLinkRecord>> {
        let rows: Vec<LinkRow> = sqlx::query_as(
            "SELECT user_id, target, account_id, status, last_operation, last_job_id, last_error, synced_at, updated_at \
             FROM target_links WHERE user_id = $1 ORDER BY target",
        )
        .bind(user_id)
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        rows.into_iter()
            .map(cc_domain::TargetLinkRecord::try_from)
            .collect()
    }

    async fn upsert_target_link(&self, l: &cc_domain::TargetLinkRecord) -> Result<()> {
        let mut tx = self.timed_begin().await?;
        upsert_link(l).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn newer_password_job(&self, user_id: Uuid, job_id: i64) -> Result<Option<i64>> {
        // `jobs_lifecycle_user` (migration 0005) makes this an index range scan.
        Ok(sqlx::query_scalar(
            "SELECT max(id) FROM jobs WHERE (args ->> 'user_id') = $2 AND id > $1 \
             AND kind LIKE 'lifecycle.%' AND args ->> 'sealed_password' IS NOT NULL",
        )
        .bind(job_id)
        .bind(user_id.to_string())
        .fetch_one(&mut *self.read_conn().await?)
        .await?)
    }

    async fn earlier_lifecycle_job(
        &self,
        user_id: Uuid,
        job_id: i64,
    ) -> Result<Option<(i64, chrono::DateTime<chrono::Utc>)>> {
        // `jobs_lifecycle_user` (migration 0005) makes this an index range scan.
        Ok(sqlx::query_as(
            "SELECT id, run_at FROM jobs WHERE (args ->> 'user_id') = $1 AND id < $2 \
             AND kind LIKE 'lifecycle.%' AND state IN ('available', 'scheduled', 'running', 'retryable') \
             ORDER BY id LIMIT 1",
        )
        .bind(user_id.to_string())
        .bind(job_id)
        .fetch_optional(&mut *self.read_conn().await?)
        .await?)
    }

    async fn lifecycle_view(&self, user_id: Uuid, job_id: i64) -> Result<crate::LifecycleView> {
        let rows: Vec<LifecycleViewRow> = sqlx::query_as(&LIFECYCLE_VIEW_SELECT)
            .bind(user_id)
            .bind(user_id.to_string())
            .bind(job_id)
            .fetch_all(&mut *self.read_conn().await?)
            .await?;
        if rows.is_empty() {
            // The person is gone (a deprovision of a deleted person still needs the rest).
            return Ok(crate::LifecycleView {
                user: None,
                earlier: self.earlier_lifecycle_job(user_id, job_id).await?,
                links: self.list_target_links(user_id).await?,
            });
        }
        let mut view = crate::LifecycleView {
            user: None,
            earlier: None,
            links: Vec::new(),
        };
        for row in rows {
            if view.user.is_none() {
                view.earlier = row.earlier_id.zip(row.earlier_run_at);
                view.user = Some(User::try_from(row.user)?);
            }
            if let Some(target) = row.link_target {
                let missing =
                    || StoreError::Internal(format!("target link `{target}` is incomplete"));
                let link = LinkRow {
                    user_id,
                    account_id: row.link_account_id,
                    status: row.link_status.ok_or_else(missing)?,
                    last_operation: row.link_last_operation.ok_or_else(missing)?,
                    last_job_id: row.link_last_job_id,
                    last_error: row.link_last_error,
                    synced_at: row.link_synced_at,
                    updated_at: row.link_updated_at.ok_or_else(missing)?,
                    target,
                };
                view.links.push(link.try_into()?);
            }
        }
        Ok(view)
    }

    fn imports(&self) -> Option<&dyn crate::ImportStore> {
        Some(self)
    }

    fn notifications(&self) -> &dyn crate::NotificationStore {
        self
    }
}

impl Store {
    /// A pooled read connection; the wait is recorded as `cc_db_pool_acquire_duration_seconds`.
    pub(super) async fn read_conn(&self) -> Result<sqlx::pool::PoolConnection<Db>> {
        let start = std::time::Instant::now();
        let conn = self.reader().acquire().await?;
        metrics::histogram!("cc_db_pool_acquire_duration_seconds", "pool" => READ_POOL)
            .record(start.elapsed().as_secs_f64());
        Ok(conn)
    }

    /// A connection of the control pool (readiness checks), never behind bulk work.
    pub(super) async fn control_conn(&self) -> Result<sqlx::pool::PoolConnection<Db>> {
        let start = std::time::Instant::now();
        let conn = self.control_pool().acquire().await?;
        metrics::histogram!("cc_db_pool_acquire_duration_seconds", "pool" => CONTROL_POOL)
            .record(start.elapsed().as_secs_f64());
        Ok(conn)
    }

    /// Starts a write transaction, recording the wait for the connection.
    pub(super) async fn timed_begin(&self) -> Result<sqlx::Transaction<'static, Db>> {
        let start = std::time::Instant::now();
        let tx = self.begin_write().await?;
        metrics::histogram!("cc_db_pool_acquire_duration_seconds", "pool" => WRITE_POOL)
            .record(start.elapsed().as_secs_f64());
        Ok(tx)
    }
}

/// Maps "no row changed" on a versioned update to a version conflict.
pub(super) fn expect_one(result: <Db as sqlx::Database>::QueryResult) -> Result<()> {
    if result.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::VersionConflict)
    }
}

#[async_trait]
impl Tx for BackendTx {
    async fn get_user_source(&mut self, id: Uuid) -> Result<Option<cc_domain::UserSource>> {
        self.get_user_source_impl(id).await
    }

    async fn put_user_source(&mut self, s: &cc_domain::UserSource) -> Result<()> {
        self.put_user_source_impl(s).await
    }

    fn auth(&mut self) -> &mut dyn crate::AuthTx {
        self.note_auth_use();
        self
    }

    async fn get_user(&mut self, id: Uuid) -> Result<Option<User>> {
        let sql = format!("{} WHERE u.id = $1{FOR_UPDATE}", *USER_SELECT);
        let row: Option<UserRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(User::try_from).transpose()
    }

    async fn insert_user(&mut self, u: &User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, external_id, username, given_name, family_name, email, role, grade, school, \
             status, version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(u.id)
        .bind(&u.external_id)
        .bind(&u.username)
        .bind(&u.given_name)
        .bind(&u.family_name)
        .bind(&u.email)
        .bind(u.role.as_str())
        .bind(u.grade)
        .bind(&u.school)
        .bind(u.status.as_str())
        .bind(u.version)
        .bind(u.created_at)
        .bind(u.updated_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_user(&mut self, u: &User) -> Result<()> {
        let r = sqlx::query(
            "UPDATE users SET external_id = $2, username = $3, given_name = $4, family_name = $5, email = $6, \
             role = $7, grade = $8, school = $9, status = $10, version = $11, updated_at = $12 \
             WHERE id = $1 AND version = $11 - 1",
        )
        .bind(u.id)
        .bind(&u.external_id)
        .bind(&u.username)
        .bind(&u.given_name)
        .bind(&u.family_name)
        .bind(&u.email)
        .bind(u.role.as_str())
        .bind(u.grade)
        .bind(&u.school)
        .bind(u.status.as_str())
        .bind(u.version)
        .bind(u.updated_at)
        .execute(&mut *self.0)
        .await?;
        expect_one(r)
    }

    async fn delete_user(&mut self, id: Uuid) -> Result<bool> {
        let r = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn set_user_groups(&mut self, user_id: Uuid, names: &[String]) -> Result<()> {
        let mut ids = Vec::with_capacity(names.len());
        let mut errors = ValidationErrors::default();
        for name in names {
            let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM groups WHERE name = $1")
                .bind(name)
                .fetch_optional(&mut *self.0)
                .await?;
            match id {
                Some(id) => ids.push(id),
                None => errors.add("groups", format!("no group named `{name}`")),
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors));
        }
        let current: Vec<Uuid> =
            sqlx::query_scalar("SELECT group_id FROM group_members WHERE user_id = $1")
                .bind(user_id)
                .fetch_all(&mut *self.0)
                .await?;
        for gid in current.iter().filter(|g| !ids.contains(g)) {
            sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
                .bind(gid)
                .bind(user_id)
                .execute(&mut *self.0)
                .await?;
        }
        for gid in ids.iter().filter(|g| !current.contains(g)) {
            sqlx::query(
                "INSERT INTO group_members (group_id, user_id, added_at) VALUES ($1, $2, $3)",
            )
            .bind(gid)
            .bind(user_id)
            .bind(cc_domain::now())
            .execute(&mut *self.0)
            .await?;
        }
        Ok(())
    }

    async fn get_group(&mut self, id: Uuid) -> Result<Option<Group>> {
        let sql = format!("{GROUP_SELECT} WHERE g.id = $1{FOR_UPDATE}");
        let row: Option<GroupRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(Group::try_from).transpose()
    }

    async fn insert_group(&mut self, g: &Group) -> Result<()> {
        sqlx::query(
            "INSERT INTO groups (id, name, display_name, kind, school, external_id, description, version, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(g.id)
        .bind(&g.name)
        .bind(&g.display_name)
        .bind(g.kind.as_str())
        .bind(&g.school)
        .bind(&g.external_id)
        .bind(&g.description)
        .bind(g.version)
        .bind(g.created_at)
        .bind(g.updated_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_group(&mut self, g: &Group) -> Result<()> {
        let r = sqlx::query(
            "UPDATE groups SET name = $2, display_name = $3, kind = $4, school = $5, external_id = $6, \
             description = $7, version = $8, updated_at = $9 WHERE id = $1 AND version = $8 - 1",
        )
        .bind(g.id)
        .bind(&g.name)
        .bind(&g.display_name)
        .bind(g.kind.as_str())
        .bind(&g.school)
        .bind(&g.external_id)
        .bind(&g.description)
        .bind(g.version)
        .bind(g.updated_at)
        .execute(&mut *self.0)
        .await?;
        expect_one(r)
    }

    async fn delete_group(&mut self, id: Uuid) -> Result<bool> {
        let r = sqlx::query("DELETE FROM groups WHERE id = $1")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn add_member(&mut self, group_id: Uuid, user_id: Uuid) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO group_members (group_id, user_id, added_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(group_id)
        .bind(user_id)
        .bind(cc_domain::now())
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn remove_member(&mut self, group_id: Uuid, user_id: Uuid) -> Result<bool> {
        let r = sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND user_id = $2")
            .bind(group_id)
            .bind(user_id)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn get_device(&mut self, id: Uuid) -> Result<Option<Device>> {
        let sql = format!("{DEVICE_SELECT} WHERE d.id = $1{FOR_UPDATE}");
        let row: Option<DeviceRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(Device::try_from).transpose()
    }

    async fn insert_device(&mut self, d: &Device) -> Result<()> {
        self.check_user_exists(d.assigned_user_id).await?;
        sqlx::query(
            "INSERT INTO devices (id, serial_number, name, platform, model, os_version, assigned_user_id, facts, \
             last_check_in_at, compliance, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(d.id)
        .bind(&d.serial_number)
        .bind(&d.name)
        .bind(d.platform.as_str())
        .bind(&d.model)
        .bind(&d.os_version)
        .bind(d.assigned_user_id)
        .bind(Json(&d.facts))
        .bind(d.last_check_in_at)
        .bind(d.compliance.as_str())
        .bind(d.version)
        .bind(d.created_at)
        .bind(d.updated_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_device(&mut self, d: &Device) -> Result<()> {
        self.check_user_exists(d.assigned_user_id).await?;
        let r = sqlx::query(
            "UPDATE devices SET serial_number = $2, name = $3, platform = $4, model = $5, os_version = $6, \
             assigned_user_id = $7, facts = $8, last_check_in_at = $9, compliance = $10, version = $11, \
             updated_at = $12 WHERE id = $1 AND version = $11 - 1",
        )
        .bind(d.id)
        .bind(&d.serial_number)
        .bind(&d.name)
        .bind(d.platform.as_str())
        .bind(&d.model)
        .bind(&d.os_version)
        .bind(d.assigned_user_id)
        .bind(Json(&d.facts))
        .bind(d.last_check_in_at)
        .bind(d.compliance.as_str())
        .bind(d.version)
        .bind(d.updated_at)
        .execute(&mut *self.0)
        .await?;
        expect_one(r)
    }

    async fn delete_device(&mut self, id: Uuid) -> Result<bool> {
        let r = sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn get_policy(&mut self, id: Uuid) -> Result<Option<Policy>> {
        let sql = format!("{POLICY_SELECT} WHERE p.id = $1{FOR_UPDATE}");
        let row: Option<PolicyRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(Policy::try_from).transpose()
    }

    async fn insert_policy(&mut self, p: &Policy) -> Result<()> {
        let platforms: Vec<&str> = p.platforms.iter().map(|x| x.as_str()).collect();
        sqlx::query(
            "INSERT INTO policies (id, name, description, category, platforms, rule, severity, enabled, remediation, \
             version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.category.as_str())
        .bind(Json(platforms))
        .bind(Json(&p.rule.0))
        .bind(p.severity.as_str())
        .bind(p.enabled)
        .bind(&p.remediation)
        .bind(p.version)
        .bind(p.created_at)
        .bind(p.updated_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn update_policy(&mut self, p: &Policy) -> Result<()> {
        let platforms: Vec<&str> = p.platforms.iter().map(|x| x.as_str()).collect();
        let r = sqlx::query(
            "UPDATE policies SET name = $2, description = $3, category = $4, platforms = $5, rule = $6, \
             severity = $7, enabled = $8, remediation = $9, version = $10, updated_at = $11 \
             WHERE id = $1 AND version = $10 - 1",
        )
        .bind(p.id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(p.category.as_str())
        .bind(Json(platforms))
        .bind(Json(&p.rule.0))
        .bind(p.severity.as_str())
        .bind(p.enabled)
        .bind(&p.remediation)
        .bind(p.version)
        .bind(p.updated_at)
        .execute(&mut *self.0)
        .await?;
        expect_one(r)
    }

    async fn delete_policy(&mut self, id: Uuid) -> Result<bool> {
        let r = sqlx::query("DELETE FROM policies WHERE id = $1")
            .bind(id)
            .execute(&mut *self.0)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn append_audit(&mut self, e: NewAuditEvent) -> Result<AuditEvent> {
        let head_sql = format!("SELECT seq, hash FROM audit_head WHERE id = 1{FOR_UPDATE}");
        let (seq, hash): (i64, String) = sqlx::query_as(&head_sql).fetch_one(&mut *self.0).await?;
        let event = e.seal(seq + 1, cc_domain::now(), &hash);
        sqlx::query(
            "INSERT INTO audit_events (seq, occurred_at, actor, action, target_type, target_id, request_id, before, \
             after, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(event.seq)
        .bind(event.occurred_at)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.target_type)
        .bind(&event.target_id)
        .bind(&event.request_id)
        .bind(event.before.as_ref().map(Json))
        .bind(event.after.as_ref().map(Json))
        .bind(&event.prev_hash)
        .bind(&event.hash)
        .execute(&mut *self.0)
        .await?;
        sqlx::query("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1")
            .bind(event.seq)
            .bind(&event.hash)
            .execute(&mut *self.0)
            .await?;
        Ok(event)
    }

    async fn request_key_job(&mut self, key: &str) -> Result<Option<i64>> {
        let job: Option<i64> = sqlx::query_scalar("SELECT job_id FROM request_keys WHERE key = $1")
            .bind(key)
            .fetch_optional(&mut *self.0)
            .await?;
        Ok(job)
    }

    async fn insert_request_key(&mut self, key: &str, job_id: i64) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO request_keys (key, job_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(job_id)
        .bind(cc_domain::now())
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn append_notice(&mut self, n: &cc_domain::NewNotice) -> Result<()> {
        sqlx::query(
            "INSERT INTO job_events (job_id, at, state, attempt, note, topic, subject) \
             VALUES (0, $1, $2, 0, $3, $4, $5)",
        )
        .bind(cc_domain::now())
        .bind(&n.state)
        .bind(n.stored_note())
        .bind(n.topic.as_str())
        .bind(&n.subject)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }

    async fn claim_certificate_warning(
        &mut self,
        w: &crate::certificates::CertificateWarning,
    ) -> Result<bool> {
        let expires_on = w.expires_on.timestamp();
        let threshold = i32::try_from(w.threshold_days).unwrap_or(i32::MAX);
        sqlx::query(
            "DELETE FROM cloudflare_certificate_warnings \
             WHERE zone = $1 AND host = $2 AND pack_id = $3 AND expires_on <> $4",
        )
        .bind(&w.zone)
        .bind(&w.host)
        .bind(&w.pack_id)
        .bind(expires_on)
        .execute(&mut *self.0)
        .await?;
        let warned: Option<i32> = sqlx::query_scalar(
            "SELECT threshold_days FROM cloudflare_certificate_warnings \
             WHERE zone = $1 AND host = $2 AND pack_id = $3 AND expires_on = $4 \
             AND threshold_days <= $5 LIMIT 1",
        )
        .bind(&w.zone)
        .bind(&w.host)
        .bind(&w.pack_id)
        .bind(expires_on)
        .bind(threshold)
        .fetch_optional(&mut *self.0)
        .await?;
        if warned.is_some() {
            return Ok(false);
        }
        let r = sqlx::query(
            "INSERT INTO cloudflare_certificate_warnings \
             (zone, host, pack_id, expires_on, threshold_days, warned_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(&w.zone)
        .bind(&w.host)
        .bind(&w.pack_id)
        .bind(expires_on)
        .bind(threshold)
        .bind(cc_domain::now())
        .execute(&mut *self.0)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn commit(mut self: Box<Self>) -> Result<()> {
        // What a first load of an import set aside is built before anything commits.
        crate::ImportTx::finish_first_load(&mut *self).await?;
        let after = self.after_commit();
        self.0.commit().await?;
        after();
        Ok(())
    }
}

/// [`crate::Store::lifecycle_view`] in one statement: the person, the oldest unfinished
/// lifecycle job for them before `$3` (`$2`: their id as text; the `jobs_lifecycle_user`
/// index), and their target links joined (one row per link; `link_*` columns all NULL when
/// there is none), in target order as [`crate::Store::list_target_links`] gives them.
static LIFECYCLE_VIEW_SELECT: LazyLock<String> = LazyLock::new(|| {
    // The earlier job is found once (an index range scan) and joined by its primary key.
    let columns = ", e.id AS earlier_id, e.run_at AS earlier_run_at, l.target AS link_target, \
         l.account_id AS link_account_id, l.status AS link_status, \
         l.last_operation AS link_last_operation, l.last_job_id AS link_last_job_id, \
         l.last_error AS link_last_error, l.synced_at AS link_synced_at, \
         l.updated_at AS link_updated_at \
         FROM users u LEFT JOIN jobs e ON e.id = ( \
           SELECT j.id FROM jobs j WHERE (j.args ->> 'user_id') = $2 AND j.id < $3 \
           AND j.kind LIKE 'lifecycle.%' AND j.state IN ('available', 'scheduled', 'running', 'retryable') \
           ORDER BY j.id LIMIT 1) \
         LEFT JOIN target_links l ON l.user_id = u.id";
    format!(
        "{} WHERE u.id = $1 ORDER BY l.target",
        USER_SELECT.replacen(" FROM users u", columns, 1)
    )
});

/// A row of [`LIFECYCLE_VIEW_SELECT`].
#[derive(sqlx::FromRow)]
struct LifecycleViewRow {
    #[sqlx(flatten)]
    user: UserRow,
    earlier_id: Option<i64>,
    earlier_run_at: Option<chrono::DateTime<chrono::Utc>>,
    link_target: Option<String>,
    link_account_id: Option<String>,
    link_status: Option<String>,
    link_last_operation: Option<String>,
    link_last_job_id: Option<i64>,
    link_last_error: Option<String>,
    link_synced_at: Option<chrono::DateTime<chrono::Utc>>,
    link_updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(sqlx::FromRow)]
struct LinkRow {
    user_id: Uuid,
    target: String,
    account_id: Option<String>,
    status: String,
    last_operation: String,
    last_job_id: Option<i64>,
    last_error: Option<String>,
    synced_at: Option<chrono::DateTime<chrono::Utc>>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<LinkRow> for cc_domain::TargetLinkRecord {
    type Error = StoreError;
    fn try_from(r: LinkRow) -> Result<Self> {
        Ok(Self {
            user_id: r.user_id,
            target: r.target,
            account_id: r.account_id,
            status: r.status.parse().map_err(StoreError::Internal)?,
            last_operation: r.last_operation.parse().map_err(StoreError::Internal)?,
            last_job_id: r.last_job_id,
            last_error: r.last_error,
            synced_at: r.synced_at,
            updated_at: r.updated_at,
        })
    }
}

impl BackendTx {
    async fn check_user_exists(&mut self, id: Option<Uuid>) -> Result<()> {
        let Some(id) = id else { return Ok(()) };
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::Invalid(ValidationErrors::single(
                "assigned_user_id",
                "no such user",
            ))),
        }
    }
}
