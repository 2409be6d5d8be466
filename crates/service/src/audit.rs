//! Building audit events and verifying the chain.

use cc_domain::audit::{ChainBreak, ChainVerifier};
use cc_domain::{Actor, NewAuditEvent, Subscriptions};
use cc_store::Store;
use serde::Serialize;
use serde_json::Value;

use crate::Result;

/// An audit event for a change to `target`, keeping only the fields that changed.
pub(crate) fn change_event<T: Serialize>(
    actor: &Actor,
    action: &str,
    target_type: &str,
    target_id: String,
    before: Option<&T>,
    after: Option<&T>,
) -> NewAuditEvent {
    let to_value = |v: Option<&T>| v.and_then(|x| serde_json::to_value(x).ok());
    let (before, after) = diff(to_value(before), to_value(after));
    NewAuditEvent {
        actor: actor.name.clone(),
        action: action.to_owned(),
        target_type: target_type.to_owned(),
        target_id: Some(target_id),
        request_id: actor.request_id.clone(),
        before,
        after,
    }
}

/// For an update (both sides present), reduces both objects to the keys whose values differ,
/// always keeping `version`. Creates and deletes keep the whole object.
fn diff(before: Option<Value>, after: Option<Value>) -> (Option<Value>, Option<Value>) {
    match (before, after) {
        (Some(Value::Object(b)), Some(Value::Object(a))) => {
            let keys: Vec<String> = a
                .keys()
                .filter(|k| *k != "updated_at" && (b.get(*k) != a.get(*k) || *k == "version"))
                .cloned()
                .collect();
            let pick = |m: &serde_json::Map<String, Value>| {
                Value::Object(
                    keys.iter()
                        .filter_map(|k| m.get(k).map(|v| (k.clone(), v.clone())))
                        .collect(),
                )
            };
            (Some(pick(&b)), Some(pick(&a)))
        }
        other => other,
    }
}

/// The outcome of verifying the audit chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Events checked before the first break (or all of them).
    pub checked: u64,
    pub head_seq: i64,
    /// The first break, when the chain is not intact.
    pub first_break: Option<ChainBreak>,
}

/// Walks the chain in batches, up to the head read at the start, and reports the first
/// tampered, missing or relinked event.
///
/// Events appended while verification runs lie beyond that head and are left for the next
/// run; counting them would report a chain that grew as one that was truncated.
///
/// # Errors
/// The store could not be read.
pub async fn verify_chain(store: &dyn Store) -> Result<VerifyReport> {
    verify_chain_notifying(store, &Subscriptions::default()).await
}

/// [`verify_chain`], and a break found is an `audit.verification_failed` notification when
/// one of `notify`'s channels subscribes to it.
///
/// # Errors
/// The store could not be read.
pub async fn verify_chain_notifying(
    store: &dyn Store,
    notify: &Subscriptions,
) -> Result<VerifyReport> {
    const BATCH: u32 = 5_000;
    let (head_seq, head_hash) = store.audit_head().await?;
    let mut verifier = ChainVerifier::default();
    let mut after = 0;
    while after < head_seq {
        let events = store.audit_after(after, BATCH).await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        for e in events.iter().take_while(|e| e.seq <= head_seq) {
            if let Err(b) = verifier.push(e) {
                notify_break(store, notify, &b).await;
                return Ok(VerifyReport {
                    checked: verifier.checked(),
                    head_seq,
                    first_break: Some(b),
                });
            }
        }
    }
    let first_break = verifier.finish(head_seq, &head_hash).err();
    if let Some(b) = &first_break {
        notify_break(store, notify, b).await;
    }
    Ok(VerifyReport {
        checked: verifier.checked(),
        head_seq,
        first_break,
    })
}

/// Queues the `audit.verification_failed` notification for a broken chain (the same break
/// is told once per dedupe window however often it is verified). A failure to queue is
/// logged: the report still reaches whoever asked.
async fn notify_break(store: &dyn Store, notify: &Subscriptions, b: &ChainBreak) {
    let event = cc_domain::NotificationEvent::new(
        cc_domain::EventKind::AuditVerificationFailed,
        format!("audit chain at event {}", b.seq),
        format!("The audit chain is broken at event {} ({})", b.seq, b.kind),
    )
    .with_error(b.detail.clone())
    .with_link("/audit");
    let Some(job) = notify.dispatch_job(&event) else {
        return;
    };
    let queued = async {
        let mut tx = store.begin().await?;
        tx.enqueue(&job).await?;
        tx.commit().await
    }
    .await;
    if let Err(e) = queued {
        tracing::warn!(error = %e, "could not queue the audit verification notification");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn diff_keeps_changed_fields_and_version() {
        let (b, a) = super::diff(
            Some(json!({"grade": 10, "school": "x", "version": 1, "updated_at": "t1"})),
            Some(json!({"grade": 11, "school": "x", "version": 2, "updated_at": "t2"})),
        );
        assert_eq!(b.unwrap(), json!({"grade": 10, "version": 1}));
        assert_eq!(a.unwrap(), json!({"grade": 11, "version": 2}));
    }
}
