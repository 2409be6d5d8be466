//! Operator sign-in through OpenID providers: the authorization code flow with PKCE.
//!
//! [`Auth::oidc_begin`] stores a sign-in in progress (the `state`, only as its digest, with
//! the `nonce`, the PKCE verifier and where to go afterwards) and answers the provider's
//! authorization URL. [`Auth::oidc_complete`] takes that sign-in back by its `state` (once:
//! the row is deleted before anything else happens, so a replayed callback finds nothing),
//! exchanges the code, verifies the ID token, maps the role claim to an operator role, links
//! or creates the operator, and opens the same kind of session a password login opens.

mod config;
mod flow;
mod identity;
mod provider;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub use config::{OidcProviderConfig, OidcSettings};
pub use flow::{Callback, OidcSignIn, SignInKind};
pub use provider::Metadata;

use cc_auth::oidc::IdTokenError;

use crate::ServiceError;

/// The configured providers, by name.
#[derive(Clone, Default)]
pub struct OidcProviders {
    by_name: Arc<BTreeMap<String, Arc<provider::Provider>>>,
    order: Arc<Vec<String>>,
}

impl OidcProviders {
    /// # Errors
    /// A provider's settings are invalid, two share a name, or the HTTP client cannot start.
    pub fn new(settings: &OidcSettings) -> Result<Self, ServiceError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.http_timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("command-center")
            .build()
            .map_err(|e| ServiceError::Internal(format!("OpenID HTTP client: {e}")))?;
        let mut by_name = BTreeMap::new();
        let mut order = Vec::new();
        for p in &settings.providers {
            p.validate().map_err(|e| invalid(&e))?;
            if by_name.contains_key(&p.name) {
                return Err(invalid(&format!(
                    "OpenID provider `{}` is configured twice",
                    p.name
                )));
            }
            order.push(p.name.clone());
            by_name.insert(
                p.name.clone(),
                Arc::new(provider::Provider::new(
                    p.clone(),
                    http.clone(),
                    Duration::from_secs(settings.jwks_min_refetch_secs),
                )),
            );
        }
        Ok(Self {
            by_name: Arc::new(by_name),
            order: Arc::new(order),
        })
    }

    /// `(name, display name)` of each provider, in configuration order.
    #[must_use]
    pub fn list(&self) -> Vec<(String, String)> {
        self.order
            .iter()
            .filter_map(|n| self.by_name.get(n))
            .map(|p| (p.config.name.clone(), p.config.display_name.clone()))
            .collect()
    }

    fn get(&self, name: &str) -> Result<&Arc<provider::Provider>, OidcError> {
        self.by_name.get(name).ok_or(OidcError::UnknownProvider)
    }
}

fn invalid(message: &str) -> ServiceError {
    ServiceError::Validation(cc_domain::ValidationErrors::single(
        "oidc.providers",
        message,
    ))
}

/// Why a sign-in through a provider did not end in a session. Each has one stable answer;
/// none carries a token, a code or a secret.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("no OpenID provider has this name")]
    UnknownProvider,
    /// Unknown, already used, expired, or from another kind of sign-in.
    #[error("this sign-in link is unknown, expired or was already used; start again")]
    StateInvalid,
    /// The provider answered with an error (`access_denied`, `invalid_grant`, …).
    #[error("the identity provider refused the sign-in ({0})")]
    ProviderRefused(String),
    #[error("the identity provider `{0}` cannot be reached or answered something unusable")]
    ProviderUnavailable(String),
    #[error("{0}")]
    TokenRefused(IdTokenError),
    /// Signed in at the provider, but no claim value maps to a role here.
    #[error("your account at the identity provider is not allowed to use Command Center: none of its groups or roles is mapped to an operator role; ask an administrator")]
    Unmapped,
    #[error("this operator account is disabled; ask an administrator")]
    Disabled,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<cc_store::StoreError> for OidcError {
    fn from(e: cc_store::StoreError) -> Self {
        OidcError::Service(e.into())
    }
}

impl OidcError {
    /// The stable code of each refusal (problem `code`, audit `reason`).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::UnknownProvider => "oidc_unknown_provider",
            OidcError::StateInvalid => "oidc_state_invalid",
            OidcError::ProviderRefused(_) => "oidc_provider_refused",
            OidcError::ProviderUnavailable(_) => "oidc_provider_unavailable",
            OidcError::TokenRefused(_) => "oidc_token_invalid",
            OidcError::Unmapped => "oidc_unmapped",
            OidcError::Disabled => "oidc_operator_disabled",
            OidcError::Service(_) => "internal",
        }
    }
}
