//! Bulk inserts for roster imports on PostgreSQL: binary `COPY … FROM STDIN` (see
//! `postgres/copy.rs`), one statement per table and chunk (called by
//! `sql/imports.rs`).

use cc_domain::{NewAuditEvent, User};
use uuid::Uuid;

use super::*;
use crate::postgres::copy::copy_in;

pub(super) async fn bulk_insert_users(
    conn: &mut <Db as sqlx::Database>::Connection,
    users: &[User],
) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    copy_in(
        conn,
        "COPY users (id, external_id, username, given_name, family_name, email, role, grade, school, status, \
         version, created_at, updated_at) FROM STDIN (FORMAT binary)",
        users,
        |r, u| {
            r.row(13)
                .uuid(u.id)
                .opt_text(u.external_id.as_deref())
                .text(&u.username)
                .text(&u.given_name)
                .text(&u.family_name)
                .opt_text(u.email.as_deref())
                .text(u.role.as_str())
                .opt_int2(u.grade)
                .opt_text(u.school.as_deref())
                .text(u.status.as_str())
                .int8(u.version)
                .timestamptz(u.created_at)
                .timestamptz(u.updated_at);
        },
    )
    .await?;
    Ok(())
}

pub(super) async fn bulk_add_members(
    conn: &mut <Db as sqlx::Database>::Connection,
    pairs: &[(Uuid, Uuid)],
) -> Result<()> {
    let now = cc_domain::now();
    for chunk in pairs.chunks(UNNEST_ROWS) {
        sqlx::query(
            "INSERT INTO group_members (group_id, user_id, added_at) \
             SELECT g, u, $3 FROM unnest($1::uuid[], $2::uuid[]) AS t(g, u) ON CONFLICT DO NOTHING",
        )
        .bind(chunk.iter().map(|p| p.0).collect::<Vec<Uuid>>())
        .bind(chunk.iter().map(|p| p.1).collect::<Vec<Uuid>>())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deletes the memberships `pairs` names: each pair found through the primary key (the
/// `unnest` is estimated small, so the plan is a nested loop over the index, never a scan of
/// `group_members` per statement).
pub(super) async fn bulk_remove_members(
    conn: &mut <Db as sqlx::Database>::Connection,
    pairs: &[(Uuid, Uuid)],
) -> Result<()> {
    for chunk in pairs.chunks(UNNEST_ROWS) {
        sqlx::query(
            "DELETE FROM group_members AS m USING unnest($1::uuid[], $2::uuid[]) AS t(g, u) \
             WHERE m.group_id = t.g AND m.user_id = t.u",
        )
        .bind(chunk.iter().map(|p| p.0).collect::<Vec<Uuid>>())
        .bind(chunk.iter().map(|p| p.1).collect::<Vec<Uuid>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Memberships of people inserted by this transaction: nobody else can have added any for
/// them, so they are copied in as they are (duplicates in `pairs` are dropped first).
pub(super) async fn bulk_add_new_members(
    conn: &mut <Db as sqlx::Database>::Connection,
    pairs: &[(Uuid, Uuid)],
) -> Result<()> {
    if pairs.is_empty() {
        return Ok(());
    }
    let mut pairs = pairs.to_vec();
    pairs.sort_unstable();
    pairs.dedup();
    let now = cc_domain::now();
    copy_in(
        conn,
        "COPY group_members (group_id, user_id, added_at) FROM STDIN (FORMAT binary)",
        &pairs,
        |r, (g, u)| {
            r.row(3).uuid(*g).uuid(*u).timestamptz(now);
        },
    )
    .await?;
    Ok(())
}

/// Rows per `unnest` statement (the remaining array-parameter inserts).
const UNNEST_ROWS: usize = 50_000;

/// Seals `events` into the chain after (`seq`, `hash`) and copies them in, in one statement;
/// returns the new head. Events are sealed as the rows are encoded, so the server stores the
/// first ones while the next are hashed.
pub(super) async fn bulk_append_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    events: Vec<NewAuditEvent>,
    mut seq: i64,
    mut hash: String,
) -> Result<(i64, String)> {
    let now = cc_domain::now();
    copy_in(
        conn,
        "COPY audit_events (seq, occurred_at, actor, action, target_type, target_id, request_id, before, after, \
         prev_hash, hash) FROM STDIN (FORMAT binary)",
        events,
        |r, e| {
            seq += 1;
            let e = e.seal(seq, now, &hash);
            r.row(11)
                .int8(e.seq)
                .timestamptz(e.occurred_at)
                .text(&e.actor)
                .text(&e.action)
                .text(&e.target_type)
                .opt_text(e.target_id.as_deref())
                .opt_text(e.request_id.as_deref())
                .opt_jsonb_value(e.before.as_ref())
                .opt_jsonb_value(e.after.as_ref())
                .text(&e.prev_hash)
                .text(&e.hash);
            hash = e.hash;
        },
    )
    .await?;
    Ok((seq, hash))
}

/// `ImportTx::begin_first_load`: with the directory tables locked and `users` still empty,
/// drops the unique and foreign-key constraints (primary keys stay) and the other indexes of
/// `users` and `group_members`, keeping, as read from the catalog, the statements that
/// recreate them exactly. A unique constraint a foreign key depends on stays, as do indexes
/// that are clustered on or serve as replica identity.
pub(super) async fn first_load_begin(tx: &mut PgTx) -> Result<bool> {
    if !tx.1.is_empty() {
        return Ok(true);
    }
    // `groups` too: dropping the foreign key to it takes that lock anyway; taking all three at
    // once, in a fixed order, avoids upgrading them one by one.
    sqlx::query("LOCK TABLE users, group_members, groups IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx.0)
        .await?;
    let occupied: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(&mut *tx.0)
        .await?;
    if occupied {
        return Ok(false);
    }
    let constraints: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.conrelid::regclass::text, quote_ident(c.conname), pg_get_constraintdef(c.oid) \
         FROM pg_constraint c \
         WHERE c.conrelid IN ('users'::regclass, 'group_members'::regclass) AND c.contype IN ('u', 'f') \
           AND NOT (c.contype = 'u' AND EXISTS \
             (SELECT 1 FROM pg_constraint f WHERE f.contype = 'f' AND f.conindid = c.conindid)) \
         ORDER BY c.conrelid::regclass::text DESC, c.contype DESC, c.conname",
    )
    .fetch_all(&mut *tx.0)
    .await?;
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i \
         WHERE i.indrelid IN ('users'::regclass, 'group_members'::regclass) \
           AND NOT i.indisclustered AND NOT i.indisreplident \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c \
             WHERE c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')) \
         ORDER BY i.indrelid::regclass::text DESC, i.indexrelid::regclass::text",
    )
    .fetch_all(&mut *tx.0)
    .await?;
    let mut rebuild = Vec::with_capacity(constraints.len() + indexes.len() + 1);
    // Index builds sort; give them room (for this transaction only) unless the server has more.
    rebuild.push(
        "SELECT set_config('maintenance_work_mem', '256MB', true) \
         WHERE (SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem') < 262144"
            .to_owned(),
    );
    for (index, def) in &indexes {
        sqlx::query(&format!("DROP INDEX {index}"))
            .execute(&mut *tx.0)
            .await?;
        rebuild.push(def.clone());
    }
    // Unique constraints are rebuilt before the foreign keys, which are checked last.
    for (table, name, def) in constraints
        .iter()
        .filter(|c| !c.2.starts_with("FOREIGN KEY"))
    {
        sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .execute(&mut *tx.0)
            .await?;
        rebuild.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
    }
    for (table, name, def) in constraints
        .iter()
        .filter(|c| c.2.starts_with("FOREIGN KEY"))
    {
        sqlx::query(&format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .execute(&mut *tx.0)
            .await?;
        rebuild.push(format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}"));
    }
    tx.1 = rebuild;
    Ok(true)
}

/// `ImportTx::finish_first_load`: runs the statements `first_load_begin` kept.
pub(super) async fn first_load_finish(tx: &mut PgTx) -> Result<()> {
    for sql in std::mem::take(&mut tx.1) {
        sqlx::query(&sql).execute(&mut *tx.0).await?;
    }
    Ok(())
}
