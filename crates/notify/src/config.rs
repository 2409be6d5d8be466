//! `[notifications]` settings: the channels and the dedupe and digest windows.

use std::path::{Path, PathBuf};

use cc_domain::notification::Severity;
use cc_domain::EventKind;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// ```toml
/// [notifications]
/// dedupe_window_secs = 3600
/// digest_window_secs = 300
/// digest_threshold = 5
///
/// [[notifications.channels]]
/// name = "it-alerts"
/// kind = "slack"
/// url_file = "/run/secrets/slack_webhook_url"
/// events = ["job.discarded", "target.failing", "target.recovered"]
/// min_severity = "warning"
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsConfig {
    /// The console's address as people reach it (`https://cc.district.example`), for links in
    /// messages; empty: no links.
    #[serde(default)]
    pub public_url: String,
    /// The same event about the same subject is sent to a channel at most once in this window.
    #[serde(default = "default_dedupe")]
    pub dedupe_window_secs: u64,
    /// When a channel got `digest_threshold` events of one kind within this window, further
    /// ones are held and sent as one digest at the end of the window.
    #[serde(default = "default_digest_window")]
    pub digest_window_secs: u64,
    #[serde(default = "default_digest_threshold")]
    pub digest_threshold: u32,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelConfig>,
}

impl Default for NotificationsConfig {
    fn default() -> Self {
        Self {
            public_url: String::new(),
            dedupe_window_secs: default_dedupe(),
            digest_window_secs: default_digest_window(),
            digest_threshold: default_digest_threshold(),
            channels: Vec::new(),
        }
    }
}

impl NotificationsConfig {
    /// Checks what can be checked without reading files or the network: unique names, the
    /// secrets given as `*_file` only (`allow_inline` false: a configuration file is no place
    /// for a credential), URL syntax, addresses present.
    ///
    /// # Errors
    /// The first problem, naming the channel and the key.
    pub fn validate(&self, allow_inline: bool) -> Result<(), String> {
        if !self.public_url.is_empty() {
            crate::check_url(&self.public_url)
                .map_err(|e| format!("notifications.public_url: {e}"))?;
        }
        if self.digest_threshold == 0 || self.digest_window_secs == 0 {
            return Err(
                "notifications.digest_threshold and digest_window_secs must be at least 1".into(),
            );
        }
        let mut seen = std::collections::HashSet::new();
        for c in &self.channels {
            let at = |e: &str| format!("notifications channel {:?}: {e}", c.name);
            if c.name.trim().is_empty() || c.name.len() > 64 {
                return Err("notifications channels need a name of 1 to 64 characters".into());
            }
            if !seen.insert(c.name.as_str()) {
                return Err(at("the name is used twice"));
            }
            let inline = |key: &str, given: bool| {
                if given && !allow_inline {
                    Err(at(&format!("`{key}` is a secret: give it as `{key}_file`")))
                } else {
                    Ok(())
                }
            };
            match &c.kind {
                ChannelKind::Slack { url, url_file } => {
                    inline("url", url.is_some())?;
                    if url.is_none() && url_file.is_none() {
                        return Err(at("url_file is required"));
                    }
                    if let Some(u) = url {
                        crate::check_url(secrecy::ExposeSecret::expose_secret(u))
                            .map_err(|e| at(&e))?;
                    }
                }
                ChannelKind::Webhook { url, secret, .. } => {
                    inline("secret", secret.is_some())?;
                    crate::check_url(url).map_err(|e| at(&e))?;
                }
                ChannelKind::Email(e) => {
                    inline("password", e.password.is_some())?;
                    if e.host.trim().is_empty() || e.from.trim().is_empty() || e.to.is_empty() {
                        return Err(at("host, from and to are required"));
                    }
                    if e.username.is_some() && e.password.is_none() && e.password_file.is_none() {
                        return Err(at("username is set: password_file is required"));
                    }
                }
            }
        }
        Ok(())
    }
}

impl NotificationsConfig {
    /// What the channels subscribe to (read from the settings alone: no secret is read).
    #[must_use]
    pub fn subscriptions(&self) -> cc_domain::Subscriptions {
        cc_domain::Subscriptions::new(
            self.channels
                .iter()
                .map(ChannelConfig::subscription)
                .collect(),
        )
    }

    /// Makes the channels' relative file paths relative to `dir` (the configuration file's).
    pub fn resolve_relative_to(&mut self, dir: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                *p = cc_connectors::paths::resolve(dir, p);
            }
        };
        for c in &mut self.channels {
            match &mut c.kind {
                ChannelKind::Slack { url_file, .. } => fix(url_file),
                ChannelKind::Webhook { secret_file, .. } => fix(secret_file),
                ChannelKind::Email(e) => {
                    fix(&mut e.password_file);
                    fix(&mut e.ca_file);
                }
            }
        }
    }
}

fn default_dedupe() -> u64 {
    3600
}
fn default_digest_window() -> u64 {
    300
}
fn default_digest_threshold() -> u32 {
    5
}
fn default_timeout_ms() -> u64 {
    10_000
}

/// One channel: its name, what it subscribes to, and how it delivers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChannelConfig {
    pub name: String,
    /// The event kinds sent to this channel (e.g. `job.discarded`); all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventKind>>,
    /// Events below this severity are not sent.
    #[serde(default = "default_severity")]
    pub min_severity: Severity,
    /// Time allowed for one delivery.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(flatten)]
    pub kind: ChannelKind,
}

impl ChannelConfig {
    /// The kinds and severities this channel takes.
    #[must_use]
    pub fn subscription(&self) -> cc_domain::Subscription {
        cc_domain::Subscription {
            events: self.events.clone(),
            min_severity: self.min_severity,
        }
    }
}

fn default_severity() -> Severity {
    Severity::Info
}

/// How a channel delivers (`kind = "slack" | "email" | "webhook"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelKind {
    /// A Slack incoming webhook (also Mattermost and Teams, which accept the same JSON).
    Slack {
        /// The webhook URL, itself a credential. Prefer `url_file`.
        #[serde(default, skip_serializing)]
        url: Option<SecretString>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url_file: Option<PathBuf>,
    },
    /// Email over SMTP.
    Email(EmailConfig),
    /// A generic JSON webhook signed with HMAC-SHA256 (`X-CC-Signature`).
    Webhook {
        url: String,
        #[serde(default, skip_serializing)]
        secret: Option<SecretString>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_file: Option<PathBuf>,
    },
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (refused when the server does not offer it).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: loopback relays only.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// A PEM file of extra trusted roots (e.g. a district's own CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
}

fn default_smtp_port() -> u16 {
    587
}

/// Reads a secret: given inline, or from a file (one trailing newline dropped).
///
/// # Errors
/// Neither is given, or the file cannot be read.
pub(crate) fn read_secret(
    what: &str,
    inline: Option<&SecretString>,
    file: Option<&Path>,
) -> Result<SecretString, String> {
    if let Some(s) = inline {
        return Ok(s.clone());
    }
    let Some(path) = file else {
        return Err(format!("{what} or {what}_file is required"));
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{what}_file {}: {e}", path.display()))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(SecretString::from(
        text.strip_suffix('\r').unwrap_or(text).to_owned(),
    ))
}
