//! The one trait every channel implements.

use async_trait::async_trait;

use crate::message::Message;

/// Why a delivery failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt (network error, 429, 5xx), not before `after` when the
    /// receiver said (`Retry-After`).
    #[error("{message}")]
    Retryable {
        message: String,
        after: Option<std::time::Duration>,
    },
    /// The receiver refused for good (other 4xx, a rejected recipient).
    #[error("{0}")]
    Permanent(String),
}

/// A place notifications go. Errors never carry the channel's secrets (webhook URLs with
/// tokens, passwords).
#[async_trait]
pub trait Channel: Send + Sync {
    fn name(&self) -> &str;
    /// `slack`, `email` or `webhook`.
    fn kind(&self) -> &'static str;
    async fn send(&self, message: &Message) -> Result<(), SendError>;
    /// Checks what can be checked without sending a message (`command-center check`): what
    /// was checked, or why it failed (never a secret).
    async fn check(&self) -> Result<String, String>;
}
