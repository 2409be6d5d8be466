//! Storage for operators and their credentials, behind [`crate::Store::auth`] (reads) and
//! [`crate::Tx::auth`] (writes, which commit with their audit events).

use async_trait::async_trait;
use cc_domain::{ApiToken, Operator};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::Result;

/// A login session: one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: Uuid,
    pub operator_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl Session {
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A stored refresh token (its hash is the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub session_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Recent login failures for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    /// `name:<sha256 of the name>` or `addr:<ip>`.
    pub key: String,
    /// What the audit log calls it (`operator:<name>`, `address:<ip>`, `unknown:<digest>`).
    pub label: String,
    pub failures: i32,
    pub first_failure_at: DateTime<Utc>,
    pub last_failure_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

/// An identity at an OpenID provider, linked to the operator it signs in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorIdentity {
    /// The provider's issuer identifier.
    pub issuer: String,
    /// The provider's stable id of the person (`sub`).
    pub subject: String,
    pub operator_id: Uuid,
    /// The configured provider's name, when the link was made.
    pub provider: String,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
}

/// A sign-in at an OpenID provider in progress: what the callback must find again.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginState {
    /// SHA-256 of the `state` handed to the provider.
    pub state_hash: String,
    pub provider: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier for the token request.
    pub pkce_verifier: String,
    /// The redirect URI the authorization request named (the token request repeats it).
    pub redirect_uri: String,
    /// Where the sign-in goes afterwards (a local path, or `token` for an API sign-in).
    pub return_to: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for LoginState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginState")
            .field("provider", &self.provider)
            .field("nonce", &"***")
            .field("pkce_verifier", &"***")
            .field("redirect_uri", &self.redirect_uri)
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Reads.
#[async_trait]
pub trait AuthStore: Send + Sync {
    async fn count_operators(&self) -> Result<i64>;
    async fn list_operators(&self) -> Result<Vec<Operator>>;
    async fn get_operator(&self, id: Uuid) -> Result<Option<Operator>>;
    async fn get_operator_by_name(&self, username: &str) -> Result<Option<Operator>>;
    /// The operator and its password hash, for logging in.
    async fn operator_credentials(&self, username: &str) -> Result<Option<(Operator, String)>>;
    async fn get_session(&self, id: Uuid) -> Result<Option<Session>>;
    /// The link of an identity at an OpenID provider.
    async fn get_identity(&self, issuer: &str, subject: &str) -> Result<Option<OperatorIdentity>>;
    /// The token with this hash and the operator who created it.
    async fn api_token_by_hash(&self, hash: &str) -> Result<Option<(ApiToken, Operator)>>;
    async fn list_api_tokens(&self) -> Result<Vec<ApiToken>>;
    async fn get_api_token(&self, id: Uuid) -> Result<Option<ApiToken>>;
    /// Records use of a token (not audited; callers throttle how often).
    async fn touch_api_token(&self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Generated signing keys, oldest first.
    async fn signing_keys(&self) -> Result<Vec<(String, String)>>;
    /// Throttle rows with a lock set.
    async fn locked_throttles(&self) -> Result<Vec<Throttle>>;
    /// Deletes throttle rows that no longer affect a login: those without a lock whose last
    /// failure is before `failures_before`, and `known:` rows (an address an operator logged
    /// in from) last refreshed before `known_before`. Rows with a lock are left to the sweeper
    /// that ends (and audits) expired locks. Returns how many rows were deleted.
    async fn prune_throttles(
        &self,
        failures_before: DateTime<Utc>,
        known_before: DateTime<Utc>,
    ) -> Result<u64>;
}

/// Writes, inside a [`crate::Tx`].
#[async_trait]
pub trait AuthTx: Send {
    async fn get_operator(&mut self, id: Uuid) -> Result<Option<Operator>>;
    async fn insert_operator(&mut self, op: &Operator, password_hash: &str) -> Result<()>;
    /// Writes role, disabled and timestamps; `op` must carry the next version.
    async fn update_operator(&mut self, op: &Operator) -> Result<()>;
    async fn set_password(
        &mut self,
        id: Uuid,
        password_hash: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    async fn record_login(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<()>;
    /// Counts the enabled admins, locking their rows until the transaction ends (in id
    /// order), so two transactions that each demote or disable an admin cannot both see the
    /// other's admin as still there.
    async fn count_enabled_admins(&mut self) -> Result<i64>;

    async fn insert_session(&mut self, s: &Session) -> Result<()>;
    /// Revokes one session; false when it was already revoked or does not exist.
    async fn revoke_session(&mut self, id: Uuid, reason: &str, at: DateTime<Utc>) -> Result<bool>;
    /// Revokes every active session of an operator; returns how many.
    async fn revoke_operator_sessions(
        &mut self,
        operator_id: Uuid,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<u64>;
    async fn insert_refresh_token(&mut self, hash: &str, t: &RefreshToken) -> Result<()>;
    async fn get_refresh_token(&mut self, hash: &str) -> Result<Option<RefreshToken>>;
    /// Marks a refresh token used; false when it already was (reuse).
    async fn use_refresh_token(&mut self, hash: &str, at: DateTime<Utc>) -> Result<bool>;

    async fn insert_api_token(&mut self, t: &ApiToken, hash: &str) -> Result<()>;
    async fn revoke_api_token(&mut self, id: Uuid, at: DateTime<Utc>) -> Result<bool>;
    /// Revokes every active API token an operator created; returns how many.
    async fn revoke_operator_api_tokens(
        &mut self,
        operator_id: Uuid,
        at: DateTime<Utc>,
    ) -> Result<u64>;

    /// Stores a generated signing key unless one with that id exists.
    async fn insert_signing_key(
        &mut self,
        kid: &str,
        secret: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;

    /// Replaces the stored form of a generated signing key (when it is sealed under another
    /// master key, or was stored in clear) if it still is `old`; false when another process
    /// changed it first.
    async fn replace_signing_key(&mut self, kid: &str, old: &str, new: &str) -> Result<bool>;

    /// Links an identity at an OpenID provider to an operator.
    async fn insert_identity(&mut self, identity: &OperatorIdentity) -> Result<()>;
    /// Records a sign-in through a linked identity.
    async fn touch_identity(
        &mut self,
        issuer: &str,
        subject: &str,
        at: DateTime<Utc>,
    ) -> Result<()>;
    /// Stores a sign-in in progress.
    async fn insert_login_state(&mut self, state: &LoginState) -> Result<()>;
    /// Takes (deletes and returns) the sign-in with this state digest: a state works once.
    async fn take_login_state(&mut self, state_hash: &str) -> Result<Option<LoginState>>;
    /// Deletes sign-ins in progress that expired before `before`; returns how many.
    async fn prune_login_states(&mut self, before: DateTime<Utc>) -> Result<u64>;

    async fn get_throttle(&mut self, key: &str) -> Result<Option<Throttle>>;
    /// The row for `key`, created empty (no failures) when missing, and locked until the
    /// transaction ends, so concurrent attempts for the same key are counted one after the
    /// other (PostgreSQL row lock; SQLite's single writer).
    async fn lock_throttle(
        &mut self,
        key: &str,
        label: &str,
        at: DateTime<Utc>,
    ) -> Result<Throttle>;
    /// Deletes every row whose key starts with `prefix`; returns what was deleted.
    async fn delete_throttles_with_prefix(&mut self, prefix: &str) -> Result<Vec<Throttle>>;
    async fn put_throttle(&mut self, t: &Throttle) -> Result<()>;
    async fn delete_throttle(&mut self, key: &str) -> Result<bool>;
}
