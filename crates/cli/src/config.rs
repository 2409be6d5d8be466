//! Layered configuration: defaults < TOML file < environment < command-line flags.
//!
//! Every key has an environment variable: `CC_` and the key path in upper case joined by `_`
//! (`database.max_connections` → `CC_DATABASE_MAX_CONNECTIONS`). Secrets also accept
//! `<VAR>_FILE` naming a file that holds the value (Docker secrets), and the database and Redis
//! URLs accept the conventional `DATABASE_URL` / `REDIS_URL` when the `CC_` form is absent.
//! Unknown keys in the file are rejected.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

mod backups;
mod limits;
mod queue;

pub use backups::BackupsSettings;
pub use limits::LimitsSettings;
pub use queue::QueueSettings;

use cc_connectors::TargetConfig;

/// Keys holding secrets: redacted when printed, and readable from `<VAR>_FILE`.
pub const SECRET_KEYS: [&str; 6] = [
    "database_url",
    "redis_url",
    "bootstrap_admin_password",
    "master_key",
    "auth_signing_keys",
    "metrics_token",
];

/// Secrets that also answer to their conventional unprefixed variable (`DATABASE_URL`).
const UNPREFIXED_ALIASES: [&str; 2] = ["database_url", "redis_url"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: String,
    /// `sqlite://path` (embedded) or `postgres://user:pass@host/db`.
    pub database_url: String,
    /// Redis for shared rate limits and event fan-out across replicas; empty for none.
    pub redis_url: String,
    /// Log filter, e.g. `info` or `info,cc_api=debug`.
    pub log: String,
    /// `json`, `pretty`, or `auto` (JSON unless writing to a terminal).
    pub log_format: String,
    /// Apply pending migrations when `serve` starts.
    pub migrate_on_start: bool,
    /// Password of the first operator, `admin`, created when no operator exists. Empty: `serve`
    /// generates one and prints it once on standard output.
    pub bootstrap_admin_password: String,
    /// `id:secret` entries (secrets of at least 32 bytes), kept outside the database: seals the
    /// generated signing key at rest. The first seals, all open. Empty: that key is stored in
    /// clear (a warning at start says so).
    pub master_key: String,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub import: ImportConfig,
    pub queue: QueueSettings,
    pub auth: AuthConfig,
    pub rate_limit: RateLimitConfig,
    pub tls: TlsConfig,
    pub metrics: MetricsConfig,
    pub telemetry: TelemetryConfig,
    pub lifecycle: LifecycleConfig,
    pub limits: LimitsSettings,
    pub console: ConsoleConfig,
    /// Operator sign-in through OpenID providers; see docs/sso.md.
    pub oidc: OidcConfig,
    pub directory: DirectoryConfig,
    /// Lifecycle targets (`[[targets]]`, file only); see docs/lifecycle.md.
    #[serde(skip_serializing_if = "Targets::is_empty")]
    pub targets: Targets,
    /// Cloudflare automation (`[cloudflare]`, file only); see docs/cloudflare.md.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloudflare: Option<cc_connectors::cloudflare::CloudflareConfig>,
    /// Notification channels and their windows (`[notifications]`; channels from the file
    /// only); see docs/notifications.md.
    pub notifications: Notifications,
    /// Backup freshness (`[backups]`): where backups land and how old the newest may be;
    /// see docs/operations.md.
    pub backups: BackupsSettings,
}

/// The `[notifications]` section (compared by its serialized form, secrets left out).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Notifications(pub cc_notify::NotificationsConfig);

impl PartialEq for Notifications {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

/// The `[[targets]]` entries (compared by their serialized form, secrets redacted).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Targets(pub Vec<cc_connectors::TargetConfig>);

impl Targets {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Targets {
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

/// The directory (`[directory]`); see docs/scim.md.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Which source (`roster`, `scim` or `api`) owns which field of a person
    /// (`{ grade = "roster", email = "scim" }`): a change from another source is not applied
    /// but reported as a conflict. Fields not named may be changed by any source.
    pub field_owners: cc_domain::FieldOwners,
}

/// Lifecycle automation (`[lifecycle]`); see docs/lifecycle.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LifecycleConfig {
    /// API edits of provisioned people (status, names, school, grade, groups) enqueue the
    /// matching lifecycle job.
    pub sync_on_change: bool,
    /// People created through the API are provisioned at once.
    pub auto_provision: bool,
    /// Length of generated temporary passwords (12-128).
    pub password_length: usize,
    /// Include symbols (`!#%+-=?@^_`) in temporary passwords.
    pub password_symbols: bool,
    /// Leave out characters that are easy to misread (0 O o 1 l I |).
    pub password_exclude_ambiguous: bool,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        Self {
            sync_on_change: true,
            auto_provision: false,
            password_length: 16,
            password_symbols: true,
            password_exclude_ambiguous: true,
        }
    }
}

impl LifecycleConfig {
    #[must_use]
    pub fn password_policy(&self) -> cc_auth::PasswordPolicy {
        cc_auth::PasswordPolicy {
            length: self.password_length,
            symbols: self.password_symbols,
            exclude_ambiguous: self.password_exclude_ambiguous,
            ..cc_auth::PasswordPolicy::default()
        }
    }

    #[must_use]
    pub fn policy(&self) -> cc_service::lifecycle::LifecyclePolicy {
        cc_service::lifecycle::LifecyclePolicy {
            sync_on_change: self.sync_on_change,
            auto_provision: self.auto_provision,
        }
    }
}

/// Token lifetimes, signing keys and login throttling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub access_token_ttl_secs: i64,
    pub refresh_token_ttl_secs: i64,
    pub session_max_age_secs: i64,
    /// `kid:secret` entries separated by commas or newlines; the first signs, all verify.
    /// Empty: one key is generated and kept in the database.
    pub signing_keys: String,
    pub login_throttle_after: i32,
    pub login_lockout_after: i32,
    pub address_throttle_after: i32,
    pub address_lockout_after: i32,
    pub lockout_secs: i64,
    pub failure_window_secs: i64,
}

/// Requests per minute; 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    pub enabled: bool,
    pub per_address_per_minute: u32,
    pub per_principal_per_minute: u32,
    pub login_per_address_per_minute: u32,
}

/// The web console's sign-in sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// A console session unused this long ends (the next page asks to sign in again).
    pub idle_timeout_secs: i64,
    /// A console session ends this long after sign-in, however much it is used.
    pub absolute_timeout_secs: i64,
    /// Mark the session cookie `Secure` although this server speaks plain HTTP (behind a
    /// TLS-terminating proxy). It always is when `tls.*` is set.
    pub cookie_secure: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        let p = cc_service::auth::ConsolePolicy::default();
        Self {
            idle_timeout_secs: p.idle_timeout_secs,
            absolute_timeout_secs: p.absolute_timeout_secs,
            cookie_secure: false,
        }
    }
}

/// Operator sign-in through OpenID providers (`[oidc]`, `[[oidc.providers]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    /// False turns password sign-in off (API tokens keep working).
    pub local_passwords: bool,
    /// The URL browsers reach this server at; the redirect URIs are built from it. Empty:
    /// from each request's `Host`.
    pub public_url: String,
    /// How long a sign-in may take at the provider.
    pub state_ttl_secs: i64,
    /// Least time between two fetches of a provider's keys prompted by an unknown key id.
    pub jwks_min_refetch_secs: u64,
    pub providers: Vec<OidcProviderEntry>,
}

impl Default for OidcConfig {
    fn default() -> Self {
        let d = cc_service::auth::oidc::OidcSettings::default();
        Self {
            local_passwords: d.local_passwords,
            public_url: d.public_url,
            state_ttl_secs: d.state_ttl_secs,
            jwks_min_refetch_secs: d.jwks_min_refetch_secs,
            providers: Vec::new(),
        }
    }
}

/// One `[[oidc.providers]]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderEntry {
    /// Used in URLs: lower-case letters, digits, '-'.
    pub name: String,
    /// The button's label ("Sign in with …"); defaults to the name.
    #[serde(default)]
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// File holding the client secret; empty for a public client (PKCE only).
    #[serde(default)]
    pub client_secret_file: String,
    /// Scopes besides `openid`; default `profile email`.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The claim with groups or roles (dotted path into objects); default `groups`.
    #[serde(default)]
    pub role_claim: String,
    /// Claim value → role (`admin`, `operator`, `auditor`).
    pub roles: std::collections::BTreeMap<String, String>,
}

impl OidcConfig {
    /// The service's settings, with each client secret read from its file.
    ///
    /// # Errors
    /// A secret file cannot be read, or a role is unknown.
    pub fn settings(&self) -> anyhow::Result<cc_service::auth::oidc::OidcSettings> {
        let mut providers = Vec::new();
        for e in &self.providers {
            let mut p =
                cc_service::auth::oidc::OidcProviderConfig::new(&e.name, &e.issuer, &e.client_id);
            if !e.display_name.is_empty() {
                p.display_name.clone_from(&e.display_name);
            }
            if !e.client_secret_file.is_empty() {
                p.client_secret = Some(
                    read_secret_file(Path::new(&e.client_secret_file)).with_context(|| {
                        format!("oidc.providers `{}`: client_secret_file", e.name)
                    })?,
                );
            }
            if !e.scopes.is_empty() {
                p.scopes.clone_from(&e.scopes);
            }
            if !e.role_claim.is_empty() {
                p.role_claim.clone_from(&e.role_claim);
            }
            for (value, role) in &e.roles {
                let role = role
                    .parse()
                    .map_err(|m: String| anyhow::anyhow!("oidc.providers `{}`: {m}", e.name))?;
                p.roles.insert(value.clone(), role);
            }
            p.validate().map_err(|m| anyhow::anyhow!("{m}"))?;
            providers.push(p);
        }
        Ok(cc_service::auth::oidc::OidcSettings {
            providers,
            local_passwords: self.local_passwords,
            public_url: self.public_url.clone(),
            state_ttl_secs: self.state_ttl_secs,
            jwks_min_refetch_secs: self.jwks_min_refetch_secs,
            ..cc_service::auth::oidc::OidcSettings::default()
        })
    }
}

/// Terminating TLS in `serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain; with `key_file`, `serve` speaks HTTPS only.
    pub cert_file: String,
    pub key_file: String,
    /// How often the files are checked for a renewed certificate.
    pub reload_interval_secs: u64,
}

/// Who may read `/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Bearer token for scrapers (secret).
    pub token: String,
    /// Serve metrics without credentials.
    pub public: bool,
    /// A separate address for `/metrics`; empty to serve it with the API.
    pub listen: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub max_connections: u32,
    pub min_connections: u32,
    pub acquire_timeout_ms: u64,
    /// How long SQLite waits for another process's lock.
    pub busy_timeout_ms: u64,
    /// Connections of the control pool: readiness checks and the job queue's heartbeats and
    /// outcomes, kept apart from bulk work (0 shares the main pool).
    pub control_connections: u32,
    /// `serve` only, PostgreSQL only: any statement running longer is cancelled (the request
    /// gets 503). 0 for no limit.
    pub statement_timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    pub request_timeout_ms: u64,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace_ms: u64,
    /// Browser origins allowed to call the API (CORS), e.g. `https://admin.example.org`.
    pub cors_allowed_origins: Vec<String>,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<String>,
}

/// Roster imports (`command-center import`, `POST /api/v1/imports`); see docs/import.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImportConfig {
    /// Largest file of an export (uncompressed).
    pub max_file_bytes: u64,
    /// Longest row of a file.
    pub max_row_bytes: usize,
    /// Most data rows in a file.
    pub max_rows: u64,
    /// Largest upload to `POST /api/v1/imports` (other routes keep `http.body_limit_bytes`).
    pub max_upload_bytes: usize,
    /// Refuse plans that suspend more than this share of active people (percent).
    pub max_suspend_percent: f64,
    /// Refuse plans that suspend more than this many people.
    pub max_suspend_count: u64,
    /// Refuse bulk files with fewer rows than this share of the SIS-managed active people (percent).
    pub min_row_percent: f64,
    /// Match people without an external id by username.
    pub match_by_username: bool,
    /// How long `POST /api/v1/imports` waits for the plan before answering 202 with the run.
    pub sync_wait_ms: u64,
    /// Days an uploaded file is kept after its run last changed (the run itself is kept);
    /// pruned by the job workers' maintenance.
    pub retention_days: u64,
    /// Days the file of a failed run is kept.
    pub failed_retention_days: u64,
    /// Most uploads the API reads and plans at once; the others wait on disk.
    pub max_parallel_reads: usize,
}

impl Default for ImportConfig {
    fn default() -> Self {
        let limits = cc_roster::Limits::default();
        let guards = cc_roster::GuardSettings::default();
        Self {
            max_file_bytes: limits.max_file_bytes,
            max_row_bytes: limits.max_row_bytes,
            max_rows: limits.max_rows,
            max_upload_bytes: 256 * 1024 * 1024,
            max_suspend_percent: guards.max_suspend_percent,
            max_suspend_count: guards.max_suspend_count,
            min_row_percent: guards.min_row_percent,
            match_by_username: true,
            sync_wait_ms: 5_000,
            retention_days: 30,
            failed_retention_days: 3,
            max_parallel_reads: 2,
        }
    }
}

impl ImportConfig {
    /// The settings the import service takes.
    #[must_use]
    pub fn settings(&self) -> cc_service::imports::ImportSettings {
        cc_service::imports::ImportSettings {
            limits: cc_roster::Limits {
                max_file_bytes: self.max_file_bytes,
                max_row_bytes: self.max_row_bytes,
                max_rows: self.max_rows,
            },
            guards: cc_roster::GuardSettings {
                max_suspend_percent: self.max_suspend_percent,
                max_suspend_count: self.max_suspend_count,
                min_row_percent: self.min_row_percent,
            },
            plan: cc_roster::PlanOptions {
                match_by_username: self.match_by_username,
            },
            owners: cc_domain::FieldOwners::default(),
        }
    }
}

/// OpenTelemetry trace export (off unless an endpoint is set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector base URL, e.g. `http://otel-collector:4318`; empty disables export.
    pub otlp_endpoint: String,
    pub otlp_timeout_ms: u64,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of traces sampled, 0.0–1.0 (child spans follow their parent's decision).
    pub sample_ratio: f64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            otlp_timeout_ms: 10_000,
            service_name: "command-center".into(),
            sample_ratio: 1.0,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: "sqlite://data/command-center.db".into(),
            redis_url: String::new(),
            log: "info".into(),
            log_format: "auto".into(),
            migrate_on_start: true,
            bootstrap_admin_password: String::new(),
            master_key: String::new(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            import: ImportConfig::default(),
            queue: QueueSettings::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            tls: TlsConfig::default(),
            metrics: MetricsConfig::default(),
            telemetry: TelemetryConfig::default(),
            lifecycle: LifecycleConfig::default(),
            limits: LimitsSettings::default(),
            console: ConsoleConfig::default(),
            oidc: OidcConfig::default(),
            directory: DirectoryConfig::default(),
            targets: Targets::default(),
            cloudflare: None,
            notifications: Notifications::default(),
            backups: BackupsSettings::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        let s = cc_service::AuthSettings::default();
        Self {
            access_token_ttl_secs: s.access_token_ttl_secs,
            refresh_token_ttl_secs: s.refresh_token_ttl_secs,
            session_max_age_secs: s.session_max_age_secs,
            signing_keys: String::new(),
            login_throttle_after: s.throttle.name_throttle_after,
            login_lockout_after: s.throttle.name_lockout_after,
            address_throttle_after: s.throttle.address_throttle_after,
            address_lockout_after: s.throttle.address_lockout_after,
            lockout_secs: s.throttle.lockout_secs,
            failure_window_secs: s.throttle.window_secs,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        let r = cc_api::RateLimitConfig::default();
        Self {
            enabled: r.enabled,
            per_address_per_minute: r.per_address_per_minute,
            per_principal_per_minute: r.per_principal_per_minute,
            login_per_address_per_minute: r.login_per_address_per_minute,
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            cert_file: String::new(),
            key_file: String::new(),
            reload_interval_secs: 60,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            min_connections: 0,
            acquire_timeout_ms: 5_000,
            busy_timeout_ms: 5_000,
            control_connections: 4,
            statement_timeout_ms: 30_000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            request_timeout_ms: 30_000,
            shutdown_grace_ms: 10_000,
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Reads environment variables; a trait object so tests can pass a map.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl Config {
    /// Loads the configuration from the file (if any) and the environment.
    ///
    /// # Errors
    /// The file cannot be read or has unknown keys or wrong types; an environment value does
    /// not parse; a `_FILE` cannot be read.
    ///
    /// Relative paths in the file (the SQLite database, TLS files, and every path of a
    /// target) are taken from the file's directory, not the working directory; relative
    /// paths from the environment or defaults stay relative to the working directory.
    pub fn load(file: Option<&Path>, env: Env<'_>) -> anyhow::Result<Self> {
        let mut tree = toml::Value::try_from(Config::default())?;
        let mut base = None;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let mut from_file: toml::Value = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", path.display()))?;
            // Deserialize once on its own for precise errors about unknown keys.
            let _: Config = from_file
                .clone()
                .try_into()
                .with_context(|| format!("in {}", path.display()))?;
            let dir = config_dir(path)?;
            resolve_file_paths(&mut from_file, &dir);
            base = Some(dir);
            merge(&mut tree, from_file);
        }
        apply_env(&mut tree, "", env)?;
        let mut config: Config = tree.try_into().context("invalid configuration")?;
        if let Some(dir) = base {
            // Targets come from the file only.
            for target in &mut config.targets.0 {
                target.resolve_relative_to(&dir);
            }
            config.notifications.0.resolve_relative_to(&dir);
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !["auto", "json", "pretty"].contains(&self.log_format.as_str()) {
            bail!(
                "log_format must be auto, json or pretty (got `{}`)",
                self.log_format
            );
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.telemetry.sample_ratio) {
            bail!("telemetry.sample_ratio must be between 0.0 and 1.0");
        }
        if self.http.body_limit_bytes < 1024 {
            bail!("http.body_limit_bytes must be at least 1024");
        }
        if self.import.retention_days == 0 || self.import.max_parallel_reads == 0 {
            bail!("import.retention_days and import.max_parallel_reads must be at least 1");
        }
        if !(0.0..=100.0).contains(&self.import.max_suspend_percent)
            || !(0.0..=100.0).contains(&self.import.min_row_percent)
        {
            bail!(
                "import.max_suspend_percent and import.min_row_percent must be between 0 and 100"
            );
        }
        if self.import.max_row_bytes < 256 || self.import.max_upload_bytes < 1024 {
            bail!("import.max_row_bytes must be at least 256 and import.max_upload_bytes at least 1024");
        }
        if let Err(e) = self.queue.runtime().validate() {
            bail!("{e}");
        }
        if let Err(e) = self.lifecycle.password_policy().validate() {
            bail!("lifecycle: {e}");
        }
        if let Err(e) = self.directory.field_owners.validate() {
            bail!("directory.field_owners: {e}");
        }
        for target in self.targets.0.iter().filter(|t| t.enabled()) {
            target
                .validate()
                .map_err(|e| anyhow::anyhow!("targets: {e}"))?;
        }
        if let Some(c) = &self.cloudflare {
            c.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        self.notifications
            .0
            .validate(false)
            .map_err(anyhow::Error::msg)?;
        self.backups.validate().map_err(anyhow::Error::msg)?;
        self.validate_security()
    }

    fn validate_security(&self) -> anyhow::Result<()> {
        if !self.master_key.trim().is_empty() {
            cc_auth::Keyring::parse(&self.master_key)
                .map_err(|e| anyhow::anyhow!("master_key: {e}"))?;
        }
        if !self.auth.signing_keys.trim().is_empty() {
            cc_auth::Keyring::parse(&self.auth.signing_keys)
                .map_err(|e| anyhow::anyhow!("auth.signing_keys: {e}"))?;
        }
        self.oidc.settings()?;
        let a = &self.auth;
        if a.access_token_ttl_secs < 60
            || a.refresh_token_ttl_secs < 60
            || a.session_max_age_secs < 60
        {
            bail!("auth.*_ttl_secs and auth.session_max_age_secs must be at least 60");
        }
        let c = &self.console;
        if c.idle_timeout_secs < 60 || c.absolute_timeout_secs < c.idle_timeout_secs {
            bail!(
                "console.idle_timeout_secs must be at least 60 and console.absolute_timeout_secs \
                 at least console.idle_timeout_secs"
            );
        }
        if a.login_throttle_after < 1
            || a.login_lockout_after < 1
            || a.address_throttle_after < 1
            || a.address_lockout_after < 1
            || a.lockout_secs < 1
            || a.failure_window_secs < 1
        {
            bail!("auth throttling thresholds and periods must be at least 1");
        }
        self.trusted_proxies()?;
        if self.tls.cert_file.is_empty() != self.tls.key_file.is_empty() {
            bail!("tls.cert_file and tls.key_file must be set together");
        }
        Ok(())
    }

    /// The trusted proxies as networks; a bare address is a single-host network.
    ///
    /// # Errors
    /// An entry is neither an IP address nor a CIDR.
    pub fn trusted_proxies(&self) -> anyhow::Result<Vec<ipnet::IpNet>> {
        self.http
            .trusted_proxies
            .iter()
            .map(|s| {
                let s = s.trim();
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        anyhow::anyhow!("http.trusted_proxies: `{s}` is not an IP address or CIDR")
                    })
            })
            .collect()
    }

    /// Serving TLS: the certificate and key files and the reload interval.
    #[must_use]
    pub fn tls_files(&self) -> Option<cc_api::tls::TlsFiles> {
        (!self.tls.cert_file.is_empty()).then(|| cc_api::tls::TlsFiles {
            cert: PathBuf::from(&self.tls.cert_file),
            key: PathBuf::from(&self.tls.key_file),
            reload_interval: std::time::Duration::from_secs(self.tls.reload_interval_secs.max(1)),
        })
    }

    /// The configuration as TOML with secrets redacted.
    #[must_use]
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        c.database_url = cc_store::redact_url(&c.database_url);
        c.redis_url = cc_store::redact_url(&c.redis_url);
        c.targets = Targets(c.targets.0.iter().map(TargetConfig::redacted).collect());
        for secret in [
            &mut c.bootstrap_admin_password,
            &mut c.master_key,
            &mut c.auth.signing_keys,
            &mut c.metrics.token,
        ] {
            if !secret.is_empty() {
                "***".clone_into(secret);
            }
        }
        c
    }

    #[must_use]
    pub fn pool(&self) -> cc_store::PoolConfig {
        use std::time::Duration;
        cc_store::PoolConfig {
            max_connections: self.database.max_connections,
            min_connections: self.database.min_connections,
            acquire_timeout: Duration::from_millis(self.database.acquire_timeout_ms),
            busy_timeout: Duration::from_millis(self.database.busy_timeout_ms),
            control_connections: self.database.control_connections,
            statement_timeout: None,
        }
    }

    /// [`Config::pool`] for a server answering requests: with the statement timeout.
    #[must_use]
    pub fn server_pool(&self) -> cc_store::PoolConfig {
        let ms = self.database.statement_timeout_ms;
        cc_store::PoolConfig {
            statement_timeout: (ms > 0).then(|| std::time::Duration::from_millis(ms)),
            ..self.pool()
        }
    }

    /// The import settings with the field owners of `[directory.field_owners]`.
    #[must_use]
    pub fn import_settings(&self) -> cc_service::imports::ImportSettings {
        cc_service::imports::ImportSettings {
            owners: self.directory.field_owners.clone(),
            ..self.import.settings()
        }
    }

    #[must_use]
    pub fn api(&self) -> cc_api::ApiConfig {
        use std::time::Duration;
        cc_api::ApiConfig {
            body_limit: self.http.body_limit_bytes,
            request_timeout: Duration::from_millis(self.http.request_timeout_ms),
            shutdown_grace: Duration::from_millis(self.http.shutdown_grace_ms),
            auth: self.auth_settings(),
            rate_limit: cc_api::RateLimitConfig {
                enabled: self.rate_limit.enabled,
                per_address_per_minute: self.rate_limit.per_address_per_minute,
                per_principal_per_minute: self.rate_limit.per_principal_per_minute,
                login_per_address_per_minute: self.rate_limit.login_per_address_per_minute,
                redis_url: self.redis_url.clone(),
                ..cc_api::RateLimitConfig::default()
            },
            cors_allowed_origins: self.http.cors_allowed_origins.clone(),
            trusted_proxies: self.trusted_proxies().unwrap_or_default(),
            hsts: self.tls_files().is_some(),
            metrics: cc_api::MetricsAccess {
                token: self.metrics.token.clone(),
                public: self.metrics.public,
                listen: self.metrics.listen.clone(),
            },
            import: cc_api::ImportApiConfig {
                settings: self.import_settings(),
                max_upload_bytes: self.import.max_upload_bytes,
                sync_wait: Duration::from_millis(self.import.sync_wait_ms),
                max_parallel_reads: self.import.max_parallel_reads,
            },
            lifecycle: cc_api::LifecycleApiConfig {
                password_policy: self.lifecycle.password_policy(),
            },
            limits: self.limits.api(),
            connections: self.limits.connections(),
            console_cookie_secure: self.console.cookie_secure,
            cloudflare_zones: self.cloudflare.as_ref().map(|c| c.zones.clone()),
        }
    }

    /// The Cloudflare jobs when `[cloudflare]` is configured. The token is verified now and
    /// its state logged; a failing check does not stop the process (jobs fail and retry
    /// with Cloudflare's reason instead).
    ///
    /// # Errors
    /// An invalid section or unreadable token file.
    pub async fn cloudflare_jobs(
        &self,
        store: std::sync::Arc<dyn cc_store::Store>,
    ) -> anyhow::Result<Option<cc_lifecycle::cloudflare::CloudflareJobs>> {
        let Some(health) = self.cloudflare_health()? else {
            return Ok(None);
        };
        // Verified at start (logged); a failure is a warning, the jobs report it when they run.
        health.check().await;
        let alerts = cc_notify::CertificateAlerts::new(self.notifications.0.subscriptions());
        Ok(Some(
            cc_lifecycle::cloudflare::CloudflareJobs::new(health.service().clone(), store)
                .with_notifier(std::sync::Arc::new(alerts)),
        ))
    }

    /// The Cloudflare service and its token state (not verified yet) when `[cloudflare]` is
    /// configured.
    ///
    /// # Errors
    /// The section is invalid or the token file unreadable.
    pub fn cloudflare_health(
        &self,
    ) -> anyhow::Result<Option<cc_lifecycle::cloudflare::TokenHealth>> {
        let Some(c) = &self.cloudflare else {
            return Ok(None);
        };
        let service = cc_connectors::cloudflare::Cloudflare::new(c.clone())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Some(cc_lifecycle::cloudflare::TokenHealth::new(
            std::sync::Arc::new(service),
        )))
    }

    /// The notification channels (secret files read now); a notifier without channels when
    /// none are configured. Links in messages use `notifications.public_url`, else
    /// `oidc.public_url`.
    ///
    /// # Errors
    /// A channel's settings are invalid or its secret file cannot be read.
    pub fn notifier(
        &self,
        store: std::sync::Arc<dyn cc_store::Store>,
    ) -> anyhow::Result<cc_notify::Notifier> {
        let n = &self.notifications.0;
        let public_url = [&n.public_url, &self.oidc.public_url]
            .into_iter()
            .find(|u| !u.is_empty())
            .cloned();
        cc_notify::Notifier::new(store, n, public_url)
            .map_err(|e| anyhow::anyhow!("notifications: {e}"))
    }

    /// The watch of the backup directory when `[backups]` is configured, telling
    /// `notifier`'s channels of stale backups.
    #[must_use]
    pub fn backup_watch(&self, notifier: &cc_notify::Notifier) -> Option<cc_notify::BackupWatch> {
        self.backups.is_configured().then(|| {
            notifier.backup_watch(PathBuf::from(&self.backups.dir), self.backups.max_age())
        })
    }

    /// Builds the configured lifecycle targets and the engine that runs them.
    ///
    /// # Errors
    /// A target's configuration is invalid (a bad URL, a missing secret file, a duplicate
    /// name, …); the message names the target and the setting.
    pub fn lifecycle_engine(
        &self,
        store: std::sync::Arc<dyn cc_store::Store>,
        auth: cc_service::Auth,
    ) -> anyhow::Result<cc_lifecycle::Engine> {
        let targets = cc_connectors::build_targets(&self.targets.0)
            .map_err(|e| anyhow::anyhow!("targets: {e}"))?;
        Ok(cc_lifecycle::Engine::new(store, targets, auth))
    }

    #[must_use]
    pub fn auth_settings(&self) -> cc_service::AuthSettings {
        let a = &self.auth;
        cc_service::AuthSettings {
            access_token_ttl_secs: a.access_token_ttl_secs,
            refresh_token_ttl_secs: a.refresh_token_ttl_secs,
            session_max_age_secs: a.session_max_age_secs,
            signing_keys: a.signing_keys.clone(),
            master_key: self.master_key.clone(),
            throttle: cc_service::auth::ThrottlePolicy {
                name_throttle_after: a.login_throttle_after,
                name_lockout_after: a.login_lockout_after,
                address_throttle_after: a.address_throttle_after,
                address_lockout_after: a.address_lockout_after,
                lockout_secs: a.lockout_secs,
                window_secs: a.failure_window_secs,
            },
            console: cc_service::auth::ConsolePolicy {
                idle_timeout_secs: self.console.idle_timeout_secs,
                absolute_timeout_secs: self.console.absolute_timeout_secs,
            },
            // Checked by `validate`, which every command that serves runs first.
            oidc: self.oidc.settings().unwrap_or_default(),
        }
    }
}

/// The absolute directory holding the configuration file `path`.
fn config_dir(path: &Path) -> anyhow::Result<PathBuf> {
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    std::path::absolute(parent.unwrap_or(Path::new(".")))
        .with_context(|| format!("cannot resolve the directory of {}", path.display()))
}

/// Makes the file's relative paths outside `[[targets]]` relative to `dir`: a relative
/// `sqlite://` database, `tls.cert_file` / `tls.key_file` and `backups.dir`.
fn resolve_file_paths(file: &mut toml::Value, dir: &Path) {
    if let Some(toml::Value::String(url)) = file.get_mut("database_url") {
        if let Some(resolved) = resolve_sqlite_url(url, dir) {
            *url = resolved;
        }
    }
    if let Some(toml::Value::Table(backups)) = file.get_mut("backups") {
        if let Some(toml::Value::String(p)) = backups.get_mut("dir") {
            if !p.is_empty() {
                *p = cc_connectors::paths::resolve(dir, Path::new(p.as_str()))
                    .to_string_lossy()
                    .into_owned();
            }
        }
    }
    if let Some(toml::Value::Table(tls)) = file.get_mut("tls") {
        for key in ["cert_file", "key_file"] {
            if let Some(toml::Value::String(p)) = tls.get_mut(key) {
                if !p.is_empty() {
                    *p = cc_connectors::paths::resolve(dir, Path::new(p.as_str()))
                        .to_string_lossy()
                        .into_owned();
                }
            }
        }
    }
}

/// `sqlite://<relative path>` (or `sqlite:<relative path>`) as `sqlite://<dir>/<path>`;
/// `None` for absolute paths (`sqlite:///var/lib/…`), in-memory databases and other URLs.
fn resolve_sqlite_url(url: &str, dir: &Path) -> Option<String> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    if rest.is_empty() || rest.starts_with('/') || rest.starts_with(":memory:") {
        return None;
    }
    if rest.contains("mode=memory") {
        return None;
    }
    let absolute = cc_connectors::paths::resolve(dir, Path::new(rest));
    Some(format!("sqlite://{}", absolute.display()))
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Overrides every key in `tree` from its `CC_*` variable (and `_FILE` / unprefixed aliases).
fn apply_env(tree: &mut toml::Value, prefix: &str, env: Env<'_>) -> anyhow::Result<()> {
    let toml::Value::Table(table) = tree else {
        return Ok(());
    };
    for (key, value) in table.iter_mut() {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}_{key}")
        };
        if value.is_table() {
            apply_env(value, &path, env)?;
            continue;
        }
        // Targets and channels are tables in an array: configured in the file only.
        if path == "targets" || path == "notifications_channels" {
            continue;
        }
        let var = format!("CC_{}", path.to_ascii_uppercase());
        let Some((source, raw)) = lookup(&var, &path, env)? else {
            continue;
        };
        *value = match value {
            toml::Value::String(_) => toml::Value::String(raw),
            toml::Value::Integer(_) => toml::Value::Integer(
                raw.trim()
                    .parse()
                    .with_context(|| format!("{source} must be a whole number, got `{raw}`"))?,
            ),
            toml::Value::Float(_) => toml::Value::Float(
                raw.trim()
                    .parse()
                    .with_context(|| format!("{source} must be a number, got `{raw}`"))?,
            ),
            toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => bail!("{source} must be true or false, got `{raw}`"),
            }),
            // Lists: comma-separated.
            toml::Value::Array(_) => toml::Value::Array(
                raw.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            other => bail!(
                "{source}: cannot set a {} from the environment",
                other.type_str()
            ),
        };
    }
    Ok(())
}

/// Finds the value for one key: `CC_X`, then `CC_X_FILE` for secrets, then the conventional
/// unprefixed name (`DATABASE_URL`, `REDIS_URL`, and their `_FILE`).
fn lookup(var: &str, key: &str, env: Env<'_>) -> anyhow::Result<Option<(String, String)>> {
    let secret = SECRET_KEYS.contains(&key);
    let mut names = vec![var.to_owned()];
    if UNPREFIXED_ALIASES.contains(&key) {
        let plain = key.to_ascii_uppercase();
        names.push(plain);
    }
    for name in names {
        if let Some(v) = env(&name) {
            return Ok(Some((name, v)));
        }
        if secret {
            let file_var = format!("{name}_FILE");
            if let Some(path) = env(&file_var) {
                let v = read_secret_file(&PathBuf::from(&path))
                    .with_context(|| format!("{file_var}={path}"))?;
                return Ok(Some((file_var, v)));
            }
        }
    }
    Ok(None)
}

/// Reads a secret from a file, trimming the trailing newline editors add.
///
/// # Errors
/// The file cannot be read.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let v = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read secret file {}", path.display()))?;
    Ok(v.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let c = Config::load(None, &env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen, "127.0.0.1:8080");
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[database]\nmax_connections = 3\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[("CC_DATABASE_MAX_CONNECTIONS", "7")])).unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.database.max_connections, 7);
    }

    #[test]
    fn relative_paths_in_a_file_resolve_next_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf_dir = dir.path().join("etc");
        std::fs::create_dir_all(conf_dir.join("secrets")).unwrap();
        std::fs::write(conf_dir.join("secrets/ldap"), "bind-pw-Zq7\n").unwrap();
        let file = conf_dir.join("cc.toml");
        std::fs::write(
            &file,
            r#"
            database_url = "sqlite://data/cc.db?mode=rwc"
            [tls]
            cert_file = "tls/cert.pem"
            key_file = "/abs/key.pem"
            [[targets]]
            name = "dir"
            kind = "ldap"
            url = "ldap://127.0.0.1:3890"
            bind_dn = "cn=cc,dc=example,dc=org"
            bind_password_file = "secrets/ldap"
            base_dn = "dc=example,dc=org"
            user_ou = "ou=People,dc=example,dc=org"
            operations = ["provision"]
            [[targets]]
            name = "script"
            kind = "script"
            command = ["./bin/target.sh"]
            "#,
        )
        .unwrap();
        let c = Config::load(Some(&file), &env(&[])).unwrap();
        assert_eq!(
            c.database_url,
            format!("sqlite://{}/data/cc.db?mode=rwc", conf_dir.display())
        );
        assert_eq!(
            c.tls.cert_file,
            conf_dir.join("tls/cert.pem").to_string_lossy()
        );
        assert_eq!(c.tls.key_file, "/abs/key.pem");
        // The LDAP target reads its password file from next to the configuration.
        let targets = cc_connectors::build_targets(&c.targets.0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(targets.len(), 2);
        let TargetConfig::Script(script) = &c.targets.0[1] else {
            panic!("a script target")
        };
        assert_eq!(script.working_dir.as_deref(), Some(conf_dir.as_path()));
        assert_eq!(
            script.command,
            [conf_dir.join("bin/target.sh").to_string_lossy()]
        );

        // From the environment, a relative database path stays relative to the working dir.
        let c = Config::load(
            Some(&file),
            &env(&[("CC_DATABASE_URL", "sqlite://data/x.db")]),
        )
        .unwrap();
        assert_eq!(c.database_url, "sqlite://data/x.db");
        for kept in [
            "sqlite:///var/lib/cc.db",
            "sqlite::memory:",
            "postgres://h/db",
        ] {
            assert_eq!(resolve_sqlite_url(kept, Path::new("/etc")), None, "{kept}");
        }
        assert_eq!(
            resolve_sqlite_url("sqlite:cc.db", Path::new("/etc")).as_deref(),
            Some("sqlite:///etc/cc.db")
        );
        // A file named without a directory lives in the working directory.
        assert_eq!(
            config_dir(Path::new("cc.toml")).unwrap(),
            std::env::current_dir().unwrap()
        );
    }

    #[test]
    fn plain_ldap_to_a_remote_host_is_refused_when_loading() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc.toml");
        let target = |extra: &str| {
            format!(
                "[[targets]]\nname = \"district\"\nkind = \"ldap\"\nurl = \"ldap://ldap.example.org\"\n\
                 bind_dn = \"cn=cc,dc=example,dc=org\"\nbind_password_file = \"/run/secrets/none\"\n\
                 base_dn = \"dc=example,dc=org\"\nuser_ou = \"ou=People,dc=example,dc=org\"\n{extra}\n"
            )
        };
        std::fs::write(&file, target("")).unwrap();
        let e = format!("{:#}", Config::load(Some(&file), &env(&[])).unwrap_err());
        assert!(e.contains("target `district`"), "{e}");
        assert!(e.contains("ldap://ldap.example.org"), "{e}");
        assert!(e.contains("allow_plaintext = true"), "{e}");
        std::fs::write(&file, target("allow_plaintext = true")).unwrap();
        Config::load(Some(&file), &env(&[])).unwrap();
        std::fs::write(&file, target("enabled = false")).unwrap();
        Config::load(Some(&file), &env(&[])).unwrap();
    }

    #[test]
    fn notification_channels_take_secrets_from_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc.toml");
        let load = |text: &str| {
            std::fs::write(&file, text).unwrap();
            Config::load(
                Some(&file),
                &env(&[("CC_NOTIFICATIONS_DIGEST_THRESHOLD", "9")]),
            )
        };
        let e = format!(
            "{:#}",
            load("[[notifications.channels]]\nname = \"it\"\nkind = \"slack\"\nurl = \"https://hooks.example/T/B/secret\"\n")
                .unwrap_err()
        );
        assert!(e.contains("url_file"), "{e}");
        assert!(!e.contains("hooks.example"), "{e}");
        let e = format!(
            "{:#}",
            load("[[notifications.channels]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"not a url\"\n")
                .unwrap_err()
        );
        assert!(e.contains("\"hook\""), "{e}");
        let c = load(
            "[notifications]\npublic_url = \"https://cc.example.org\"\n\
             [[notifications.channels]]\nname = \"it\"\nkind = \"slack\"\nurl_file = \"secrets/slack\"\n",
        )
        .unwrap();
        let n = &c.notifications.0;
        assert_eq!(n.digest_threshold, 9);
        match &n.channels[0].kind {
            cc_notify::ChannelKind::Slack { url_file, .. } => {
                assert_eq!(
                    url_file.as_deref(),
                    Some(dir.path().join("secrets/slack").as_path())
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backups_from_the_file_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc.toml");
        let c = Config::load(None, &env(&[])).unwrap();
        assert!(!c.backups.is_configured());
        assert_eq!(c.backups.max_age_hours, 26);
        std::fs::write(&file, "[backups]\ndir = \"dumps\"\n").unwrap();
        let c = Config::load(Some(&file), &env(&[])).unwrap();
        assert_eq!(c.backups.dir, dir.path().join("dumps").to_string_lossy());
        assert_eq!(
            c.backups.max_age(),
            std::time::Duration::from_secs(26 * 3600)
        );
        let c = Config::load(
            Some(&file),
            &env(&[
                ("CC_BACKUPS_DIR", "/backups"),
                ("CC_BACKUPS_MAX_AGE_HOURS", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.backups.dir.as_str(), c.backups.max_age_hours),
            ("/backups", 30)
        );
        let rc = crate::commands::worker::runtime_config(&c, &Default::default());
        assert!(
            rc.cron.iter().any(|e| e.kind == "backup.check"),
            "{:?}",
            rc.cron
        );
        let e = format!(
            "{:#}",
            Config::load(None, &env(&[("CC_BACKUPS_MAX_AGE_HOURS", "0")])).unwrap_err()
        );
        assert!(e.contains("backups.max_age_hours"), "{e}");
        std::fs::write(&file, "[backups]\ndirectory = \"/backups\"\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&file), &env(&[])).unwrap_err());
        assert!(e.contains("directory"), "{e}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = format!("{:#}", Config::load(Some(&file), &env(&[])).unwrap_err());
        assert!(e.contains("lisen"), "{e}");
        let e = format!(
            "{:#}",
            Config::load(None, &env(&[("CC_HTTP_BODY_LIMIT_BYTES", "lots")])).unwrap_err()
        );
        assert!(e.contains("CC_HTTP_BODY_LIMIT_BYTES"), "{e}");
    }

    #[test]
    fn secrets_from_files_and_aliases() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("db");
        std::fs::write(&secret, "postgres://cc:hunter2@db/cc\n").unwrap();
        let c = Config::load(
            None,
            &env(&[("CC_DATABASE_URL_FILE", secret.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(c.database_url, "postgres://cc:hunter2@db/cc");
        assert_eq!(c.redacted().database_url, "postgres://cc:***@db/cc");
        let c = Config::load(None, &env(&[("DATABASE_URL", "postgres://a@b/c")])).unwrap();
        assert_eq!(c.database_url, "postgres://a@b/c");
        let c = Config::load(
            None,
            &env(&[
                ("DATABASE_URL", "postgres://a@b/c"),
                ("CC_DATABASE_URL", "sqlite://x.db"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_url, "sqlite://x.db");
    }

    #[test]
    fn queue_section_with_cron_and_env_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cc.toml");
        std::fs::write(
            &file,
            "[queue]\nlease_ttl_ms = 10000\nheartbeat_interval_ms = 2000\n[[queue.cron]]\nname = \"sync\"\nschedule = \"0 2 * * *\"\n\
             kind = \"system.noop\"\nargs = { full = true }\n[queue.queues.lifecycle]\nconcurrency = 4\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            &env(&[
                ("CC_QUEUE_QUEUES_DEFAULT_CONCURRENCY", "7"),
                ("CC_QUEUE_POLL_ONLY", "true"),
            ]),
        )
        .unwrap();
        let rc = c.queue.runtime();
        assert!(rc.poll_only);
        assert_eq!(rc.lease_ttl, std::time::Duration::from_secs(10));
        let queues: Vec<(String, u32)> = rc
            .queues
            .iter()
            .map(|q| (q.name.clone(), q.concurrency))
            .collect();
        assert_eq!(queues, [("default".into(), 7), ("lifecycle".into(), 4)]);
        assert_eq!(rc.cron[0].args, serde_json::json!({"full": true}));
        assert_eq!(rc.cron[0].queue, "default");
        std::fs::write(
            &file,
            "[[queue.cron]]\nname = \"x\"\nschedule = \"every day\"\nkind = \"k\"\n",
        )
        .unwrap();
        let e = format!("{:#}", Config::load(Some(&file), &env(&[])).unwrap_err());
        assert!(e.contains("queue.cron `x`"), "{e}");
    }

    #[test]
    fn example_config_is_current() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/command-center.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let example: toml::Value = toml::from_str(&text).unwrap();
        let _: Config = example
            .clone()
            .try_into()
            .expect("example config parses with deny_unknown_fields");
        let defaults = toml::Value::try_from(Config::default()).unwrap();
        fn keys(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
            if let toml::Value::Table(t) = v {
                for (k, v) in t {
                    let p = format!("{prefix}{k}");
                    out.push(p.clone());
                    keys(v, &format!("{p}."), out);
                }
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys(&defaults, "", &mut a);
        keys(&example, "", &mut b);
        a.sort();
        b.sort();
        assert_eq!(
            a, b,
            "examples/command-center.toml must list every configuration key"
        );
    }
}

#[cfg(test)]
mod security_tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn security_secrets_come_from_files_and_are_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, value: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, value).unwrap();
            p.to_str().unwrap().to_owned()
        };
        let pw = write("pw", "violet kettle ocean 42\n");
        let keys = write(
            "keys",
            "new:0123456789abcdef0123456789abcdef\nold:fedcba9876543210fedcba9876543210\n",
        );
        let metrics = write("metrics", "scrape-secret-0123456789\n");
        let master = write("master", "mk1:master-secret-0123456789abcdef0123\n");
        let c = Config::load(
            None,
            &env(&[
                ("CC_BOOTSTRAP_ADMIN_PASSWORD_FILE", &pw),
                ("CC_MASTER_KEY_FILE", &master),
                ("CC_AUTH_SIGNING_KEYS_FILE", &keys),
                ("CC_METRICS_TOKEN_FILE", &metrics),
            ]),
        )
        .unwrap();
        assert_eq!(c.bootstrap_admin_password, "violet kettle ocean 42");
        assert_eq!(
            cc_auth::Keyring::parse(&c.auth.signing_keys)
                .unwrap()
                .kids(),
            ["new", "old"]
        );
        assert_eq!(c.metrics.token, "scrape-secret-0123456789");
        assert_eq!(c.master_key, "mk1:master-secret-0123456789abcdef0123");
        let printed = toml::to_string_pretty(&c.redacted()).unwrap();
        for secret in [
            "violet",
            "0123456789abcdef",
            "scrape-secret",
            "master-secret",
        ] {
            assert!(!printed.contains(secret), "{printed}");
        }
        // Only the database and Redis URLs answer to unprefixed names.
        let c = Config::load(None, &env(&[("METRICS_TOKEN", "x")])).unwrap();
        assert_eq!(c.metrics.token, "");
    }

    #[test]
    fn lists_from_the_environment_and_validation() {
        let c = Config::load(
            None,
            &env(&[
                ("CC_HTTP_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
                ("CC_HTTP_CORS_ALLOWED_ORIGINS", "https://a.example.org"),
            ]),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies().unwrap().len(), 2);
        assert_eq!(c.http.cors_allowed_origins, ["https://a.example.org"]);
        let bad =
            |pairs: &[(&str, &str)]| format!("{:#}", Config::load(None, &env(pairs)).unwrap_err());
        assert!(bad(&[("CC_HTTP_TRUSTED_PROXIES", "nope")]).contains("trusted_proxies"));
        assert!(bad(&[("CC_AUTH_SIGNING_KEYS", "k:short")]).contains("signing_keys"));
        assert!(bad(&[("CC_MASTER_KEY", "m:short")]).contains("master_key"));
        assert!(bad(&[("CC_TLS_CERT_FILE", "/x.pem")]).contains("tls"));
    }
}
