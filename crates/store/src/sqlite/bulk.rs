//! Bulk inserts for roster imports on SQLite: multi-row VALUES with bound parameters
//! (called by `sql/imports.rs`).

use cc_domain::{NewAuditEvent, User};
use sqlx::types::Json;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::imports::{chunk_rows, MAX_PARAMS};
use super::*;

/// Executes `first`, then each statement `next` builds, building the following one (its SQL
/// and bound values) while SQLite runs the current one: sqlx hands a statement to the
/// connection's worker thread on the first poll of its execution, and the result is collected
/// once the next is built. If that ever changes, this stays correct and merely stops
/// overlapping.
async fn execute_overlapped<'a, N, F>(
    conn: &mut <Db as sqlx::Database>::Connection,
    first: QueryBuilder<'a, Db>,
    mut next: N,
) -> Result<()>
where
    N: FnMut() -> Option<F>,
    F: std::future::Future<Output = Result<QueryBuilder<'a, Db>>> + Send,
{
    let mut current = first;
    loop {
        let following = {
            let mut exec = std::pin::pin!(current.build().execute(&mut *conn));
            let started = futures::poll!(exec.as_mut());
            let following = match next() {
                Some(building) => Some(building.await),
                None => None,
            };
            // The statement in flight finishes (or fails) before anything else is reported.
            match started {
                std::task::Poll::Ready(done) => done?,
                std::task::Poll::Pending => exec.await?,
            };
            following.transpose()?
        };
        match following {
            Some(n) => current = n,
            None => return Ok(()),
        }
    }
}

/// One statement per item, each built while the previous one runs.
async fn execute_pipelined<'a, I, F>(
    conn: &mut <Db as sqlx::Database>::Connection,
    items: I,
    mut build: F,
) -> Result<()>
where
    I: IntoIterator,
    F: FnMut(I::Item) -> QueryBuilder<'a, Db>,
{
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Ok(());
    };
    execute_overlapped(conn, build(first), || {
        items.next().map(|item| std::future::ready(Ok(build(item))))
    })
    .await
}

fn users_query(chunk: &[User]) -> QueryBuilder<'_, Db> {
    let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(
        "INSERT INTO users (id, external_id, username, given_name, family_name, email, role, grade, school, \
         status, version, created_at, updated_at) ",
    );
    qb.push_values(chunk, |mut b, u| {
        b.push_bind(u.id)
            .push_bind(u.external_id.as_deref())
            .push_bind(u.username.as_str())
            .push_bind(u.given_name.as_str())
            .push_bind(u.family_name.as_str())
            .push_bind(u.email.as_deref())
            .push_bind(u.role.as_str())
            .push_bind(u.grade)
            .push_bind(u.school.as_deref())
            .push_bind(u.status.as_str())
            .push_bind(u.version)
            .push_bind(u.created_at)
            .push_bind(u.updated_at);
    });
    qb
}

pub(super) async fn bulk_insert_users(
    conn: &mut <Db as sqlx::Database>::Connection,
    users: &[User],
) -> Result<()> {
    // The search index (migration 0010) takes the new people in one statement at the end
    // instead of one trigger run per row. New rows get rowids above the largest so far.
    let (last,): (i64,) = sqlx::query_as("SELECT coalesce(max(rowid), 0) FROM users")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("INSERT INTO fts_deferred (table_name) VALUES ('users')")
        .execute(&mut *conn)
        .await?;
    let inserted = execute_pipelined(conn, users.chunks(chunk_rows(13)), users_query).await;
    // Also after a failed insert: the transaction may go on (a failed statement undoes only
    // itself on SQLite), and whatever it keeps must be indexed and its triggers back.
    sqlx::query(
        "INSERT INTO users_fts (rowid, username, given_name, family_name, email, external_id) \
         SELECT rowid, username, given_name, family_name, email, external_id FROM users \
         WHERE rowid > $1",
    )
    .bind(last)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM fts_deferred WHERE table_name = 'users'")
        .execute(&mut *conn)
        .await?;
    inserted
}

pub(super) async fn bulk_add_members(
    conn: &mut <Db as sqlx::Database>::Connection,
    pairs: &[(Uuid, Uuid)],
) -> Result<()> {
    let now = cc_domain::now();
    execute_pipelined(conn, pairs.chunks(chunk_rows(3)), |chunk| {
        let mut qb: QueryBuilder<'_, Db> =
            QueryBuilder::new("INSERT INTO group_members (group_id, user_id, added_at) ");
        qb.push_values(chunk, |mut b, (g, u)| {
            b.push_bind(*g).push_bind(*u).push_bind(now);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb
    })
    .await
}

/// Deletes the memberships `pairs` names. The pairs are matched with a row-value `IN` over
/// the bound list, which SQLite answers with one primary-key search per pair; the
/// `EXISTS` form it replaces scanned `group_members` once per statement, and the list once per
/// membership, which made a large apply quadratic.
pub(super) async fn bulk_remove_members(
    conn: &mut <Db as sqlx::Database>::Connection,
    pairs: &[(Uuid, Uuid)],
) -> Result<()> {
    execute_pipelined(conn, pairs.chunks(chunk_rows(2)), remove_members_query).await
}

/// The statement [`bulk_remove_members`] runs for one chunk.
pub(super) fn remove_members_query(chunk: &[(Uuid, Uuid)]) -> QueryBuilder<'_, Db> {
    let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new("WITH v (group_id, user_id) AS (");
    qb.push_values(chunk, |mut b, (g, u)| {
        b.push_bind(*g).push_bind(*u);
    });
    qb.push(
        ") DELETE FROM group_members WHERE (group_id, user_id) IN (SELECT group_id, user_id FROM v)",
    );
    qb
}

/// Audit events per statement (11 values each).
const AUDIT_ROWS: usize = MAX_PARAMS / 11;
const AUDIT_FIRST_ROWS: usize = 500;

/// Seals `events` into the chain after (`seq`, `hash`) and inserts them, `AUDIT_ROWS` per
/// statement; returns the new head. While SQLite stores one statement's events, the next
/// ones are sealed on a blocking thread and bound.
pub(super) async fn bulk_append_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    events: Vec<NewAuditEvent>,
    seq: i64,
    hash: String,
) -> Result<(i64, String)> {
    fn seal(
        events: Vec<NewAuditEvent>,
        mut seq: i64,
        mut hash: String,
    ) -> (Vec<cc_domain::AuditEvent>, i64, String) {
        let now = cc_domain::now();
        let sealed = events
            .into_iter()
            .map(|e| {
                seq += 1;
                let s = e.seal(seq, now, &hash);
                hash.clone_from(&s.hash);
                s
            })
            .collect();
        (sealed, seq, hash)
    }
    // A small first batch, sealed before anything can overlap it.
    let mut batches: Vec<Vec<NewAuditEvent>> = Vec::new();
    let mut events = events.into_iter().peekable();
    let mut size = AUDIT_FIRST_ROWS;
    while events.peek().is_some() {
        batches.push(events.by_ref().take(size).collect());
        size = AUDIT_ROWS;
    }
    let mut batches = batches.into_iter();
    let Some(first) = batches.next() else {
        return Ok((seq, hash));
    };
    let (sealed, seq, hash) = seal(first, seq, hash);
    // The chain head after the last sealed batch; each batch is sealed after the previous one.
    let head = std::sync::Mutex::new((seq, hash));
    let head_ref = &head;
    execute_overlapped(conn, audit_query(sealed), || {
        let batch = batches.next()?;
        let (seq, hash) = head_ref
            .lock()
            .map(|h| h.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let sealing = tokio::task::spawn_blocking(move || seal(batch, seq, hash));
        Some(async move {
            let (sealed, seq, hash) = sealing
                .await
                .map_err(|e| StoreError::Internal(format!("sealing audit events: {e}")))?;
            *head_ref
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = (seq, hash);
            Ok(audit_query(sealed))
        })
    })
    .await?;
    Ok(head
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner))
}

fn audit_query(sealed: Vec<cc_domain::AuditEvent>) -> QueryBuilder<'static, Db> {
    let mut qb: QueryBuilder<'static, Db> = QueryBuilder::new(
        "INSERT INTO audit_events (seq, occurred_at, actor, action, target_type, target_id, request_id, before, \
         after, prev_hash, hash) ",
    );
    qb.push_values(sealed, |mut b, e| {
        b.push_bind(e.seq)
            .push_bind(e.occurred_at)
            .push_bind(e.actor)
            .push_bind(e.action)
            .push_bind(e.target_type)
            .push_bind(e.target_id)
            .push_bind(e.request_id)
            .push_bind(e.before.map(Json))
            .push_bind(e.after.map(Json))
            .push_bind(e.prev_hash)
            .push_bind(e.hash);
    });
    qb
}

pub(super) async fn bulk_add_new_members(
    conn: &mut <Db as sqlx::Database>::Connection,
    pairs: &[(Uuid, Uuid)],
) -> Result<()> {
    bulk_add_members(conn, pairs).await
}

/// `ImportTx::begin_first_load`: nothing to set aside on SQLite.
#[allow(clippy::unused_async)]
pub(super) async fn first_load_begin(_tx: &mut SqliteTx) -> Result<bool> {
    Ok(false)
}

#[allow(clippy::unused_async)]
pub(super) async fn first_load_finish(_tx: &mut SqliteTx) -> Result<()> {
    Ok(())
}
