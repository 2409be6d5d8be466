//! Where each person's record came from (`user_sources`, migration 0011), for both backends.

use std::collections::HashMap;

use cc_domain::{RecordSource, UserSource};
use sqlx::types::Json;
use uuid::Uuid;

use super::*;
use crate::{Result, StoreError};

const COLUMNS: &str = "user_id, source, scim_user_name, scim_attributes, updated_at";

#[derive(sqlx::FromRow)]
struct SourceRow {
    user_id: Uuid,
    source: String,
    scim_user_name: Option<String>,
    scim_attributes: Json<serde_json::Value>,
    updated_at: chrono::DateTime<chrono::Utc>,
}

impl TryFrom<SourceRow> for UserSource {
    type Error = StoreError;
    fn try_from(r: SourceRow) -> Result<Self> {
        Ok(UserSource {
            user_id: r.user_id,
            source: r
                .source
                .parse::<RecordSource>()
                .map_err(StoreError::Internal)?,
            scim_user_name: r.scim_user_name,
            scim_attributes: r.scim_attributes.0,
            updated_at: r.updated_at,
        })
    }
}

impl Store {
    pub(super) async fn user_sources_impl(
        &self,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, UserSource>> {
        let mut out = HashMap::new();
        let mut conn = self.read_conn().await?;
        for chunk in ids.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT {COLUMNS} FROM user_sources WHERE user_id IN ({})",
                marks.join(", ")
            );
            let mut q = sqlx::query_as::<Db, SourceRow>(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *conn).await? {
                let s = UserSource::try_from(row)?;
                out.insert(s.user_id, s);
            }
        }
        Ok(out)
    }

    pub(super) async fn user_id_by_scim_name_impl(&self, name: &str) -> Result<Option<Uuid>> {
        Ok(sqlx::query_scalar(
            "SELECT user_id FROM user_sources WHERE lower(scim_user_name) = lower($1)",
        )
        .bind(name)
        .fetch_optional(&mut *self.read_conn().await?)
        .await?)
    }
}

impl BackendTx {
    pub(super) async fn get_user_source_impl(&mut self, id: Uuid) -> Result<Option<UserSource>> {
        let sql = format!("SELECT {COLUMNS} FROM user_sources WHERE user_id = $1");
        let row: Option<SourceRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&mut *self.0)
            .await?;
        row.map(UserSource::try_from).transpose()
    }

    pub(super) async fn put_user_source_impl(&mut self, s: &UserSource) -> Result<()> {
        sqlx::query(
            "INSERT INTO user_sources (user_id, source, scim_user_name, scim_attributes, updated_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET source = excluded.source, \
             scim_user_name = excluded.scim_user_name, scim_attributes = excluded.scim_attributes, \
             updated_at = excluded.updated_at",
        )
        .bind(s.user_id)
        .bind(s.source.as_str())
        .bind(s.scim_user_name.as_deref())
        .bind(Json(&s.scim_attributes))
        .bind(s.updated_at)
        .execute(&mut *self.0)
        .await?;
        Ok(())
    }
}
