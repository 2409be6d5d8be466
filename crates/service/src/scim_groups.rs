//! Writing a group together with its whole member list, as SCIM clients do (a create or a
//! replace carries `members`): the group, every membership change and their audit events
//! commit in one transaction.

use std::collections::BTreeSet;

use cc_domain::{
    Actor, Group, GroupPatch, NewAuditEvent, NewGroup, User, UserQuery, ValidationErrors,
};
use cc_store::Tx;
use serde_json::json;
use uuid::Uuid;

use crate::audit::change_event;
use crate::{check_version, Directory, Result, ServiceError};

/// The most members one group write may name.
pub const MAX_MEMBERS: usize = 10_000;

/// Membership changes for a group: either the whole list, or additions and removals.
#[derive(Debug, Clone)]
pub enum MemberChange {
    /// Leave the members as they are.
    Keep,
    /// The group's members are exactly these.
    Set(Vec<Uuid>),
}

impl Directory {
    /// Every member of a group (in pages of 500).
    ///
    /// # Errors
    /// A store failure.
    pub async fn all_group_members(&self, group_id: Uuid) -> Result<Vec<User>> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let q = UserQuery {
                limit: 500,
                cursor: cursor
                    .as_deref()
                    .map(|c| cc_domain::Cursor::decode(c, "username"))
                    .transpose()
                    .map_err(ServiceError::Internal)?,
                ..UserQuery::default()
            };
            let page = self.store.group_members(group_id, &q).await?;
            out.extend(page.items);
            match page.next_cursor {
                Some(c) if out.len() <= MAX_MEMBERS * 10 => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// Creates a group with these members.
    ///
    /// # Errors
    /// Validation (including a member that does not exist), a taken name, a store failure.
    pub async fn create_group_with_members(
        &self,
        actor: &Actor,
        input: NewGroup,
        members: &[Uuid],
    ) -> Result<Group> {
        check_member_count(members)?;
        let mut group = input.into_group(cc_domain::new_id(), cc_domain::now())?;
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
        let wanted: BTreeSet<Uuid> = members.iter().copied().collect();
        let added = apply_members(&mut *tx, actor, &group, &BTreeSet::new(), &wanted).await?;
        group.member_count = i64::try_from(added).unwrap_or(i64::MAX);
        tx.commit().await?;
        Ok(group)
    }

    /// Changes a group's fields and members under an optional version precondition. A change
    /// of members alone also moves the group to its next version (its `ETag` changes).
    ///
    /// # Errors
    /// Not found, a stale version, validation (including a member that does not exist), a
    /// taken name, a store failure.
    pub async fn write_group_with_members(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: GroupPatch,
        members: MemberChange,
        if_match: Option<i64>,
    ) -> Result<Group> {
        let current_members: BTreeSet<Uuid> = match &members {
            MemberChange::Keep => BTreeSet::new(),
            MemberChange::Set(m) => {
                check_member_count(m)?;
                self.all_group_members(id)
                    .await?
                    .into_iter()
                    .map(|u| u.id)
                    .collect()
            }
        };
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_group(id)
            .await?
            .ok_or(ServiceError::NotFound("group"))?;
        check_version(if_match, current.version)?;
        let mut next = current.patched(patch, cc_domain::now())?;
        let changed_members = match &members {
            MemberChange::Keep => 0,
            MemberChange::Set(m) => {
                let wanted: BTreeSet<Uuid> = m.iter().copied().collect();
                apply_members(&mut *tx, actor, &current, &current_members, &wanted).await?
            }
        };
        if next == current && changed_members == 0 {
            return Ok(current);
        }
        if next == current {
            next.version = current.version + 1;
            next.updated_at = cc_domain::now();
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
}

fn check_member_count(members: &[Uuid]) -> Result<()> {
    if members.len() > MAX_MEMBERS {
        return Err(ValidationErrors::single(
            "members",
            format!("at most {MAX_MEMBERS} members per request"),
        )
        .into());
    }
    Ok(())
}

/// Adds and removes members so the group has exactly `wanted`, auditing each change; returns
/// how many memberships changed.
async fn apply_members(
    tx: &mut dyn Tx,
    actor: &Actor,
    group: &Group,
    current: &BTreeSet<Uuid>,
    wanted: &BTreeSet<Uuid>,
) -> Result<usize> {
    let mut changed = 0;
    for user_id in wanted.difference(current) {
        if tx.get_user(*user_id).await?.is_none() {
            return Err(ValidationErrors::single(
                "members",
                format!("no person has the id {user_id}"),
            )
            .into());
        }
        if tx.add_member(group.id, *user_id).await? {
            changed += 1;
            audit_membership(tx, actor, group, *user_id, true).await?;
        }
    }
    for user_id in current.difference(wanted) {
        if tx.remove_member(group.id, *user_id).await? {
            changed += 1;
            audit_membership(tx, actor, group, *user_id, false).await?;
        }
    }
    Ok(changed)
}

async fn audit_membership(
    tx: &mut dyn Tx,
    actor: &Actor,
    group: &Group,
    user_id: Uuid,
    member: bool,
) -> Result<()> {
    let body = Some(json!({"user_id": user_id, "group": group.name}));
    let (action, before, after) = if member {
        ("group.member_add", None, body)
    } else {
        ("group.member_remove", body, None)
    };
    tx.append_audit(NewAuditEvent {
        actor: actor.name.clone(),
        action: action.into(),
        target_type: "group".into(),
        target_id: Some(group.id.to_string()),
        request_id: actor.request_id.clone(),
        before,
        after,
    })
    .await?;
    Ok(())
}
