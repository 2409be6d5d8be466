//! Writing people.

use cc_domain::{
    Actor, LifecycleJobArgs, LifecycleOperation, NewUser, User, UserPatch, UserStatus,
};
use uuid::Uuid;

use crate::audit::change_event;
use crate::sources::{report_conflicts, Origin, SourcedUpdate};
use crate::{check_version, Directory, Result, ServiceError};

impl Directory {
    /// Creates a person (and their memberships) with its audit event.
    ///
    /// # Errors
    /// Validation, a unique conflict, or a store failure.
    pub async fn create_user(&self, actor: &Actor, input: NewUser) -> Result<User> {
        self.create_user_from(actor, input, &Origin::api()).await
    }

    /// [`Directory::create_user`] from a given source, which the record keeps.
    ///
    /// # Errors
    /// As [`Directory::create_user`].
    pub async fn create_user_from(
        &self,
        actor: &Actor,
        input: NewUser,
        origin: &Origin,
    ) -> Result<User> {
        let mut user = input.into_user(cc_domain::new_id(), cc_domain::now())?;
        // Auto-provisioning activates a new person and enqueues the provision; with sync on,
        // a person created active is provisioned too.
        let provision = match user.status {
            UserStatus::Pending if self.lifecycle.auto_provision => {
                user.status = UserStatus::Active;
                true
            }
            UserStatus::Active => self.lifecycle.auto_provision || self.lifecycle.sync_on_change,
            _ => false,
        };
        let mut tx = self.store.begin().await?;
        tx.insert_user(&user).await?;
        if !user.groups.is_empty() {
            tx.set_user_groups(user.id, &user.groups).await?;
        }
        tx.put_user_source(&origin.record(user.id, None)).await?;
        tx.append_audit(change_event(
            actor,
            "user.create",
            "user",
            user.id.to_string(),
            None,
            Some(&user),
        ))
        .await?;
        if provision {
            let args = LifecycleJobArgs::new(user.id, LifecycleOperation::Provision);
            crate::lifecycle::enqueue(&mut *tx, actor, args, None).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    /// Applies a patch under an optional version precondition (`If-Match` or `version`).
    ///
    /// # Errors
    /// Not found, a stale version, validation, an illegal status change, a conflict.
    pub async fn update_user(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: UserPatch,
        if_match: Option<i64>,
    ) -> Result<User> {
        self.update_user_enqueueing(actor, id, patch, if_match)
            .await
            .map(|(user, _)| user)
    }

    /// [`Directory::update_user`], also returning the lifecycle job the edit enqueued (with
    /// `sync_on_change`, when the change calls for one).
    ///
    /// # Errors
    /// As [`Directory::update_user`].
    pub async fn update_user_enqueueing(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: UserPatch,
        if_match: Option<i64>,
    ) -> Result<(User, Option<i64>)> {
        self.update_user_from(actor, id, patch, if_match, &Origin::api())
            .await
            .map(|u| (u.user, u.job_id))
    }

    /// [`Directory::update_user_enqueueing`] from a given source: fields another source owns
    /// (see [`cc_domain::FieldOwners`]) are left as they are, and each such attempt is
    /// reported as a conflict (an audit event `user.source_conflict`, a log line, and in the
    /// answer).
    ///
    /// # Errors
    /// As [`Directory::update_user`].
    pub async fn update_user_from(
        &self,
        actor: &Actor,
        id: Uuid,
        mut patch: UserPatch,
        if_match: Option<i64>,
        origin: &Origin,
    ) -> Result<SourcedUpdate> {
        let expected = if_match.or(patch.version.take());
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_user(id)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        check_version(expected, current.version)?;
        let conflicts = self.owners.restrict(origin.source, &current, &mut patch);
        if !conflicts.is_empty() {
            report_conflicts(&mut *tx, actor, id, &conflicts).await?;
        }
        let stored = tx.get_user_source(id).await?;
        if origin.scim.is_some() {
            let record = origin.record(id, stored.as_ref());
            if stored.as_ref() != Some(&record) {
                tx.put_user_source(&record).await?;
            }
        }
        let next = current.patched(patch, cc_domain::now())?;
        if next == current {
            tx.commit().await?;
            return Ok(SourcedUpdate {
                user: current,
                job_id: None,
                conflicts,
            });
        }
        tx.update_user(&next).await?;
        if next.groups != current.groups {
            tx.set_user_groups(id, &next.groups).await?;
        }
        tx.append_audit(change_event(
            actor,
            "user.update",
            "user",
            id.to_string(),
            Some(&current),
            Some(&next),
        ))
        .await?;
        let mut job_id = None;
        if self.lifecycle.sync_on_change {
            if let Some(op) = LifecycleOperation::for_change(&current, &next) {
                let mut args = LifecycleJobArgs::new(id, op);
                args.previous = Some(current);
                job_id = Some(crate::lifecycle::enqueue(&mut *tx, actor, args, None).await?);
            }
        }
        tx.commit().await?;
        Ok(SourcedUpdate {
            user: next,
            job_id,
            conflicts,
        })
    }

    /// Deletes a person from the directory (their memberships go with them; devices are unassigned).
    ///
    /// # Errors
    /// Not found, a stale version, a store failure.
    pub async fn delete_user(&self, actor: &Actor, id: Uuid, if_match: Option<i64>) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_user(id)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        check_version(if_match, current.version)?;
        tx.delete_user(id).await?;
        tx.append_audit(change_event(
            actor,
            "user.delete",
            "user",
            id.to_string(),
            Some(&current),
            None,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
