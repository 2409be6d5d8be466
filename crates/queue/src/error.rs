/// Why a handler's attempt did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (after the kind's backoff), e.g. a target was unreachable.
    #[error("{0}")]
    Retryable(String),
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

    /// A permanent failure with the error's text.
    pub fn permanent(e: impl std::fmt::Display) -> Self {
        JobError::Permanent(e.to_string())
    }
}
