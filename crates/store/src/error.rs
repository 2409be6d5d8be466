//! The store's error type, and the one place sqlx errors are classified.

use cc_domain::ValidationErrors;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated; `field` names the input field.
    #[error("another record already has this {field}")]
    Conflict { field: String },
    /// The row changed since it was read (optimistic concurrency).
    #[error("the record changed concurrently")]
    VersionConflict,
    /// The input refers to something that does not exist.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The database cannot be reached or is overloaded; retrying may help.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// Bad configuration, e.g. an unsupported URL.
    #[error("{0}")]
    Config(String),
    /// Anything else. The text is for logs only, never for clients.
    #[error("database error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict {
                        field: unique_field(db.constraint(), db.message()),
                    };
                }
                // SQLITE_BUSY / SQLITE_LOCKED, PostgreSQL serialization failure and deadlock.
                let code = db.code().unwrap_or_default();
                if matches!(
                    code.as_ref(),
                    "5" | "6" | "517" | "40001" | "40P01" | "55P03"
                ) {
                    return StoreError::Unavailable("database busy, retry the request".into());
                }
                // PostgreSQL query_canceled: the statement ran past `statement_timeout`.
                if code.as_ref() == "57014" {
                    return StoreError::Unavailable(
                        "the statement took longer than the statement timeout".into(),
                    );
                }
                StoreError::Internal(e.to_string())
            }
            sqlx::Error::PoolTimedOut => {
                StoreError::Unavailable("timed out waiting for a database connection".into())
            }
            sqlx::Error::PoolClosed => {
                StoreError::Unavailable("the database pool is closed".into())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                StoreError::Unavailable("cannot reach the database".into())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Internal(format!("migration failed: {e}"))
    }
}

/// The input field behind a unique violation. PostgreSQL names the constraint
/// (`<table>_<field>_key` by default); SQLite says `UNIQUE constraint failed: <table>.<field>`.
fn unique_field(constraint: Option<&str>, message: &str) -> String {
    if let Some(c) = constraint {
        let c = c.strip_suffix("_key").unwrap_or(c);
        if let Some((_, field)) = c.split_once('_') {
            return field.to_owned();
        }
    }
    message
        .rsplit_once(':')
        .and_then(|(_, cols)| cols.split(',').next())
        .and_then(|col| col.trim().split_once('.'))
        .map_or_else(|| "value".to_owned(), |(_, f)| f.to_owned())
}

#[cfg(test)]
mod tests {
    use super::unique_field;

    #[test]
    fn names_the_field() {
        assert_eq!(unique_field(Some("users_username_key"), ""), "username");
        assert_eq!(
            unique_field(Some("devices_serial_number_key"), ""),
            "serial_number"
        );
        assert_eq!(
            unique_field(None, "UNIQUE constraint failed: users.external_id"),
            "external_id"
        );
        assert_eq!(unique_field(None, "weird"), "value");
    }
}
