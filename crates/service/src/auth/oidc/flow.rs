//! Beginning and completing a sign-in at a provider.

use std::net::IpAddr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cc_domain::NewAuditEvent;
use cc_store::auth::LoginState;
use chrono::Duration;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::provider::url_encode;
use super::{OidcError, OidcProviders};
use crate::auth::{Auth, LoginOutcome};

/// `return_to` of a sign-in that ends in a JSON token pair rather than a console page.
const TOKEN_RETURN: &str = "token";

/// Longest accepted `state` or `code` from a callback.
const MAX_PARAM_LEN: usize = 4096;

/// How a sign-in ends: tokens for an API client, or a console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInKind {
    /// Answer the access and refresh tokens.
    Tokens,
    /// Open a console session and go to this local path.
    Console(String),
}

/// A completed sign-in.
#[derive(Debug)]
pub struct OidcSignIn {
    pub outcome: LoginOutcome,
    pub kind: SignInKind,
    /// Whether this sign-in created the operator.
    pub created: bool,
}

/// What the provider's redirect brought back.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub state: Option<String>,
    pub code: Option<String>,
    /// The provider's `error` (the user declined, …).
    pub error: Option<String>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

impl Auth {
    /// The configured providers.
    #[must_use]
    pub fn oidc(&self) -> &OidcProviders {
        &self.oidc
    }

    /// Starts a sign-in at `provider`: stores the sign-in in progress and answers the URL of
    /// the provider's authorization endpoint to send the browser to. `redirect_uri` is this
    /// server's callback for that kind of sign-in.
    ///
    /// # Errors
    /// Unknown provider, the provider's metadata cannot be read, or a store failure.
    pub async fn oidc_begin(
        &self,
        provider: &str,
        redirect_uri: &str,
        kind: &SignInKind,
    ) -> Result<String, OidcError> {
        let p = self.oidc.get(provider)?;
        let metadata = p.metadata().await?;
        let state = random_token();
        let nonce = random_token();
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let now = cc_domain::now();
        let row = LoginState {
            state_hash: digest(&state),
            provider: provider.to_owned(),
            nonce: nonce.clone(),
            pkce_verifier: verifier,
            redirect_uri: redirect_uri.to_owned(),
            return_to: match kind {
                SignInKind::Tokens => TOKEN_RETURN.to_owned(),
                SignInKind::Console(next) => next.clone(),
            },
            created_at: now,
            expires_at: now + Duration::seconds(self.settings.oidc.state_ttl_secs),
        };
        let mut tx = self.store.begin().await?;
        tx.auth().prune_login_states(now).await?;
        tx.auth().insert_login_state(&row).await?;
        tx.commit().await?;
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(p.config.scopes.iter().filter(|s| *s != "openid").cloned());
        let params = [
            ("response_type", "code"),
            ("client_id", p.config.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", &scopes.join(" ")),
            ("state", &state),
            ("nonce", &nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ];
        let query = params
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let sep = if metadata.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", metadata.authorization_endpoint))
    }

    /// Completes a sign-in when the provider sends the browser back.
    ///
    /// The sign-in in progress is taken by its `state` first and for good, so a replayed
    /// callback is refused whatever happens next. `tokens` says which callback received it:
    /// a state begun for the console is refused at the API's callback and the reverse.
    /// Refusals after the provider vouched for someone are audited.
    ///
    /// # Errors
    /// See [`OidcError`].
    pub async fn oidc_complete(
        &self,
        provider: &str,
        callback: &Callback,
        tokens: bool,
        addr: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<OidcSignIn, OidcError> {
        let p = self.oidc.get(provider)?.clone();
        let state = callback
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= MAX_PARAM_LEN)
            .ok_or(OidcError::StateInvalid)?;
        let now = cc_domain::now();
        let mut tx = self.store.begin().await?;
        let taken = tx.auth().take_login_state(&digest(state)).await?;
        tx.commit().await?;
        let Some(pending) = taken else {
            tracing::info!(provider, "OpenID sign-in with an unknown or used state");
            return Err(OidcError::StateInvalid);
        };
        if pending.provider != provider
            || pending.expires_at <= now
            || (pending.return_to == TOKEN_RETURN) != tokens
        {
            return Err(OidcError::StateInvalid);
        }
        if let Some(error) = &callback.error {
            return Err(OidcError::ProviderRefused(super::provider::short(error)));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= MAX_PARAM_LEN)
            .ok_or(OidcError::StateInvalid)?;
        let id_token = p
            .exchange(code, &pending.redirect_uri, &pending.pkce_verifier)
            .await?;
        let claims = match p.verify(&id_token, &pending.nonce).await {
            Ok(c) => c,
            Err(e) => {
                self.audit_refusal(provider, None, &e, addr, request_id.clone())
                    .await?;
                return Err(e);
            }
        };
        let signed_in = self
            .sign_in_identity(&p.config, &claims, addr, request_id.clone())
            .await;
        let (outcome, created) = match signed_in {
            Ok(v) => v,
            Err(e @ (OidcError::Unmapped | OidcError::Disabled)) => {
                self.audit_refusal(provider, Some(&claims.sub), &e, addr, request_id)
                    .await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let kind = if pending.return_to == TOKEN_RETURN {
            SignInKind::Tokens
        } else {
            SignInKind::Console(pending.return_to)
        };
        Ok(OidcSignIn {
            outcome,
            kind,
            created,
        })
    }

    async fn audit_refusal(
        &self,
        provider: &str,
        subject: Option<&str>,
        e: &OidcError,
        addr: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(), OidcError> {
        let mut tx = self.store.begin().await?;
        tx.append_audit(NewAuditEvent {
            actor: "anonymous".into(),
            action: "auth.login_failed".into(),
            target_type: "operator".into(),
            target_id: subject.map(|s| format!("oidc:{provider}:{s}")),
            request_id,
            before: None,
            after: Some(json!({
                "reason": e.code(),
                "provider": provider,
                "detail": match e { OidcError::TokenRefused(t) => t.to_string(), _ => String::new() },
                "client_addr": addr.map(|a| a.to_string()),
            })),
        })
        .await?;
        tx.commit().await?;
        tracing::info!(provider, reason = e.code(), "OpenID sign-in refused");
        Ok(())
    }
}
