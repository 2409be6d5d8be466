//! Migration helpers shared by both backends; a module of each backend, using `MIGRATOR`
//! and the store's `migration_pool()`.

use sqlx::migrate::Migrate;

use super::*;

impl Store {
    pub(super) async fn migration_status_impl(&self) -> Result<crate::MigrationStatus> {
        let mut conn = self.migration_pool().acquire().await?;
        conn.ensure_migrations_table().await?;
        let applied: Vec<i64> = conn
            .list_applied_migrations()
            .await?
            .into_iter()
            .map(|m| m.version)
            .collect();
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
