//! The `Target` trait every connector implements.

use async_trait::async_trait;

use crate::{Operation, OperationRequest, TargetError, TargetOutcome, TargetPlan};

/// Something lifecycle operations act on: a directory, a script, a webhook receiver.
///
/// Contract, for every implementation:
/// - `plan` is a dry run: it may read the target, never change it.
/// - `apply` converges: it checks before acting, so an existing account is updated rather
///   than duplicated, a missing account on `suspend`/`deprovision` is success, and re-running
///   an operation that is already done succeeds with no changes.
/// - Errors say whether retrying can help ([`TargetError::Retryable`]) and never contain
///   secrets; neither do outcomes.
/// - Calling `plan`/`apply` with an operation the target does not [handle](Target::handles)
///   is a permanent error: the engine should not enqueue it.
#[async_trait]
pub trait Target: Send + Sync {
    /// The configured name (unique among targets), e.g. `district-ad`.
    fn name(&self) -> &str;

    /// `ldap`, `script`, `webhook` or `scim`.
    fn kind(&self) -> &'static str;

    /// Whether this target stores passwords (so `reset_password` and an initial password
    /// on `provision` mean something here).
    fn holds_passwords(&self) -> bool;

    /// Whether the configuration enables this operation on this target.
    fn handles(&self, operation: Operation) -> bool;

    /// Reads the target and says what `apply` would change, without changing anything.
    async fn plan(&self, req: &OperationRequest) -> Result<TargetPlan, TargetError>;

    /// Performs the operation, converging on the desired state.
    async fn apply(&self, req: &OperationRequest) -> Result<TargetOutcome, TargetError>;

    /// Checks, without changing anything, that the target can do what its configuration
    /// asks: for a directory, that the bind works, the base is readable and the schema has
    /// every attribute and object class the configuration uses. `Ok` says what was checked;
    /// the error says what is wrong. Targets with nothing to check answer `Ok` at once.
    async fn check(&self) -> Result<String, TargetError> {
        Ok("nothing to check".into())
    }
}

/// The permanent error for an operation the target is not configured to handle.
pub(crate) fn unhandled(target: &str, operation: Operation) -> TargetError {
    TargetError::permanent(format!(
        "target `{target}` is not configured to handle `{operation}`"
    ))
}
