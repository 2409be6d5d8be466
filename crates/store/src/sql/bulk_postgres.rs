// Bulk inserts for roster imports on PostgreSQL: one array parameter per column and
// `unnest`, so a statement carries 50,000 rows with 13 parameters instead of 32,000 bound
// values (`include!`d after `sql/imports.rs`, which calls them).

const UNNEST_ROWS: usize = 50_000;

async fn bulk_insert_users(conn: &mut <Db as sqlx::Database>::Connection, users: &[User]) -> Result<()> {
    for chunk in users.chunks(UNNEST_ROWS) {
        let col = |f: &dyn Fn(&User) -> Option<String>| chunk.iter().map(f).collect::<Vec<Option<String>>>();
        sqlx::query(
            "INSERT INTO users (id, external_id, username, given_name, family_name, email, role, grade, school, \
             status, version, created_at, updated_at) \
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
             $8::int2[], $9::text[], $10::text[], $11::int8[], $12::timestamptz[], $13::timestamptz[])",
        )
        .bind(chunk.iter().map(|u| u.id).collect::<Vec<Uuid>>())
        .bind(col(&|u| u.external_id.clone()))
        .bind(col(&|u| Some(u.username.clone())))
        .bind(col(&|u| Some(u.given_name.clone())))
        .bind(col(&|u| Some(u.family_name.clone())))
        .bind(col(&|u| u.email.clone()))
        .bind(col(&|u| Some(u.role.as_str().to_owned())))
        .bind(chunk.iter().map(|u| u.grade).collect::<Vec<Option<i16>>>())
        .bind(col(&|u| u.school.clone()))
        .bind(col(&|u| Some(u.status.as_str().to_owned())))
        .bind(chunk.iter().map(|u| u.version).collect::<Vec<i64>>())
        .bind(chunk.iter().map(|u| u.created_at).collect::<Vec<_>>())
        .bind(chunk.iter().map(|u| u.updated_at).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn bulk_add_members(conn: &mut <Db as sqlx::Database>::Connection, pairs: &[(Uuid, Uuid)]) -> Result<()> {
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

/// Audit events per statement.
const AUDIT_ROWS: usize = UNNEST_ROWS;

async fn bulk_insert_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    sealed: Vec<cc_domain::AuditEvent>,
) -> Result<()> {
    let text = |v: &Option<serde_json::Value>| v.as_ref().map(ToString::to_string);
    sqlx::query(
        "INSERT INTO audit_events (seq, occurred_at, actor, action, target_type, target_id, request_id, before, \
         after, prev_hash, hash) \
         SELECT s, o, a, ac, tt, ti, r, b::jsonb, af::jsonb, p, h FROM unnest($1::int8[], $2::timestamptz[], \
         $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[]) \
         AS t(s, o, a, ac, tt, ti, r, b, af, p, h)",
    )
    .bind(sealed.iter().map(|e| e.seq).collect::<Vec<i64>>())
    .bind(sealed.iter().map(|e| e.occurred_at).collect::<Vec<_>>())
    .bind(sealed.iter().map(|e| e.actor.clone()).collect::<Vec<String>>())
    .bind(sealed.iter().map(|e| e.action.clone()).collect::<Vec<String>>())
    .bind(sealed.iter().map(|e| e.target_type.clone()).collect::<Vec<String>>())
    .bind(sealed.iter().map(|e| e.target_id.clone()).collect::<Vec<Option<String>>>())
    .bind(sealed.iter().map(|e| e.request_id.clone()).collect::<Vec<Option<String>>>())
    .bind(sealed.iter().map(|e| text(&e.before)).collect::<Vec<Option<String>>>())
    .bind(sealed.iter().map(|e| text(&e.after)).collect::<Vec<Option<String>>>())
    .bind(sealed.iter().map(|e| e.prev_hash.clone()).collect::<Vec<String>>())
    .bind(sealed.iter().map(|e| e.hash.clone()).collect::<Vec<String>>())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
