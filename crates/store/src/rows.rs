//! Row shapes shared by both backends and their conversion into domain values.
//! Enumerations are stored as text and parsed here; a value that does not parse means the
//! database holds something this binary did not write, reported as an internal error.

use cc_domain::{AuditEvent, Device, Group, Policy, PolicyRule, User};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::StoreError;

fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> Result<T, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Internal(format!("unexpected value in database: {e}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: Uuid,
    external_id: Option<String>,
    username: String,
    given_name: String,
    family_name: String,
    email: Option<String>,
    role: String,
    grade: Option<i16>,
    school: Option<String>,
    status: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    group_names: Option<String>,
}

impl UserRow {
    /// The first 14 columns of a `USER_SELECT` row read with `rusqlite` from SQLite, where
    /// ids are 16-byte blobs and times are text (`sqlite::direct`).
    pub(crate) fn from_sqlite(r: &rusqlite::Row<'_>) -> Result<Self, StoreError> {
        let bad = |e: rusqlite::Error| StoreError::Internal(format!("reading a person: {e}"));
        let id: [u8; 16] = r.get(0).map_err(bad)?;
        let time = |i: usize| -> Result<DateTime<Utc>, StoreError> {
            let text: String = r.get(i).map_err(bad)?;
            stored_time(&text)
        };
        Ok(Self {
            id: Uuid::from_bytes(id),
            external_id: r.get(1).map_err(bad)?,
            username: r.get(2).map_err(bad)?,
            given_name: r.get(3).map_err(bad)?,
            family_name: r.get(4).map_err(bad)?,
            email: r.get(5).map_err(bad)?,
            role: r.get(6).map_err(bad)?,
            grade: r.get(7).map_err(bad)?,
            school: r.get(8).map_err(bad)?,
            status: r.get(9).map_err(bad)?,
            version: r.get(10).map_err(bad)?,
            created_at: time(11)?,
            updated_at: time(12)?,
            group_names: r.get(13).map_err(bad)?,
        })
    }
}

/// A time stored or returned as text: RFC 3339 (as sqlx binds times on SQLite, and as
/// PostgreSQL writes them into JSON), or SQLite's own `YYYY-MM-DD HH:MM:SS[.f][±HH:MM]` (UTC
/// when it has no offset).
pub(crate) fn stored_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|e| StoreError::Internal(format!("stored time `{text}`: {e}")))
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        let mut groups: Vec<String> = r
            .group_names
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        groups.sort();
        Ok(User {
            id: r.id,
            external_id: r.external_id,
            username: r.username,
            given_name: r.given_name,
            family_name: r.family_name,
            email: r.email,
            role: parse(&r.role)?,
            grade: r.grade,
            school: r.school,
            status: parse(&r.status)?,
            groups,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
            sync: None,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    id: Uuid,
    name: String,
    display_name: String,
    kind: String,
    school: Option<String>,
    external_id: Option<String>,
    description: Option<String>,
    member_count: i64,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<GroupRow> for Group {
    type Error = StoreError;
    fn try_from(r: GroupRow) -> Result<Self, StoreError> {
        Ok(Group {
            id: r.id,
            name: r.name,
            display_name: r.display_name,
            kind: parse(&r.kind)?,
            school: r.school,
            external_id: r.external_id,
            description: r.description,
            member_count: r.member_count,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct DeviceRow {
    id: Uuid,
    serial_number: String,
    name: Option<String>,
    platform: String,
    model: Option<String>,
    os_version: Option<String>,
    assigned_user_id: Option<Uuid>,
    facts: Json<Value>,
    last_check_in_at: Option<DateTime<Utc>>,
    compliance: String,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;
    fn try_from(r: DeviceRow) -> Result<Self, StoreError> {
        Ok(Device {
            id: r.id,
            serial_number: r.serial_number,
            name: r.name,
            platform: parse(&r.platform)?,
            model: r.model,
            os_version: r.os_version,
            assigned_user_id: r.assigned_user_id,
            facts: r.facts.0,
            last_check_in_at: r.last_check_in_at,
            compliance: parse(&r.compliance)?,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct PolicyRow {
    id: Uuid,
    name: String,
    description: Option<String>,
    category: String,
    platforms: Json<Vec<String>>,
    rule: Json<Value>,
    severity: String,
    enabled: bool,
    remediation: Option<String>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl TryFrom<PolicyRow> for Policy {
    type Error = StoreError;
    fn try_from(r: PolicyRow) -> Result<Self, StoreError> {
        Ok(Policy {
            id: r.id,
            name: r.name,
            description: r.description,
            category: parse(&r.category)?,
            platforms: r
                .platforms
                .0
                .iter()
                .map(|p| parse(p))
                .collect::<Result<_, _>>()?,
            rule: PolicyRule(r.rule.0),
            severity: parse(&r.severity)?,
            enabled: r.enabled,
            remediation: r.remediation,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AuditRow {
    seq: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    action: String,
    target_type: String,
    target_id: Option<String>,
    request_id: Option<String>,
    before: Option<Json<Value>>,
    after: Option<Json<Value>>,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            seq: r.seq,
            occurred_at: r.occurred_at,
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            request_id: r.request_id,
            before: r.before.map(|j| j.0),
            after: r.after.map(|j| j.0),
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}

/// Converts every row, failing on the first that does not convert.
pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(
    rows: Vec<R>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}
