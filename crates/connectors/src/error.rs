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

/// Replaces every occurrence of each secret in `text` with `[REDACTED]`. Empty secrets are
/// ignored (they would match everywhere).
#[must_use]
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| !s.is_empty()) {
        if out.contains(*s) {
            out = out.replace(*s, "[REDACTED]");
        }
    }
    out
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
    fn context_keeps_the_kind() {
        let e = TargetError::retryable("refused").context("connect");
        assert!(e.is_retryable());
        assert_eq!(e.to_string(), "connect: refused");
        assert!(!TargetError::permanent("x").context("y").is_retryable());
    }
}
