//! The `[cloudflare]` configuration section.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ConfigError;

/// Where the API lives unless the configuration says otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.cloudflare.com/client/v4";
/// What a comment starts with on every record (and a `ref` on every rule) this service owns.
pub const DEFAULT_MANAGED_PREFIX: &str = "managed-by:command-center";

/// `[cloudflare]`: the token, the zones, and the declared state.
///
/// ```toml
/// [cloudflare]
/// token_file = "/run/secrets/cloudflare_token"
/// zones = ["district.example.org"]
/// certificate_warning_days = [30, 14, 7]
///
/// [[cloudflare.dns]]
/// zone = "district.example.org"
/// type = "A"
/// name = "www.district.example.org"
/// content = "198.51.100.4"
/// proxied = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareConfig {
    /// A file holding the API token (Docker secret style). The token itself is never
    /// accepted inline, so it cannot end up in a printed configuration.
    pub token_file: PathBuf,
    /// The API base URL, overridable for tests and proxies.
    #[serde(default = "default_api_base")]
    pub api_base: String,
    /// Zone names to manage; their ids are looked up with `GET /zones?name=`.
    #[serde(default)]
    pub zones: Vec<String>,
    /// Days before a certificate's expiry at which one warning is raised each.
    #[serde(default = "default_thresholds")]
    pub certificate_warning_days: Vec<u32>,
    /// Prefix marking records (comment) and WAF rules (`ref`) as owned by this service.
    #[serde(default = "default_prefix")]
    pub managed_prefix: String,
    /// When the worker's `cloudflare.certificates` cron job runs (five cron fields, UTC).
    #[serde(default = "default_schedule")]
    pub certificate_schedule: String,
    #[serde(default)]
    pub delete_guard: DeleteGuard,
    /// Items per cache purge request (Cloudflare allows 30 on most plans, 500 on Enterprise).
    #[serde(default = "default_purge_batch")]
    pub purge_batch_size: usize,
    /// Attempts per request on 429 and 5xx before the error is handed to the job runner.
    #[serde(default = "default_attempts")]
    pub max_attempts: u32,
    /// Longest `Retry-After` waited in-process; longer waits go back to the job runner.
    #[serde(default = "default_max_wait")]
    pub max_retry_wait_secs: u64,
    #[serde(default)]
    pub dns: Vec<DnsRecordSpec>,
    #[serde(default)]
    pub waf: Vec<WafRuleSpec>,
}

/// Refuses an apply that would delete too many managed records or rules at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteGuard {
    /// Most deletions one apply may make (per zone and kind).
    #[serde(default = "default_max_deletes")]
    pub max_deletes: usize,
    /// Largest share (0–100) of the managed items one apply may delete.
    #[serde(default = "default_max_percent")]
    pub max_delete_percent: f64,
}

impl Default for DeleteGuard {
    fn default() -> Self {
        Self {
            max_deletes: default_max_deletes(),
            max_delete_percent: default_max_percent(),
        }
    }
}

/// One declared DNS record (`[[cloudflare.dns]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsRecordSpec {
    pub zone: String,
    #[serde(rename = "type")]
    pub record_type: String,
    /// Fully qualified name (`www.example.org`), as Cloudflare returns it.
    pub name: String,
    pub content: String,
    /// Seconds; 1 means automatic.
    #[serde(default = "default_ttl")]
    pub ttl: u32,
    #[serde(default)]
    pub proxied: bool,
    /// Free text after the managed prefix.
    #[serde(default)]
    pub comment: String,
    /// MX and SRV priority.
    #[serde(default)]
    pub priority: Option<u16>,
}

/// One declared WAF custom rule (`[[cloudflare.waf]]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WafRuleSpec {
    pub zone: String,
    /// Stable name; the rule's `ref` is `{managed_prefix}:{name}`.
    pub name: String,
    pub expression: String,
    /// `block`, `challenge`, `js_challenge`, `managed_challenge`, `log` or `skip`.
    pub action: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "crate::config::yes")]
    pub enabled: bool,
}

/// Actions a declared WAF rule may take (the terminating ones plus `log` and `skip`).
pub const WAF_ACTIONS: [&str; 6] = [
    "block",
    "challenge",
    "js_challenge",
    "managed_challenge",
    "log",
    "skip",
];

/// Record types the declared state accepts (those with a plain `content`).
pub const DNS_TYPES: [&str; 7] = ["A", "AAAA", "CNAME", "TXT", "MX", "NS", "PTR"];

impl CloudflareConfig {
    /// Checks what serde cannot: known zones, types, actions, sane limits.
    ///
    /// # Errors
    /// The first problem found, naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |m: String| Err(ConfigError::new("cloudflare", m));
        let url = reqwest::Url::parse(&self.api_base);
        match url {
            Ok(u) if u.scheme() == "https" => {}
            Ok(u)
                if u.scheme() == "http" && crate::is_loopback_host(u.host_str().unwrap_or("")) => {}
            Ok(_) => return err("`api_base` must be https:// (http:// only on loopback)".into()),
            Err(e) => return err(format!("`api_base`: {e}")),
        }
        if self.managed_prefix.trim().is_empty() {
            return err("`managed_prefix` must not be empty".into());
        }
        if !(0.0..=100.0).contains(&self.delete_guard.max_delete_percent) {
            return err("`delete_guard.max_delete_percent` must be within 0–100".into());
        }
        if self.purge_batch_size == 0 || self.purge_batch_size > 500 {
            return err("`purge_batch_size` must be within 1–500".into());
        }
        if self.max_attempts == 0 || self.max_attempts > 10 {
            return err("`max_attempts` must be within 1–10".into());
        }
        if self
            .certificate_warning_days
            .iter()
            .any(|d| *d == 0 || *d > 365)
        {
            return err("`certificate_warning_days` must be within 1–365".into());
        }
        for (i, r) in self.dns.iter().enumerate() {
            if !self.zones.contains(&r.zone) {
                return err(format!("`dns[{i}].zone` `{}` is not in `zones`", r.zone));
            }
            if !DNS_TYPES.contains(&r.record_type.as_str()) {
                return err(format!("`dns[{i}].type` must be one of {DNS_TYPES:?}"));
            }
            if r.ttl != 1 && !(60..=86_400).contains(&r.ttl) {
                return err(format!("`dns[{i}].ttl` must be 1 (automatic) or 60–86400"));
            }
            if r.name.is_empty() || r.name.len() > 255 || r.content.is_empty() {
                return err(format!("`dns[{i}]` needs a name (≤ 255) and content"));
            }
            if r.proxied && !matches!(r.record_type.as_str(), "A" | "AAAA" | "CNAME") {
                return err(format!("`dns[{i}].proxied` is only for A, AAAA and CNAME"));
            }
            if r.comment.len() > 100 {
                return err(format!("`dns[{i}].comment` is limited to 100 characters"));
            }
        }
        for (i, w) in self.waf.iter().enumerate() {
            if !self.zones.contains(&w.zone) {
                return err(format!("`waf[{i}].zone` `{}` is not in `zones`", w.zone));
            }
            if !WAF_ACTIONS.contains(&w.action.as_str()) {
                return err(format!("`waf[{i}].action` must be one of {WAF_ACTIONS:?}"));
            }
            if w.expression.trim().is_empty() || w.expression.len() > 4096 {
                return err(format!("`waf[{i}].expression` must be 1–4096 characters"));
            }
            if w.name.is_empty() || w.name.contains(char::is_whitespace) {
                return err(format!("`waf[{i}].name` must be a word without spaces"));
            }
        }
        Ok(())
    }
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.into()
}
fn default_thresholds() -> Vec<u32> {
    vec![30, 14, 7]
}
fn default_prefix() -> String {
    DEFAULT_MANAGED_PREFIX.into()
}
fn default_schedule() -> String {
    "17 * * * *".into()
}
fn default_purge_batch() -> usize {
    30
}
fn default_attempts() -> u32 {
    3
}
fn default_max_wait() -> u64 {
    60
}
fn default_max_deletes() -> usize {
    10
}
fn default_max_percent() -> f64 {
    25.0
}
fn default_ttl() -> u32 {
    1
}
