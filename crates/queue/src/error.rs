/// The longest wait a target can impose before a retry (`Retry-After`); longer requests are
/// shortened to this.
pub const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Why a handler's attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (after the kind's backoff), e.g. a target was unreachable.
    #[error("{0}")]
    Retryable(String),
    /// Worth another attempt, but not before `after`: the target said when (e.g. an HTTP
    /// `Retry-After`). The next attempt runs at the later of the kind's backoff and `after`,
    /// which is capped at [`MAX_RETRY_AFTER`] so a target cannot park a job for days.
    #[error("{message}")]
    RetryableAfter {
        message: String,
        after: std::time::Duration,
    },
    /// Will never succeed (bad arguments, a target refused for good): discard the job now.
    #[error("{0}")]
    Permanent(String),
    /// The handler stopped because its cancellation token fired.
    #[error("cancelled")]
    Cancelled,
    /// Not yet: run this job again after `delay`, without spending an attempt or recording
    /// an error (e.g. it must wait for an earlier job to finish).
    #[error("snoozed: {reason}")]
    Snooze {
        delay: std::time::Duration,
        reason: String,
    },
}

impl JobError {
    /// A retryable failure with the error's text.
    pub fn retryable(e: impl std::fmt::Display) -> Self {
        JobError::Retryable(e.to_string())
    }

    /// The least time to wait before the next attempt, when the handler was told one
    /// (capped at [`MAX_RETRY_AFTER`]).
    #[must_use]
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            JobError::RetryableAfter { after, .. } => Some((*after).min(MAX_RETRY_AFTER)),
            _ => None,
        }
    }

    /// A permanent failure with the error's text.
    pub fn permanent(e: impl std::fmt::Display) -> Self {
        JobError::Permanent(e.to_string())
    }
}
