use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::config::{serialize_secret, yes};
use crate::redaction::{is_sensitive_header, redact_url, MASK};
use crate::Operation;

/// `kind = "webhook"` settings.
///
/// ```toml
/// [[targets]]
/// name = "helpdesk"
/// kind = "webhook"
/// url = "https://helpdesk.example.org/hooks/command-center"
/// secret_file = "/run/secrets/helpdesk_webhook_secret"
/// timeout_ms = 10000
/// headers = { "X-Tenant" = "district-7", "Authorization" = { value_file = "/run/secrets/helpdesk_auth" } }
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The operations sent to this receiver; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<Operation>>,
    /// Where events are POSTed (http or https).
    pub url: String,
    /// The HMAC key for `X-CC-Signature`. Prefer `secret_file`.
    #[serde(
        default,
        serialize_with = "serialize_secret",
        skip_serializing_if = "Option::is_none"
    )]
    pub secret: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Time allowed for connecting and for the whole request.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Extra request headers (not `X-CC-*`, `Content-Type` or `Idempotency-Key`): a value, or
    /// `{ value_file = "…" }` to read a credential from a file (one trailing newline dropped).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderSetting>,
    /// Put the password (initial or reset) in the event. Off by default: turn it on only for
    /// a receiver that must set it, over https.
    #[serde(default)]
    pub include_password: bool,
}

/// A configured header's value: given inline, or read from a file when the target is built
/// (and then treated as a secret: redacted from errors and outcomes).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HeaderSetting {
    Value(String),
    File { value_file: PathBuf },
}

impl WebhookConfig {
    /// A copy fit for printing: the URL's password and query values and the values of
    /// credential headers (`Authorization`, API keys, tokens) masked.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let mut c = self.clone();
        c.url = redact_url(&c.url);
        for (name, value) in &mut c.headers {
            if let HeaderSetting::Value(v) = value {
                if is_sensitive_header(name) {
                    MASK.clone_into(v);
                }
            }
        }
        c
    }
}

fn default_timeout_ms() -> u64 {
    10_000
}
