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
const AUDIT_FIRST_ROWS: usize = 500;

/// Seals `events` into the chain after (`seq`, `hash`) and inserts them, `AUDIT_ROWS` per
/// statement; returns the new head. The next statement's events are sealed on a blocking
/// thread while SQLite stores the current ones.
async fn bulk_append_audit(
    conn: &mut <Db as sqlx::Database>::Connection,
    events: Vec<NewAuditEvent>,
    seq: i64,
    hash: String,
) -> Result<(i64, String)> {
    fn seal(events: Vec<NewAuditEvent>, mut seq: i64, mut hash: String) -> (Vec<cc_domain::AuditEvent>, i64, String) {
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
    let (mut sealed, mut seq, mut hash) = seal(first, seq, hash);
    loop {
        let next = batches.next();
        let sealing = next.map(|b| {
            let (s, h) = (seq, hash.clone());
            tokio::task::spawn_blocking(move || seal(b, s, h))
        });
        bulk_insert_audit(conn, sealed).await?;
        match sealing {
            Some(task) => {
                (sealed, seq, hash) =
                    task.await.map_err(|e| StoreError::Internal(format!("sealing audit events: {e}")))?;
            }
            None => return Ok((seq, hash)),
        }
    }
}

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

async fn bulk_add_new_members(conn: &mut <Db as sqlx::Database>::Connection, pairs: &[(Uuid, Uuid)]) -> Result<()> {
    bulk_add_members(conn, pairs).await
}

/// `ImportTx::begin_first_load`: nothing to set aside on SQLite.
#[allow(clippy::unused_async)]
async fn first_load_begin(_tx: &mut SqliteTx) -> Result<bool> {
    Ok(false)
}

#[allow(clippy::unused_async)]
async fn first_load_finish(_tx: &mut SqliteTx) -> Result<()> {
    Ok(())
}
