//! Writing devices. Compliance is evaluated against the enabled policies whenever a device
//! is written (it reports new facts).

use cc_domain::policy::{evaluate_compliance, failing_policies};
use cc_domain::{Actor, Device, DevicePatch, NewDevice, Policy, PolicyQuery};
use uuid::Uuid;

use crate::audit::change_event;
use crate::{check_version, Directory, Result, ServiceError};

/// The `device.noncompliant` notification naming the policies the device fails, queued in
/// the transaction that writes the change.
fn noncompliant_event(d: &Device, policies: &[Policy]) -> cc_domain::NotificationEvent {
    let failing: Vec<&str> = failing_policies(d, policies)
        .map(|p| p.name.as_str())
        .collect();
    cc_domain::NotificationEvent::new(
        cc_domain::EventKind::DeviceNoncompliant,
        format!("device {}", d.id),
        format!(
            "Device {} ({}) is now noncompliant: it fails {} {}",
            d.name.as_deref().unwrap_or("without a name"),
            d.serial_number,
            if failing.len() == 1 {
                "policy"
            } else {
                "policies"
            },
            failing.join(", ")
        ),
    )
    .with_link(format!("/devices/{}", d.id))
}

impl Directory {
    async fn enabled_policies(&self) -> Result<Vec<Policy>> {
        let mut all = Vec::new();
        let mut q = PolicyQuery {
            enabled: Some(true),
            limit: cc_domain::page::MAX_LIMIT,
            ..PolicyQuery::default()
        };
        loop {
            let page = self.store.list_policies(&q).await?;
            all.extend(page.items);
            match page.next_cursor {
                Some(c) => {
                    q.cursor =
                        Some(cc_domain::Cursor::decode(&c, "id").map_err(ServiceError::Internal)?)
                }
                None => return Ok(all),
            }
        }
    }

    /// Registers a device.
    ///
    /// # Errors
    /// Validation (including an unknown assigned user), a unique conflict, a store failure.
    pub async fn create_device(&self, actor: &Actor, input: NewDevice) -> Result<Device> {
        let mut device = input.into_device(cc_domain::new_id(), cc_domain::now())?;
        let policies = self.enabled_policies().await?;
        device.compliance = evaluate_compliance(&device, &policies);
        let mut tx = self.store.begin().await?;
        tx.insert_device(&device).await?;
        if device.compliance == cc_domain::Compliance::Noncompliant {
            if let Some(job) = self
                .notifications
                .dispatch_job(&noncompliant_event(&device, &policies))
            {
                tx.enqueue(&job).await?;
            }
        }
        tx.append_audit(change_event(
            actor,
            "device.create",
            "device",
            device.id.to_string(),
            None,
            Some(&device),
        ))
        .await?;
        tx.commit().await?;
        Ok(device)
    }

    /// Applies a patch under an optional version precondition, re-evaluating compliance.
    ///
    /// # Errors
    /// Not found, a stale version, validation, a conflict.
    pub async fn update_device(
        &self,
        actor: &Actor,
        id: Uuid,
        mut patch: DevicePatch,
        if_match: Option<i64>,
    ) -> Result<Device> {
        let expected = if_match.or(patch.version.take());
        let policies = self.enabled_policies().await?;
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_device(id)
            .await?
            .ok_or(ServiceError::NotFound("device"))?;
        check_version(expected, current.version)?;
        let mut next = current.patched(patch, cc_domain::now())?;
        next.compliance = evaluate_compliance(&next, &policies);
        if next.compliance != current.compliance && next.version == current.version {
            next.version += 1;
            next.updated_at = cc_domain::now();
        }
        if next == current {
            return Ok(current);
        }
        tx.update_device(&next).await?;
        // Told when it becomes noncompliant, not again while it stays so.
        if next.compliance == cc_domain::Compliance::Noncompliant
            && current.compliance != cc_domain::Compliance::Noncompliant
        {
            if let Some(job) = self
                .notifications
                .dispatch_job(&noncompliant_event(&next, &policies))
            {
                tx.enqueue(&job).await?;
            }
        }
        tx.append_audit(change_event(
            actor,
            "device.update",
            "device",
            id.to_string(),
            Some(&current),
            Some(&next),
        ))
        .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Removes a device.
    ///
    /// # Errors
    /// Not found, a stale version, a store failure.
    pub async fn delete_device(
        &self,
        actor: &Actor,
        id: Uuid,
        if_match: Option<i64>,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_device(id)
            .await?
            .ok_or(ServiceError::NotFound("device"))?;
        check_version(if_match, current.version)?;
        tx.delete_device(id).await?;
        tx.append_audit(change_event(
            actor,
            "device.delete",
            "device",
            id.to_string(),
            Some(&current),
            None,
        ))
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
