//! The directory snapshot of a roster dry run, read with `rusqlite` on a blocking thread.
//!
//! sqlx's SQLite driver hands every row from its worker thread to the async side through a
//! channel; for a million people that hand-off (locks, wake-ups, per-value copies) costs more
//! than the query itself. This reads the same rows synchronously, on its own read-only
//! connection to the same file (WAL lets it run beside writers), and builds the same values.
//! It is used for planning only; an apply re-reads the directory inside its transaction.

use std::collections::HashMap;
use std::path::Path;

use cc_domain::User;
use rusqlite::{Connection, OpenFlags};
use uuid::Uuid;

use crate::imports::{DirectorySnapshot, GroupRef};
use crate::rows::stored_time;
use crate::{Result, StoreError};

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Internal(format!("reading the directory snapshot: {e}"))
}

fn uuid(bytes: &[u8]) -> Result<Uuid> {
    Uuid::from_slice(bytes).map_err(|e| StoreError::Internal(format!("stored id: {e}")))
}

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T> {
    s.parse().map_err(StoreError::Internal)
}

/// Every person (groups as sorted names) and every group of the database file at `path`.
pub(super) fn load(path: &Path) -> Result<DirectorySnapshot> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(db_err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(db_err)?;
    // One read transaction: the users and the memberships are of the same moment.
    conn.execute_batch("BEGIN").map_err(db_err)?;
    let mut groups = Vec::new();
    {
        let mut stmt = conn
            .prepare("SELECT id, name, kind, external_id FROM groups")
            .map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let kind: String = r.get(2).map_err(db_err)?;
            groups.push(GroupRef {
                id: uuid(&r.get::<_, Vec<u8>>(0).map_err(db_err)?)?,
                name: r.get(1).map_err(db_err)?,
                kind: parse(&kind)?,
                external_id: r.get(3).map_err(db_err)?,
            });
        }
    }
    let mut users: Vec<User> = Vec::new();
    let mut index: HashMap<Uuid, u32> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(
                "SELECT id, external_id, username, given_name, family_name, email, role, grade, school, status, \
                 version, created_at, updated_at FROM users",
            )
            .map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let id = uuid(
                r.get_ref(0)
                    .map_err(db_err)?
                    .as_blob()
                    .map_err(|e| db_err(e.into()))?,
            )?;
            let role: &str = r
                .get_ref(6)
                .map_err(db_err)?
                .as_str()
                .map_err(|e| db_err(e.into()))?;
            let status: &str = r
                .get_ref(9)
                .map_err(db_err)?
                .as_str()
                .map_err(|e| db_err(e.into()))?;
            let created: &str = r
                .get_ref(11)
                .map_err(db_err)?
                .as_str()
                .map_err(|e| db_err(e.into()))?;
            let updated: &str = r
                .get_ref(12)
                .map_err(db_err)?
                .as_str()
                .map_err(|e| db_err(e.into()))?;
            let user = User {
                id,
                external_id: r.get(1).map_err(db_err)?,
                username: r.get(2).map_err(db_err)?,
                given_name: r.get(3).map_err(db_err)?,
                family_name: r.get(4).map_err(db_err)?,
                email: r.get(5).map_err(db_err)?,
                role: parse(role)?,
                grade: r.get(7).map_err(db_err)?,
                school: r.get(8).map_err(db_err)?,
                status: parse(status)?,
                groups: Vec::new(),
                version: r.get(10).map_err(db_err)?,
                created_at: stored_time(created)?,
                updated_at: stored_time(updated)?,
                sync: None,
            };
            index.insert(id, u32::try_from(users.len()).unwrap_or(u32::MAX));
            users.push(user);
        }
    }
    {
        let group_index: HashMap<Uuid, usize> =
            groups.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
        let mut stmt = conn
            .prepare("SELECT user_id, group_id FROM group_members")
            .map_err(db_err)?;
        let mut rows = stmt.query([]).map_err(db_err)?;
        while let Some(r) = rows.next().map_err(db_err)? {
            let uid = uuid(
                r.get_ref(0)
                    .map_err(db_err)?
                    .as_blob()
                    .map_err(|e| db_err(e.into()))?,
            )?;
            let gid = uuid(
                r.get_ref(1)
                    .map_err(db_err)?
                    .as_blob()
                    .map_err(|e| db_err(e.into()))?,
            )?;
            if let (Some(&ui), Some(&gi)) = (index.get(&uid), group_index.get(&gid)) {
                users[ui as usize].groups.push(groups[gi].name.clone());
            }
        }
    }
    conn.execute_batch("COMMIT").map_err(db_err)?;
    for u in &mut users {
        u.groups.sort();
    }
    Ok(DirectorySnapshot { users, groups })
}
