//! Which source a write comes from, and reporting the changes ownership refused.

use cc_domain::{Actor, FieldConflict, NewAuditEvent, RecordSource, User, UserSource};
use cc_store::Tx;
use serde_json::json;
use uuid::Uuid;

use crate::Result;

/// What a SCIM client says of a person beyond the directory's own fields.
#[derive(Debug, Clone, PartialEq)]
pub struct ScimIdentity {
    /// `userName` as sent.
    pub user_name: String,
    /// What it wrote that the directory has no column for, keyed as on the wire (`userType`,
    /// `emails`, the enterprise extension under its schema URI), as a JSON object.
    pub attributes: serde_json::Value,
}

/// Where a write comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    pub source: RecordSource,
    pub scim: Option<ScimIdentity>,
}

impl Origin {
    /// An operator or automation through the API or the console.
    #[must_use]
    pub fn api() -> Self {
        Self {
            source: RecordSource::Api,
            scim: None,
        }
    }

    /// A SCIM client.
    #[must_use]
    pub fn scim(identity: ScimIdentity) -> Self {
        Self {
            source: RecordSource::Scim,
            scim: Some(identity),
        }
    }

    /// The source record after this write: a record keeps the source that created it.
    pub(crate) fn record(&self, user_id: Uuid, stored: Option<&UserSource>) -> UserSource {
        let mut record = stored.cloned().unwrap_or_else(|| UserSource {
            user_id,
            source: self.source,
            scim_user_name: None,
            scim_attributes: json!({}),
            updated_at: cc_domain::now(),
        });
        if let Some(scim) = &self.scim {
            if record.scim_user_name.as_deref() != Some(scim.user_name.as_str())
                || record.scim_attributes != scim.attributes
            {
                record.scim_user_name = Some(scim.user_name.clone());
                record.scim_attributes = scim.attributes.clone();
                record.updated_at = cc_domain::now();
            }
        }
        record
    }
}

/// An update from a source: the person after it, the job it enqueued, and the changes that
/// were not applied because another source owns the field.
#[derive(Debug, Clone)]
pub struct SourcedUpdate {
    pub user: User,
    pub job_id: Option<i64>,
    pub conflicts: Vec<FieldConflict>,
}

/// Audits and logs changes ownership refused (the field names and sources only: never the
/// values, which the owner's own write records).
pub(crate) async fn report_conflicts(
    tx: &mut dyn Tx,
    actor: &Actor,
    user_id: Uuid,
    conflicts: &[FieldConflict],
) -> Result<()> {
    for c in conflicts {
        tracing::warn!(
            user_id = %user_id, field = %c.field, owner = %c.owner, attempted_by = %c.attempted_by,
            actor = %actor.name, "change to a field another source owns was not applied"
        );
    }
    tx.append_audit(NewAuditEvent {
        actor: actor.name.clone(),
        action: "user.source_conflict".into(),
        target_type: "user".into(),
        target_id: Some(user_id.to_string()),
        request_id: actor.request_id.clone(),
        before: None,
        after: Some(json!({ "conflicts": conflicts })),
    })
    .await?;
    Ok(())
}
