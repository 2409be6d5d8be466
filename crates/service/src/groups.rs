//! Writing groups and memberships.

use cc_domain::{Actor, Group, GroupPatch, NewAuditEvent, NewGroup};
use serde_json::json;
use uuid::Uuid;

use crate::audit::change_event;
use crate::{check_version, Directory, Result, ServiceError};

impl Directory {
    /// Creates a group.
    ///
    /// # Errors
    /// Validation, a unique conflict, or a store failure.
    pub async fn create_group(&self, actor: &Actor, input: NewGroup) -> Result<Group> {
        let group = input.into_group(cc_domain::new_id(), cc_domain::now())?;
        let mut tx = self.store.begin().await?;
        tx.insert_group(&group).await?;
        tx.append_audit(change_event(
            actor,
            "group.create",
            "group",
            group.id.to_string(),
            None,
            Some(&group),
        ))
        .await?;
        tx.commit().await?;
        Ok(group)
    }

    /// Applies a patch under an optional version precondition.
    ///
    /// # Errors
    /// Not found, a stale version, validation, a conflict.
    pub async fn update_group(
        &self,
        actor: &Actor,
        id: Uuid,
        mut patch: GroupPatch,
        if_match: Option<i64>,
    ) -> Result<Group> {
        let expected = if_match.or(patch.version.take());
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_group(id)
            .await?
            .ok_or(ServiceError::NotFound("group"))?;
        check_version(expected, current.version)?;
        let next = current.patched(patch, cc_domain::now())?;
        if next == current {
            return Ok(current);
        }
        tx.update_group(&next).await?;
        tx.append_audit(change_event(
            actor,
            "group.update",
            "group",
            id.to_string(),
            Some(&current),
            Some(&next),
        ))
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Deletes a group and its memberships.
    ///
    /// # Errors
    /// Not found, a stale version, a store failure.
    pub async fn delete_group(&self, actor: &Actor, id: Uuid, if_match: Option<i64>) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_group(id)
            .await?
            .ok_or(ServiceError::NotFound("group"))?;
        check_version(if_match, current.version)?;
        tx.delete_group(id).await?;
        tx.append_audit(change_event(
            actor,
            "group.delete",
            "group",
            id.to_string(),
            Some(&current),
            None,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds or removes a member; idempotent (no change, no audit event).
    ///
    /// # Errors
    /// The group or the user does not exist, or a store failure.
    pub async fn set_membership(
        &self,
        actor: &Actor,
        group_id: Uuid,
        user_id: Uuid,
        member: bool,
    ) -> Result<bool> {
        let mut tx = self.store.begin().await?;
        let group = tx
            .get_group(group_id)
            .await?
            .ok_or(ServiceError::NotFound("group"))?;
        tx.get_user(user_id)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        let changed = if member {
            tx.add_member(group_id, user_id).await?
        } else {
            tx.remove_member(group_id, user_id).await?
        };
        if changed {
            let (action, before, after) = if member {
                (
                    "group.member_add",
                    None,
                    Some(json!({"user_id": user_id, "group": group.name})),
                )
            } else {
                (
                    "group.member_remove",
                    Some(json!({"user_id": user_id, "group": group.name})),
                    None,
                )
            };
            tx.append_audit(NewAuditEvent {
                actor: actor.name.clone(),
                action: action.into(),
                target_type: "group".into(),
                target_id: Some(group_id.to_string()),
                request_id: actor.request_id.clone(),
                before,
                after,
            })
            .await?;
            tx.commit().await?;
        }
        Ok(changed)
    }
}
