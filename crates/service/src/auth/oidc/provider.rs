//! One OpenID provider as a relying party sees it: its metadata (discovery, fetched once and
//! kept), its signing keys (fetched with the metadata, and again when a token names a key id
//! not in the set, at most once per `jwks_min_refetch_secs`), and the token request.

use std::time::{Duration, Instant};

use cc_auth::oidc::{IdClaims, IdTokenError, IdTokenPolicy};
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::config::OidcProviderConfig;
use super::OidcError;

/// Largest accepted response from a provider (metadata, keys, tokens).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// What discovery tells us.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

#[derive(Default)]
struct Cached {
    metadata: Option<Metadata>,
    keys: Option<JwkSet>,
    keys_fetched_at: Option<Instant>,
}

/// A configured provider and what was learned from it.
pub struct Provider {
    pub config: OidcProviderConfig,
    http: reqwest::Client,
    min_refetch: Duration,
    cached: Mutex<Cached>,
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

impl Provider {
    pub fn new(config: OidcProviderConfig, http: reqwest::Client, min_refetch: Duration) -> Self {
        Self {
            config,
            http,
            min_refetch,
            cached: Mutex::new(Cached::default()),
        }
    }

    /// The provider's metadata (discovered at first use).
    ///
    /// # Errors
    /// The provider could not be reached or its metadata is unusable.
    pub async fn metadata(&self) -> Result<Metadata, OidcError> {
        let mut cached = self.cached.lock().await;
        if let Some(m) = &cached.metadata {
            return Ok(m.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.config.issuer.trim_end_matches('/')
        );
        let m: Metadata = self.get_json(&url).await?;
        // The issuer in the metadata must be the configured one, exactly (OpenID Connect
        // Discovery 1.0 §4.3): otherwise tokens of one issuer could be accepted for another.
        if m.issuer != self.config.issuer {
            return Err(self.unavailable("its metadata names another issuer"));
        }
        if !m.code_challenge_methods_supported.is_empty()
            && !m
                .code_challenge_methods_supported
                .iter()
                .any(|c| c == "S256")
        {
            return Err(self.unavailable("it does not support PKCE with S256"));
        }
        let keys: JwkSet = self.get_json(&m.jwks_uri).await?;
        cached.keys = Some(keys);
        cached.keys_fetched_at = Some(Instant::now());
        cached.metadata = Some(m.clone());
        Ok(m)
    }

    /// Verifies an ID token; when it names a key the cached set lacks (the provider rotated its
    /// keys), fetches the set again, unless that was done less than the minimum interval ago.
    ///
    /// # Errors
    /// The token is refused, or the provider could not be reached.
    pub async fn verify(&self, id_token: &str, nonce: &str) -> Result<IdClaims, OidcError> {
        let metadata = self.metadata().await?;
        let policy = IdTokenPolicy {
            issuer: metadata.issuer.clone(),
            client_id: self.config.client_id.clone(),
            provider_algorithms: if metadata.id_token_signing_alg_values_supported.is_empty() {
                vec!["RS256".into()]
            } else {
                metadata.id_token_signing_alg_values_supported.clone()
            },
        };
        let keys = self.cached.lock().await.keys.clone().unwrap_or_default();
        match cc_auth::oidc::verify_id_token(id_token, &keys, &policy, nonce) {
            Err(IdTokenError::UnknownKey) => {}
            other => return other.map_err(OidcError::TokenRefused),
        }
        let keys = self.refetch_keys(&metadata).await?;
        cc_auth::oidc::verify_id_token(id_token, &keys, &policy, nonce)
            .map_err(OidcError::TokenRefused)
    }

    async fn refetch_keys(&self, metadata: &Metadata) -> Result<JwkSet, OidcError> {
        let mut cached = self.cached.lock().await;
        let recent = cached
            .keys_fetched_at
            .is_some_and(|t| t.elapsed() < self.min_refetch);
        if recent {
            metrics::counter!("cc_oidc_jwks_refetch_total", "provider" => self.config.name.clone(), "outcome" => "skipped").increment(1);
            return Err(OidcError::TokenRefused(IdTokenError::UnknownKey));
        }
        cached.keys_fetched_at = Some(Instant::now());
        let keys: JwkSet = self.get_json(&metadata.jwks_uri).await?;
        metrics::counter!("cc_oidc_jwks_refetch_total", "provider" => self.config.name.clone(), "outcome" => "fetched").increment(1);
        tracing::info!(provider = %self.config.name, keys = keys.keys.len(), "fetched the provider's keys again");
        cached.keys = Some(keys.clone());
        Ok(keys)
    }

    /// Exchanges an authorization code for the ID token.
    ///
    /// # Errors
    /// The provider refused the code or could not be reached.
    pub async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
    ) -> Result<String, OidcError> {
        let metadata = self.metadata().await?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let mut req = self.http.post(&metadata.token_endpoint);
        match &self.config.client_secret {
            Some(secret) => {
                // client_secret_basic: both parts form-urlencoded first (RFC 6749 §2.3.1).
                let enc = |s: &str| url_encode(s);
                req = req.basic_auth(enc(&self.config.client_id), Some(enc(secret)));
            }
            None => form.push(("client_id", self.config.client_id.as_str())),
        }
        let res = req
            .form(&form)
            .send()
            .await
            .map_err(|e| self.unavailable(&format!("token request failed: {e}")))?;
        let status = res.status();
        let body = read_limited(res).await.map_err(|e| self.unavailable(&e))?;
        if !status.is_success() {
            // The provider's error code (`invalid_grant`, …) without its description.
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(short))
                .unwrap_or_default();
            tracing::warn!(provider = %self.config.name, %status, error = %code, "the provider refused the authorization code");
            return Err(OidcError::ProviderRefused(code));
        }
        let t: TokenResponse = serde_json::from_slice(&body)
            .map_err(|_| self.unavailable("its token response is not JSON"))?;
        t.id_token
            .ok_or_else(|| self.unavailable("its token response has no id_token"))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, OidcError> {
        let res = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| self.unavailable(&format!("GET {url}: {e}")))?;
        if !res.status().is_success() {
            return Err(self.unavailable(&format!("GET {url}: {}", res.status())));
        }
        let body = read_limited(res).await.map_err(|e| self.unavailable(&e))?;
        serde_json::from_slice(&body).map_err(|e| self.unavailable(&format!("GET {url}: {e}")))
    }

    fn unavailable(&self, why: &str) -> OidcError {
        tracing::warn!(provider = %self.config.name, "OpenID provider unusable: {why}");
        OidcError::ProviderUnavailable(self.config.name.clone())
    }
}

async fn read_limited(mut res: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A provider's error code, kept to a short token of safe characters.
pub(super) fn short(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(super) fn url_encode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|e| e.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}
