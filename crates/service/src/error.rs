use cc_domain::user::{InvalidTransition, PatchError};
use cc_domain::ValidationErrors;
use cc_store::StoreError;

/// Why a service call failed, in terms the API maps one-to-one onto responses.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid input: {0}")]
    Validation(ValidationErrors),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("another record already has this {field}")]
    Conflict { field: String },
    #[error("{0}")]
    InvalidTransition(InvalidTransition),
    /// A lifecycle operation the user's state does not allow.
    #[error("{0}")]
    InvalidOperation(cc_domain::lifecycle::InvalidOperation),
    /// The caller's `If-Match`/`version` is stale: the record is at version `current`.
    #[error("the record has changed (current version {current})")]
    PreconditionFailed { current: i64 },
    /// Another write changed the record while this one ran (its versioned update matched no
    /// row); the current version is not known.
    #[error("the record changed while the request ran")]
    ConcurrentUpdate,
    #[error("{0}")]
    Unavailable(String),
    /// Internal detail for the log, never for the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { field } => ServiceError::Conflict { field },
            StoreError::VersionConflict => ServiceError::ConcurrentUpdate,
            StoreError::Invalid(v) => ServiceError::Validation(v),
            StoreError::Unavailable(m) => ServiceError::Unavailable(m),
            StoreError::Config(m) | StoreError::Internal(m) => ServiceError::Internal(m),
        }
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(e: ValidationErrors) -> Self {
        ServiceError::Validation(e)
    }
}

impl From<PatchError> for ServiceError {
    fn from(e: PatchError) -> Self {
        match e {
            PatchError::Invalid(v) => ServiceError::Validation(v),
            PatchError::Transition(t) => ServiceError::InvalidTransition(t),
        }
    }
}
