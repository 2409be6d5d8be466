//! The harness every integration test uses: a fresh database on either backend, and the
//! application running on `127.0.0.1:0` against it.
//!
//! PostgreSQL tests create a database named `cc_test_<uuid>` through the server at
//! `CC_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and drop it
//! afterwards. When that server is unreachable the test fails loudly: `scripts/test.sh` starts
//! one on a machine that lacks it.

pub mod ldap;
pub mod queue;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_store::{PoolConfig, Store};
use sqlx::Connection;

/// The backends every conformance test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `backend_tests!(body_fn, other_fn);` expands to
/// `sqlite::body_fn` and `postgres::body_fn` test functions calling `body_fn(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// The admin URL of the PostgreSQL server tests use.
#[must_use]
pub fn postgres_admin_url() -> String {
    std::env::var("CC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A fresh, empty database that is removed when dropped.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    /// Creates a fresh database.
    ///
    /// # Panics
    /// When PostgreSQL is requested but unreachable: the test must not pass silently.
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("cc.db").display());
                Self {
                    url,
                    backend,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("cc_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is required for this test and is not reachable at {admin} ({e}). \
                         Run scripts/test.sh, which starts it, or set CC_TEST_POSTGRES_URL."
                    )
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                let _ = conn.close().await;
                let url = replace_db_name(&admin, &name);
                Self {
                    url,
                    backend,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// Opens the store, migrated to the current schema.
    ///
    /// # Panics
    /// When the database cannot be opened or migrated.
    pub async fn store(&self) -> Arc<dyn Store> {
        let store = self.open().await;
        store.migrate_up().await.expect("migrate");
        store
    }

    /// Opens the store without migrating.
    ///
    /// # Panics
    /// When the database cannot be opened.
    pub async fn open(&self) -> Arc<dyn Store> {
        let cfg = PoolConfig {
            max_connections: 5,
            ..PoolConfig::default()
        };
        cc_store::connect(&self.url, &cfg)
            .await
            .expect("connect to test database")
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop runs outside any runtime guarantee; use a short-lived one on its own thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// The application running in-process on an ephemeral port.
pub struct TestApp {
    pub base_url: String,
    pub client: cc_client::Client,
    pub store: Arc<dyn Store>,
    pub db: TestDb,
    shutdown: tokio_util::sync::CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// Starts the app with default settings on a fresh database.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, cc_api::ApiConfig::default(), None).await
    }

    /// Starts the app with the given settings and optional extra routes (merged before the
    /// layers, so they behave like real routes).
    ///
    /// # Panics
    /// When the app cannot start.
    pub async fn spawn_with(
        backend: Backend,
        config: cc_api::ApiConfig,
        extra: Option<axum::Router<cc_api::AppState>>,
    ) -> Self {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let state = cc_api::AppState::new(store.clone(), config);
        let server = cc_api::Server::bind_with("127.0.0.1:0", state, extra.unwrap_or_default())
            .await
            .expect("bind");
        let addr = server.local_addr().expect("addr");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let token = shutdown.clone();
        let handle = tokio::spawn(async move {
            server
                .run(async move { token.cancelled().await })
                .await
                .expect("server");
        });
        let base_url = format!("http://{addr}");
        let client = cc_client::Client::new(&base_url).expect("client");
        Self {
            base_url,
            client,
            store,
            db,
            shutdown,
            handle: Some(handle),
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub use cc_api::axum_reexport as axum;

/// Waits until `check` returns `Some`, polling every 10 ms, failing after `deadline`.
///
/// # Panics
/// When the deadline passes; `what` says what was awaited.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A valid new student with a unique username, for tests.
#[must_use]
pub fn student(username: &str) -> cc_domain::NewUser {
    cc_domain::NewUser {
        external_id: Some(format!("SIS-{username}")),
        username: username.into(),
        given_name: "Test".into(),
        family_name: format!("Student {username}"),
        email: Some(format!("{username}@students.example.org")),
        role: cc_domain::Role::Student,
        grade: Some(9),
        school: Some("lincoln-hs".into()),
        status: None,
        groups: vec![],
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_database_names() {
        assert_eq!(
            super::replace_db_name("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
