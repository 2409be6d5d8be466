//! Settings of operator sign-in through OpenID providers.

use std::collections::BTreeMap;

use cc_domain::OperatorRole;

/// Sign-in through OpenID providers, and whether local passwords still work.
#[derive(Clone, Debug)]
pub struct OidcSettings {
    pub providers: Vec<OidcProviderConfig>,
    /// When false, `POST /api/v1/auth/login` and the console's password form refuse every
    /// attempt: operators sign in through a provider (API tokens keep working).
    pub local_passwords: bool,
    /// The address browsers reach this server at (`https://cc.example.org`), from which the
    /// redirect URIs are built. Empty: taken from each request's `Host` (fine on loopback and
    /// behind a proxy that sets it; the provider accepts only registered URIs anyway).
    pub public_url: String,
    /// How long a sign-in may take between leaving for the provider and coming back.
    pub state_ttl_secs: i64,
    /// Least time between two fetches of a provider's keys prompted by an unknown key id.
    pub jwks_min_refetch_secs: u64,
    /// Timeout of each request to a provider.
    pub http_timeout_secs: u64,
}

impl Default for OidcSettings {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            local_passwords: true,
            public_url: String::new(),
            state_ttl_secs: 600,
            jwks_min_refetch_secs: 60,
            http_timeout_secs: 10,
        }
    }
}

/// One OpenID provider (`[[oidc.providers]]`).
#[derive(Clone)]
pub struct OidcProviderConfig {
    /// Short name used in URLs (`/login/oidc/<name>`): lower-case letters, digits, `-`.
    pub name: String,
    /// What the "Sign in with …" button says.
    pub display_name: String,
    /// The issuer identifier; discovery reads `<issuer>/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    /// The client secret (read from `client_secret_file`); `None` for a public client, which
    /// relies on PKCE alone.
    pub client_secret: Option<String>,
    /// Scopes requested besides `openid`.
    pub scopes: Vec<String>,
    /// The claim holding groups or roles (a dotted path reaches into objects:
    /// `realm_access.roles`). A string or an array of strings.
    pub role_claim: String,
    /// Claim value → operator role; with several matches the highest role wins.
    pub roles: BTreeMap<String, OperatorRole>,
    /// Claims tried in order for a new operator's name.
    pub username_claims: Vec<String>,
}

impl std::fmt::Debug for OidcProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcProviderConfig")
            .field("name", &self.name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("scopes", &self.scopes)
            .field("role_claim", &self.role_claim)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl OidcProviderConfig {
    /// A provider with the usual defaults: scopes `profile email`, role claim `groups`.
    #[must_use]
    pub fn new(name: &str, issuer: &str, client_id: &str) -> Self {
        Self {
            name: name.to_owned(),
            display_name: name.to_owned(),
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: None,
            scopes: vec!["profile".into(), "email".into()],
            role_claim: "groups".into(),
            roles: BTreeMap::new(),
            username_claims: vec!["preferred_username".into(), "email".into()],
        }
    }

    /// # Errors
    /// What is wrong with the settings, in words.
    pub fn validate(&self) -> Result<(), String> {
        let n = &self.name;
        if n.is_empty()
            || n.len() > 32
            || !n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "OpenID provider name `{n}`: 1-32 lower-case letters, digits or '-'"
            ));
        }
        let issuer_ok = self.issuer.starts_with("https://")
            || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
                .iter()
                .any(|p| {
                    self.issuer.strip_prefix(p).is_some_and(|rest| {
                        rest.is_empty() || rest.starts_with(':') || rest.starts_with('/')
                    })
                });
        if !issuer_ok {
            return Err(format!(
                "OpenID provider `{n}`: the issuer must be an https:// URL (http only on loopback)"
            ));
        }
        if self.client_id.is_empty() {
            return Err(format!("OpenID provider `{n}`: client_id is empty"));
        }
        if self.role_claim.is_empty() || self.roles.is_empty() {
            return Err(format!(
                "OpenID provider `{n}`: set role_claim and at least one claim value → role mapping"
            ));
        }
        Ok(())
    }
}
