//! Migration helpers shared by both backends; a module of each backend, using `MIGRATOR`,
//! the store's `migration_pool()` (changes) and its control pool (the read-only status).

use super::*;

impl Store {
    pub(super) async fn migration_status_impl(&self) -> Result<crate::MigrationStatus> {
        // Read-only, on the control pool: readiness asks this, and must neither wait behind a
        // writer (SQLite) or bulk work nor create the table it reads.
        let mut conn = self.control_conn().await?;
        let exists: bool = sqlx::query_scalar(MIGRATIONS_TABLE_EXISTS)
            .fetch_one(&mut *conn)
            .await?;
        let applied: Vec<i64> = if exists {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&mut *conn)
                .await?
        } else {
            Vec::new()
        };
        let known: Vec<(i64, String, bool)> = MIGRATOR
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| {
                (
                    m.version,
                    m.description.to_string(),
                    applied.contains(&m.version),
                )
            })
            .collect();
        let unknown_applied = applied
            .iter()
            .copied()
            .filter(|v| !known.iter().any(|k| k.0 == *v))
            .collect();
        Ok(crate::MigrationStatus {
            migrations: known,
            unknown_applied,
        })
    }

    pub(super) async fn migrate_up_impl(&self) -> Result<Vec<i64>> {
        let before = self.migration_status_impl().await?;
        MIGRATOR.run(self.migration_pool()).await?;
        Ok(before
            .migrations
            .iter()
            .filter(|m| !m.2)
            .map(|m| m.0)
            .collect())
    }

    pub(super) async fn migrate_down_impl(&self, steps: u32) -> Result<Vec<i64>> {
        let status = self.migration_status_impl().await?;
        let mut applied: Vec<i64> = status
            .migrations
            .iter()
            .filter(|m| m.2)
            .map(|m| m.0)
            .collect();
        applied.sort_unstable();
        let keep = applied.len().saturating_sub(steps as usize);
        let target = if keep == 0 { 0 } else { applied[keep - 1] };
        MIGRATOR.undo(self.migration_pool(), target).await?;
        Ok(applied[keep..].iter().rev().copied().collect())
    }

    pub(super) fn pool_stats_of(name: &'static str, pool: &sqlx::Pool<Db>) -> crate::PoolStats {
        crate::PoolStats {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
}
