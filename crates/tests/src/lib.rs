//! The harness every integration test uses: a fresh database on either backend, and the
//! application running on `127.0.0.1:0` against it.
//!
//! PostgreSQL tests create a database named `cc_test_<uuid>` through the server at
//! `CC_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and drop it
//! afterwards. When that server is unreachable the test fails loudly: `scripts/test.sh` starts
//! one on a machine that lacks it.

pub mod browser;
pub mod faults;
pub mod ldap;
pub mod postgres_server;
pub mod queue;
pub mod scim2_server;

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
        self.open_with(&PoolConfig {
            max_connections: 5,
            ..PoolConfig::default()
        })
        .await
    }

    /// Opens the store with the given pool settings, without migrating.
    ///
    /// # Panics
    /// When the database cannot be opened.
    pub async fn open_with(&self, pool: &PoolConfig) -> Arc<dyn Store> {
        cc_store::connect(&self.url, pool)
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
///
/// The first operator, `admin`, exists from the start with [`TestApp::admin_password`], and
/// [`TestApp::client`] holds an access token for it. Both are written as fixtures, so the audit
/// log starts empty. [`TestApp::client_as`] gives clients for other roles
/// and [`TestApp::anonymous`] one without credentials.
pub struct TestApp {
    pub base_url: String,
    /// Logged in as `admin`.
    pub client: cc_client::Client,
    pub store: Arc<dyn Store>,
    pub db: TestDb,
    pub admin_password: String,
    /// The authentication service of the running app (for checks that bypass HTTP).
    pub auth: cc_service::Auth,
    shutdown: tokio_util::sync::CancellationToken,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// What the test server serves.
enum Mount {
    /// The API, with optional extra routes.
    Api(Option<axum::Router<cc_api::AppState>>),
    /// The API and the web console.
    Console,
}

impl TestApp {
    /// Starts the app with default settings on a fresh database (rate limits off, so tests
    /// may send as many requests as they like; see [`test_config`]).
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, test_config(), None).await
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
        Self::spawn_customized(backend, config, extra, |s| s).await
    }

    /// Like [`TestApp::spawn_with`], letting `customize` change the application state before
    /// it serves (e.g. to add lifecycle targets).
    ///
    /// # Panics
    /// When the app cannot start.
    pub async fn spawn_customized(
        backend: Backend,
        config: cc_api::ApiConfig,
        extra: Option<axum::Router<cc_api::AppState>>,
        customize: impl FnOnce(cc_api::AppState) -> cc_api::AppState,
    ) -> Self {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        Self::spawn_on(db, store, config, Mount::Api(extra), customize).await
    }

    /// Starts the app with the web console mounted (as `command-center serve` does).
    ///
    /// # Panics
    /// When the app cannot start.
    pub async fn spawn_console(backend: Backend, config: cc_api::ApiConfig) -> Self {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        Self::spawn_on(db, store, config, Mount::Console, |s| s).await
    }

    /// Like [`TestApp::spawn_console`], letting `customize` change the application state
    /// before it serves (e.g. to add lifecycle targets).
    ///
    /// # Panics
    /// When the app cannot start.
    pub async fn spawn_console_customized(
        backend: Backend,
        config: cc_api::ApiConfig,
        customize: impl FnOnce(cc_api::AppState) -> cc_api::AppState,
    ) -> Self {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        Self::spawn_on(db, store, config, Mount::Console, customize).await
    }

    /// Starts the app with the given settings on a fresh database opened with `pool` (to test
    /// behaviour that depends on pool sizes).
    ///
    /// # Panics
    /// When the app cannot start.
    pub async fn spawn_with_pool(
        backend: Backend,
        config: cc_api::ApiConfig,
        pool: &PoolConfig,
    ) -> Self {
        let db = TestDb::new(backend).await;
        let store = db.open_with(pool).await;
        store.migrate_up().await.expect("migrate");
        Self::spawn_on(db, store, config, Mount::Api(None), |s| s).await
    }

    async fn spawn_on(
        db: TestDb,
        store: Arc<dyn Store>,
        config: cc_api::ApiConfig,
        mount: Mount,
        customize: impl FnOnce(cc_api::AppState) -> cc_api::AppState,
    ) -> Self {
        let keys = signing_keys(store.as_ref(), &config).await;
        let admin_password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        let admin_token = seed_admin(store.as_ref(), &admin_password, &keys).await;
        let state = customize(cc_api::AppState::new(store.clone(), config));
        let auth = state.auth.clone();
        let server = match mount {
            Mount::Api(extra) => {
                cc_api::Server::bind_with("127.0.0.1:0", state, extra.unwrap_or_default()).await
            }
            Mount::Console => {
                let app = cc_console::app(state.clone());
                cc_api::Server::bind_app("127.0.0.1:0", state, app).await
            }
        }
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
        let client = cc_client::Client::new(&base_url)
            .expect("client")
            .with_token(admin_token);
        Self {
            base_url,
            client,
            store,
            db,
            admin_password,
            auth,
            shutdown,
            handle: Some(handle),
        }
    }

    /// A client without credentials.
    ///
    /// # Panics
    /// Never for the app's own URL.
    #[must_use]
    pub fn anonymous(&self) -> cc_client::Client {
        cc_client::Client::new(&self.base_url).expect("client")
    }

    /// Creates an operator with `role` (named after it plus a random suffix) and returns a
    /// client logged in as it, with its name and password.
    ///
    /// # Panics
    /// When the operator cannot be created or log in.
    pub async fn operator_with_role(
        &self,
        role: cc_domain::OperatorRole,
    ) -> (cc_client::Client, String, String) {
        let username = format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let password = format!("pw-{}", uuid::Uuid::new_v4().simple());
        self.client
            .create_operator(&cc_domain::NewOperator {
                username: username.clone(),
                password: password.clone(),
                role,
            })
            .await
            .expect("create operator");
        let (client, _) = self
            .anonymous()
            .logged_in(&username, &password)
            .await
            .expect("log in");
        (client, username, password)
    }

    /// A client logged in as a new operator with `role`.
    pub async fn client_as(&self, role: cc_domain::OperatorRole) -> cc_client::Client {
        self.operator_with_role(role).await.0
    }

    /// A new API token with `role`, created by `admin`: its secret.
    ///
    /// # Panics
    /// When the token cannot be created.
    pub async fn api_token(&self, role: cc_domain::OperatorRole) -> String {
        let name = format!("{role}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        self.client
            .create_token(&cc_domain::NewApiToken {
                name,
                role,
                expires_in_days: None,
            })
            .await
            .expect("create API token")
            .secret
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

/// The keys the app will sign with: the configured ones, or else one stored in the database the
/// way the server generates it (so any replica on the same database accepts the same tokens).
async fn signing_keys(store: &dyn Store, config: &cc_api::ApiConfig) -> cc_auth::Keyring {
    if !config.auth.signing_keys.is_empty() {
        return cc_auth::Keyring::parse(&config.auth.signing_keys).expect("signing keys");
    }
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let mut tx = store.begin().await.expect("begin");
    tx.auth()
        .insert_signing_key("harness", &secret, cc_domain::now())
        .await
        .expect("store a signing key");
    tx.commit().await.expect("commit");
    cc_auth::Keyring::parse(&format!("harness:{secret}")).expect("signing key")
}

/// Writes the operator `admin` and a login session for it straight into the database, as a
/// fixture (so a test starts with an empty audit log and no request spent), and returns an
/// access token for that session signed with the app's key.
async fn seed_admin(store: &dyn Store, password: &str, keys: &cc_auth::Keyring) -> String {
    let now = cc_domain::now();
    let admin = cc_domain::Operator {
        id: cc_domain::new_id(),
        username: "admin".into(),
        role: cc_domain::OperatorRole::Admin,
        disabled: false,
        last_login_at: None,
        password_changed_at: now,
        version: 1,
        created_at: now,
        updated_at: now,
    };
    let hash = cc_auth::PasswordHasher::new()
        .hash(password)
        .expect("hash the admin password");
    let session = cc_store::auth::Session {
        id: cc_domain::new_id(),
        operator_id: admin.id,
        created_at: now,
        expires_at: now + chrono::Duration::days(1),
        revoked_at: None,
    };
    let mut tx = store.begin().await.expect("begin");
    tx.auth()
        .insert_operator(&admin, &hash)
        .await
        .expect("insert admin");
    tx.auth()
        .insert_session(&session)
        .await
        .expect("insert session");
    tx.commit().await.expect("commit");
    let claims =
        cc_auth::AccessClaims::new(admin.id, session.id, "admin", chrono::Utc::now(), 86_400);
    keys.sign(&claims).expect("sign")
}

/// The settings [`TestApp::spawn`] uses: the defaults with rate limits off.
#[must_use]
pub fn test_config() -> cc_api::ApiConfig {
    let mut c = cc_api::ApiConfig::default();
    c.rate_limit.enabled = false;
    c
}

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
