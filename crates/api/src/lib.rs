//! The HTTP API: router, handlers, problem+json errors, OpenAPI.
//!
//! [`router`] builds the whole application; [`Server`] binds it to a listener and runs it
//! until a shutdown signal, draining in-flight requests within a bound.

pub mod auth;
mod connections;
pub mod error;
pub mod extract;
pub mod limits;
mod metrics;
mod middleware;
mod openapi;
pub mod request_id;
pub mod request_limits;
pub mod routes;
pub mod scim;
mod server;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use cc_service::Directory;
use cc_store::Store;

pub use auth::metrics::{metrics_guard, metrics_router, probe_router, MetricsAccess};
pub use auth::permissions::{Access, RoutePermission, PERMISSIONS};
pub use auth::rate_limit::RateLimitConfig;
pub use auth::session_cookie;
pub use connections::ConnectionLimits;
pub use error::{ApiError, Problem};
pub use limits::LimitsConfig;
pub use metrics::handle as metrics_handle;
pub use openapi::openapi;
pub use server::{router, router_with, Server};

/// Re-exported so test harnesses can add routes with the same axum version.
pub mod axum_reexport {
    pub use axum::Router;
}

/// Roster import settings for `POST /api/v1/imports`.
#[derive(Debug, Clone)]
pub struct ImportApiConfig {
    pub settings: cc_service::imports::ImportSettings,
    /// Largest upload (the import routes do not use `body_limit`).
    pub max_upload_bytes: usize,
    /// How long a request waits for planning or applying before answering 202.
    pub sync_wait: Duration,
    /// Most uploads read and planned at once; others wait their turn (on disk, not in memory).
    pub max_parallel_reads: usize,
}

impl Default for ImportApiConfig {
    fn default() -> Self {
        Self {
            settings: cc_service::imports::ImportSettings::default(),
            max_upload_bytes: 256 * 1024 * 1024,
            sync_wait: Duration::from_secs(5),
            max_parallel_reads: 2,
        }
    }
}

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body.
    pub body_limit: usize,
    /// Longest a request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Token lifetimes, signing keys, login throttling.
    pub auth: cc_service::AuthSettings,
    pub rate_limit: RateLimitConfig,
    /// Origins allowed to call the API from a browser (CORS); empty for none.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies whose `X-Forwarded-For` is believed when taking the client address.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Served over TLS: adds `Strict-Transport-Security`.
    pub hsts: bool,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
    pub import: ImportApiConfig,
    pub lifecycle: LifecycleApiConfig,
    /// Concurrency bounds: event streams and expensive requests per caller.
    pub limits: LimitsConfig,
    /// Header-read timeout and connections per address (plain HTTP).
    pub connections: ConnectionLimits,
    /// Mark the console's session cookie `Secure` even when this server does not terminate
    /// TLS (behind a TLS-terminating proxy). It is always `Secure` when it does.
    pub console_cookie_secure: bool,
    /// The configured Cloudflare zones; `None` when `[cloudflare]` is not configured (its
    /// routes answer 404).
    pub cloudflare_zones: Option<Vec<String>>,
}

/// Lifecycle settings the API needs.
#[derive(Debug, Clone, Default)]
pub struct LifecycleApiConfig {
    /// What generated temporary passwords look like.
    pub password_policy: cc_auth::PasswordPolicy,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            auth: cc_service::AuthSettings::default(),
            rate_limit: RateLimitConfig::default(),
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            hsts: false,
            metrics: MetricsAccess::default(),
            import: ImportApiConfig::default(),
            lifecycle: LifecycleApiConfig::default(),
            limits: LimitsConfig::default(),
            connections: ConnectionLimits::default(),
            console_cookie_secure: false,
            cloudflare_zones: None,
        }
    }
}

/// What every handler can reach: a cheap handle (one reference count) to the shared parts.
///
/// Every middleware layer and handler that takes `State` clones it once per request, so it
/// is one `Arc` rather than a struct of them: cloning a dozen reference counts per layer,
/// contended across cores, was a measurable share of a request's CPU.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

/// The parts behind [`AppState`] (reached through `Deref`).
#[derive(Clone)]
pub struct AppParts {
    pub store: Arc<dyn Store>,
    pub directory: Directory,
    pub config: Arc<ApiConfig>,
    pub auth: cc_service::Auth,
    pub limiter: Arc<auth::rate_limit::RateLimiter>,
    /// Import runs planning or applying in this process, with their progress.
    pub import_tasks: Arc<routes::imports::ImportTasks>,
    /// The lifecycle targets (for dry runs and the targets routes); none unless configured.
    pub lifecycle: cc_lifecycle::Engine,
    /// Rendered pages of `GET /users`, valid while the store reports no change.
    pub user_pages: Arc<cc_service::cache::GenerationCache<String, axum::body::Bytes>>,
    /// Rows of the console's People pages, valid while the store reports no change: every
    /// operator who may open the page sees the same rows, so concurrent viewers share one read.
    pub people_rows:
        Arc<cc_service::cache::GenerationCache<String, Arc<cc_domain::Page<cc_domain::User>>>>,
    /// The one job-event poller of this process, fanning out to every open stream.
    pub events: Arc<routes::events::hub::EventHub>,
    /// Open event streams per principal and per address.
    pub stream_slots: Arc<limits::SlotCounter>,
    /// Expensive requests in flight per principal.
    pub expensive_slots: Arc<limits::SlotCounter>,
    /// The console Overview's figures, shared while exact (see `cc_service::overview`).
    pub overview: Arc<cc_service::overview::OverviewCache>,
    /// A readiness report the console's pages share for up to a second.
    pub recent_readiness: Arc<routes::health::RecentReadiness>,
    /// Audit-chain verification shared by concurrent callers.
    pub audit_verifier: Arc<cc_service::AuditVerifier>,
    /// Cancelled when the server begins to shut down: open streams end at once.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The Cloudflare token's last verification, when `[cloudflare]` is configured.
    pub cloudflare: Option<cc_lifecycle::cloudflare::TokenHealth>,
    /// The notification channels (none unless configured).
    pub notifier: cc_notify::Notifier,
}

/// Rendered user-list pages kept at most (a page of 200 people is about 80 KB).
const USER_PAGE_CACHE_ENTRIES: usize = 128;

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

impl AppState {
    /// # Panics
    /// When the configured signing keys do not parse; use [`AppState::try_new`] to handle that.
    #[must_use]
    pub fn new(store: Arc<dyn Store>, config: ApiConfig) -> Self {
        #[allow(clippy::expect_used)]
        Self::try_new(store, config).expect("valid authentication settings")
    }

    /// # Errors
    /// The configured signing keys or Redis URL are invalid.
    pub fn try_new(
        store: Arc<dyn Store>,
        config: ApiConfig,
    ) -> Result<Self, cc_service::ServiceError> {
        let auth = cc_service::Auth::new(store.clone(), config.auth.clone())?;
        let limiter = Arc::new(auth::rate_limit::RateLimiter::new(&config.rate_limit)?);
        let import_tasks = Arc::new(routes::imports::ImportTasks::new(
            config.import.max_parallel_reads,
        ));
        let shutdown = tokio_util::sync::CancellationToken::new();
        Ok(Self(Arc::new(AppParts {
            events: Arc::new(routes::events::hub::EventHub::new(
                store.clone(),
                shutdown.clone(),
            )),
            audit_verifier: Arc::new(cc_service::AuditVerifier::new(store.clone())),
            stream_slots: Arc::default(),
            expensive_slots: Arc::default(),
            overview: Arc::default(),
            recent_readiness: Arc::default(),
            shutdown,
            cloudflare: None,
            notifier: cc_notify::Notifier::disabled(store.clone()),
            directory: Directory::new(store.clone()),
            lifecycle: cc_lifecycle::Engine::new(store.clone(), Vec::new(), auth.clone()),
            store,
            config: Arc::new(config),
            auth,
            limiter,
            import_tasks,
            user_pages: Arc::new(cc_service::cache::GenerationCache::new(
                USER_PAGE_CACHE_ENTRIES,
            )),
            people_rows: Arc::new(cc_service::cache::GenerationCache::new(
                USER_PAGE_CACHE_ENTRIES,
            )),
        })))
    }

    /// The lifecycle actions (dry runs, requests with their one-time passwords) over this
    /// state's directory and targets: the one path for the API and the console.
    #[must_use]
    pub fn actions(&self) -> cc_lifecycle::Actions {
        cc_lifecycle::Actions::new(
            self.directory.clone(),
            self.lifecycle.clone(),
            self.config.lifecycle.password_policy.clone(),
        )
    }

    /// Uses `engine`'s targets, and lets directory edits drive lifecycle jobs per `policy`.
    #[must_use]
    pub fn with_lifecycle(
        self,
        engine: cc_lifecycle::Engine,
        policy: cc_service::lifecycle::LifecyclePolicy,
    ) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.0);
        // The recorder first, so the targets' gauges are there from the first scrape.
        crate::metrics::handle();
        engine.export_target_health();
        parts.lifecycle = engine;
        parts.directory = parts.directory.clone().with_lifecycle(policy);
        Self(Arc::new(parts))
    }

    /// Reports the Cloudflare token's state (kept fresh by its monitor) in readiness.
    #[must_use]
    pub fn with_cloudflare(self, health: cc_lifecycle::cloudflare::TokenHealth) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.0);
        parts.cloudflare = Some(health);
        Self(Arc::new(parts))
    }

    /// Uses `notifier`'s channels for test messages and channel checks, and lets device
    /// changes, lockouts and audit verifications enqueue the notifications they subscribe to.
    #[must_use]
    pub fn with_notifier(self, notifier: cc_notify::Notifier) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.0);
        crate::metrics::handle();
        notifier.export_metrics();
        let subscriptions = notifier.subscriptions();
        parts.directory = parts
            .directory
            .clone()
            .with_notifications(subscriptions.clone());
        parts.auth = parts.auth.clone().with_notifications(subscriptions.clone());
        parts.audit_verifier = Arc::new(
            cc_service::AuditVerifier::new(parts.store.clone()).with_notifications(subscriptions),
        );
        parts.notifier = notifier;
        Self(Arc::new(parts))
    }

    /// Which source owns which field of a person (see [`cc_domain::FieldOwners`]), for API
    /// and SCIM writes and roster imports alike.
    #[must_use]
    pub fn with_field_owners(self, owners: cc_domain::FieldOwners) -> Self {
        let mut parts = Arc::unwrap_or_clone(self.0);
        Arc::make_mut(&mut parts.config).import.settings.owners = owners.clone();
        parts.directory = parts.directory.clone().with_field_owners(owners);
        Self(Arc::new(parts))
    }
}
