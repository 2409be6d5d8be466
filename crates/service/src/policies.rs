//! Writing policies.

use cc_domain::{Actor, NewPolicy, Policy, PolicyPatch};
use uuid::Uuid;

use crate::audit::change_event;
use crate::{check_version, Directory, Result, ServiceError};

impl Directory {
    /// Creates a policy.
    ///
    /// # Errors
    /// Validation (including a malformed rule), a unique conflict, a store failure.
    pub async fn create_policy(&self, actor: &Actor, input: NewPolicy) -> Result<Policy> {
        let policy = input.into_policy(cc_domain::new_id(), cc_domain::now())?;
        let mut tx = self.store.begin().await?;
        tx.insert_policy(&policy).await?;
        tx.append_audit(change_event(
            actor,
            "policy.create",
            "policy",
            policy.id.to_string(),
            None,
            Some(&policy),
        ))
        .await?;
        tx.commit().await?;
        Ok(policy)
    }

    /// Applies a patch under an optional version precondition.
    ///
    /// # Errors
    /// Not found, a stale version, validation, a conflict.
    pub async fn update_policy(
        &self,
        actor: &Actor,
        id: Uuid,
        mut patch: PolicyPatch,
        if_match: Option<i64>,
    ) -> Result<Policy> {
        let expected = if_match.or(patch.version.take());
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_policy(id)
            .await?
            .ok_or(ServiceError::NotFound("policy"))?;
        check_version(expected, current.version)?;
        let next = current.patched(patch, cc_domain::now())?;
        if next == current {
            return Ok(current);
        }
        tx.update_policy(&next).await?;
        tx.append_audit(change_event(
            actor,
            "policy.update",
            "policy",
            id.to_string(),
            Some(&current),
            Some(&next),
        ))
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Deletes a policy.
    ///
    /// # Errors
    /// Not found, a stale version, a store failure.
    pub async fn delete_policy(
        &self,
        actor: &Actor,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_policy(id)
            .await?
            .ok_or(ServiceError::NotFound("policy"))?;
        check_version(if_match, current.version)?;
        tx.delete_policy(id).await?;
        tx.append_audit(change_event(
            actor,
            "policy.delete",
            "policy",
            id.to_string(),
            Some(&current),
            None,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
