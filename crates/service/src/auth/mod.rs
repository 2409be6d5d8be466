//! Operators and authentication: logging in, sessions and refresh-token rotation, API tokens,
//! login throttling, and operator management. Every change commits with its audit event;
//! no event ever holds a password or a token.

mod console;
mod keys;
mod login;
pub mod oidc;
mod operators;
mod principal;
mod throttle;
mod tokens;

use std::sync::Arc;

use cc_auth::PasswordHasher;
use cc_store::Store;

pub use console::{ConsolePolicy, ConsoleSession};
pub use login::{LoginOutcome, TokenPair};
pub use operators::Bootstrap;
pub use principal::{Principal, PrincipalKind};
pub use throttle::{describe_metrics, ThrottlePolicy};
pub use tokens::CreatedToken;

use crate::cache::GenerationCache;
use crate::ServiceError;

/// Lifetimes, keys and throttling.
#[derive(Clone)]
pub struct AuthSettings {
    /// Access-token (JWT) lifetime in seconds.
    pub access_token_ttl_secs: i64,
    /// Refresh-token lifetime in seconds; each refresh issues a new one.
    pub refresh_token_ttl_secs: i64,
    /// A login session ends this long after the login, however often it is refreshed.
    pub session_max_age_secs: i64,
    /// `kid:secret` entries, first signs; empty to generate one key and keep it in the database.
    pub signing_keys: String,
    /// `id:secret` entries, first seals; seals the generated signing key at rest. Empty: the
    /// generated key is stored in clear.
    pub master_key: String,
    pub throttle: ThrottlePolicy,
    /// Console session timeouts.
    pub console: ConsolePolicy,
    /// Sign-in through OpenID providers; whether local passwords work.
    pub oidc: oidc::OidcSettings,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("session_max_age_secs", &self.session_max_age_secs)
            .field("signing_keys", &"***")
            .field("master_key", &"***")
            .field("throttle", &self.throttle)
            .field("console", &self.console)
            .field("oidc", &self.oidc)
            .finish()
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 12 * 3600,
            session_max_age_secs: 7 * 24 * 3600,
            signing_keys: String::new(),
            master_key: String::new(),
            throttle: ThrottlePolicy::default(),
            console: ConsolePolicy::default(),
            oidc: oidc::OidcSettings::default(),
        }
    }
}

/// Why authentication failed. The API maps each to one response; none says whether an
/// operator name exists.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong name or password (or a disabled operator): always the same answer.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Missing, malformed, expired, revoked or unknown token.
    #[error("invalid token")]
    InvalidToken,
    /// Too many recent failures: wait `retry_after_secs`.
    #[error("login throttled")]
    Throttled { retry_after_secs: u64 },
    /// Password login is turned off: operators sign in through an OpenID provider.
    #[error("local passwords are turned off")]
    LocalPasswordsDisabled,
    /// Locked after repeated failures until the lock ends.
    #[error("login locked")]
    Locked { retry_after_secs: u64 },
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<cc_store::StoreError> for AuthError {
    fn from(e: cc_store::StoreError) -> Self {
        AuthError::Service(e.into())
    }
}

/// The authentication service. Cheap to clone.
#[derive(Clone)]
pub struct Auth {
    store: Arc<dyn Store>,
    settings: Arc<AuthSettings>,
    hasher: Arc<PasswordHasher>,
    keys: keys::Keys,
    /// Bearer tokens recently looked up, valid while the store reports no change to
    /// operators, sessions, tokens or keys (see [`crate::cache`]).
    principals: Arc<GenerationCache<PrincipalKey, CachedPrincipal>>,
    /// The configured OpenID providers.
    oidc: oidc::OidcProviders,
    /// What the notification channels subscribe to (a lockout is told when one wants it).
    notifications: cc_domain::Subscriptions,
}

/// Principals cached at most (one entry per API token or session in use).
const PRINCIPAL_CACHE_ENTRIES: usize = 10_000;

/// What a cached principal was looked up by: an API token's hash (never the secret), or an
/// access token's session and operator.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) enum PrincipalKey {
    ApiToken(String),
    Session(uuid::Uuid, uuid::Uuid),
}

#[derive(Clone)]
pub(crate) struct CachedPrincipal {
    pub(crate) principal: Principal,
    /// When the token or session expires: checked on every use.
    pub(crate) expires_at: chrono::DateTime<chrono::Utc>,
    /// API tokens: when their use was last recorded.
    pub(crate) last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl Auth {
    /// # Errors
    /// Configured signing keys that do not parse.
    pub fn new(store: Arc<dyn Store>, settings: AuthSettings) -> Result<Self, ServiceError> {
        let keys = keys::Keys::new(&settings.signing_keys, &settings.master_key)?;
        let oidc = oidc::OidcProviders::new(&settings.oidc)?;
        Ok(Self {
            oidc,
            store,
            settings: Arc::new(settings),
            hasher: Arc::new(PasswordHasher::new()),
            keys,
            principals: Arc::new(GenerationCache::new(PRINCIPAL_CACHE_ENTRIES)),
            notifications: cc_domain::Subscriptions::default(),
        })
    }

    /// Lockouts enqueue an `operator.locked_out` notification when a channel subscribes to
    /// it (none by default).
    #[must_use]
    pub fn with_notifications(mut self, subscriptions: cc_domain::Subscriptions) -> Self {
        self.notifications = subscriptions;
        self
    }

    #[must_use]
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Loads (or generates) the signing keys now, so that a start with a stored key it cannot
    /// open fails at once instead of at the first login.
    ///
    /// # Errors
    /// The stored key could not be read, created or opened.
    pub async fn load_keys(&self) -> Result<Vec<String>, ServiceError> {
        let ring = self.keys.get(self.store.as_ref()).await?;
        Ok(ring.kids().into_iter().map(str::to_owned).collect())
    }

    /// Whether the signing keys are configured or sealed at rest (when false, a generated key
    /// is stored in clear in the database).
    #[must_use]
    pub fn keys_protected(&self) -> bool {
        !self.settings.signing_keys.trim().is_empty() || !self.settings.master_key.trim().is_empty()
    }

    /// Seals secrets that wait in the database (temporary passwords in lifecycle jobs), with
    /// keys derived from the access-token signing keys: configured, or generated once and kept
    /// in the database so that every replica and worker agrees.
    ///
    /// # Errors
    /// The stored key could not be read or created.
    pub async fn sealer(&self) -> Result<cc_auth::Sealer, ServiceError> {
        let ring = self.keys.get(self.store.as_ref()).await?;
        Ok(cc_auth::Sealer::from_keyring(ring))
    }

    /// Hashes on the blocking pool: Argon2id takes tens of milliseconds of CPU.
    async fn hash_password(&self, password: &str) -> Result<String, ServiceError> {
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| ServiceError::Internal(format!("hashing task failed: {e}")))?
            .map_err(|e| ServiceError::Internal(e.to_string()))
    }

    /// Verifies on the blocking pool; `None` spends the same time on a dummy hash.
    async fn verify_password(&self, password: &str, stored: Option<String>) -> bool {
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || match stored {
            Some(h) => hasher.verify(&password, &h),
            None => {
                hasher.verify_dummy(&password);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// The audit's stand-in for an unknown login name (which may be a mistyped password): an
/// HMAC-SHA256 of the lower-cased name under a key derived from the signing key, so the same
/// name gives the same tag (repeated attempts can be told apart) but nobody without the
/// server's key can test guesses against it. Rotating the signing key changes the tags.
pub(crate) fn name_tag(keys: &cc_auth::Keyring, name: &str) -> String {
    use hmac::{Hmac, Mac};
    let key = keys
        .derived("audit.login_name")
        .into_iter()
        .next()
        .map(|(_, k)| k)
        .unwrap_or_default();
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "unrecorded".to_owned();
    };
    mac.update(name.to_lowercase().as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..8])
}

/// A short, stable stand-in for a string that must not be stored (an unknown login name may be
/// a mistyped password).
fn digest(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(s.as_bytes())[..6])
}
