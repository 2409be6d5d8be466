//! Errors: what a failed operation tells the job runner, and what a bad configuration tells
//! the operator.

use std::time::Duration;

/// Why an operation failed, and whether trying again later can help.
///
/// Messages never contain secrets: targets redact passwords and configured secrets before
/// building one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The target could not be reached or asked us to come back later (connection refused,
    /// timeout, busy, 5xx, 429). The job should be retried, no sooner than `retry_after`
    /// when the target said so.
    #[error("{message}")]
    Retryable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Retrying the same request cannot succeed (invalid configuration, credentials rejected,
    /// schema violation, 4xx): the job should be discarded and the error shown.
    #[error("{message}")]
    Permanent { message: String },
}

impl TargetError {
    #[must_use]
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }

    #[must_use]
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::Permanent {
            message: message.into(),
        }
    }

    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }

    #[must_use]
    pub fn message(&self) -> &str {
        match self {
            Self::Retryable { message, .. } | Self::Permanent { message } => message,
        }
    }

    /// How long the target asked us to wait before retrying, when it said.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Retryable { retry_after, .. } => *retry_after,
            Self::Permanent { .. } => None,
        }
    }

    /// Prefixes the message with context ("add uid=ada,…: …"), keeping the kind.
    #[must_use]
    pub fn context(self, what: impl std::fmt::Display) -> Self {
        match self {
            Self::Retryable {
                message,
                retry_after,
            } => Self::Retryable {
                message: format!("{what}: {message}"),
                retry_after,
            },
            Self::Permanent { message } => Self::Permanent {
                message: format!("{what}: {message}"),
            },
        }
    }
}

/// A `[[targets]]` entry that cannot be built. The message names the target and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("target `{target}`: {message}")]
pub struct ConfigError {
    pub target: String,
    pub message: String,
}

impl ConfigError {
    #[must_use]
    pub fn new(target: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            message: message.into(),
        }
    }
}

/// Replaces every occurrence of each secret in `text` with `[REDACTED]`: as written, as a
/// JSON string would escape it (`"`, `\\`, control characters, `\/`), and a start of it cut
/// off at the end of the text (output kept only up to a limit). Empty secrets are ignored
/// (they would match everywhere).
#[must_use]
pub fn redact(text: &str, secrets: &[&str]) -> String {
    const MASK: &str = "[REDACTED]";
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        let forms = secret_forms(s);
        for form in &forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), MASK);
            }
        }
        // A secret cut off by truncation: the text ends with its first characters.
        let cut = forms.iter().find_map(|form| truncated_tail(&out, form));
        if let Some(start) = cut {
            out.truncate(start);
            out.push_str(MASK);
        }
    }
    out
}

/// The ways a secret may be written in output: itself and its JSON-escaped forms.
fn secret_forms(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_owned()];
    if let Ok(quoted) = serde_json::to_string(secret) {
        let escaped = quoted[1..quoted.len() - 1].to_owned();
        let slashes = escaped.replace('/', "\\/");
        for f in [escaped, slashes] {
            if !forms.contains(&f) {
                forms.push(f);
            }
        }
    }
    // Longest first, so a form is not masked half-way by a shorter one.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms
}

/// Where `text` ends with a proper prefix of `form` at least three characters long.
fn truncated_tail(text: &str, form: &str) -> Option<usize> {
    let chars: Vec<(usize, char)> = form.char_indices().collect();
    (3..chars.len()).rev().find_map(|n| {
        let prefix = &form[..chars[n].0];
        text.ends_with(prefix).then(|| text.len() - prefix.len())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_every_secret() {
        assert_eq!(
            redact("pw=hunter2 again hunter2, key=k3y", &["hunter2", "k3y", ""]),
            "pw=[REDACTED] again [REDACTED], key=[REDACTED]"
        );
    }

    #[test]
    fn redacts_json_escaped_and_truncated_secrets() {
        let pw = r#"p"a\ss/w0rd"#;
        let json = serde_json::json!({ "password": pw }).to_string();
        assert!(!redact(&json, &[pw]).contains("ss/w0rd"), "{json}");
        let escaped_slash = json.replace('/', "\\/");
        assert!(!redact(&escaped_slash, &[pw]).contains("w0rd"));
        let cut = "setting password to Correct-Hor";
        assert_eq!(
            redact(cut, &["Correct-Horse-9"]),
            "setting password to [REDACTED]"
        );
        assert_eq!(redact("ends with Co", &["Correct-Horse-9"]), "ends with Co");
    }

    #[test]
    fn context_keeps_the_kind() {
        let e = TargetError::retryable("refused").context("connect");
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "connect: refused");
        assert!(!TargetError::permanent("x").context("y").is_retryable());
    }
}
