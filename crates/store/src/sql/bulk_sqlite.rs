// Bulk inserts for roster imports on SQLite: multi-row VALUES with bound parameters
// (`include!`d after `sql/imports.rs`, which calls them).

async fn bulk_insert_users(conn: &mut <Db as sqlx::Database>::Connection, users: &[User]) -> Result<()> {
    for chunk in users.chunks(chunk_rows(13)) {
        let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(
            "INSERT INTO users (id, external_id, username, given_name, family_name, email, role, grade, school, \
             status, version, created_at, updated_at) ",
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
                .push_bind(u.created_at)
                .push_bind(u.updated_at);
        });
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}


async fn bulk_add_members(conn: &mut <Db as sqlx::Database>::Connection, pairs: &[(Uuid, Uuid)]) -> Result<()> {
    let now = cc_domain::now();
    for chunk in pairs.chunks(chunk_rows(3)) {
        let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new("INSERT INTO group_members (group_id, user_id, added_at) ");
        qb.push_values(chunk, |mut b, (g, u)| {
            b.push_bind(*g).push_bind(*u).push_bind(now);
        });
        qb.push(" ON CONFLICT DO NOTHING");
        qb.build().execute(&mut *conn).await?;
    }
    Ok(())
}


/// Audit events per statement (11 values each).
const AUDIT_ROWS: usize = MAX_PARAMS / 11;

async fn bulk_insert_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    sealed: Vec<cc_domain::AuditEvent>,
) -> Result<()> {
    let mut qb: QueryBuilder<'_, Db> = QueryBuilder::new(
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
    qb.build().execute(&mut *conn).await?;
    Ok(())
}
