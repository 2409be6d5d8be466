//! Import runs: the record of who imported which file and what became of it, each outcome
//! audited (file name, hash, counts — never the file's contents).

use cc_domain::{Actor, ImportRun, ImportStatus, NewAuditEvent, NewNotice, NoticeTopic};
use cc_store::Store;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{import_store, ImportOptions, Preview};
use crate::Result;

/// How many changes a run's stored plan keeps (the counts always cover all of them).
pub const STORED_CHANGES: usize = 1000;
/// How many row errors a run stores (all an import keeps; `error_count` counts every one).
pub const STORED_ERRORS: usize = cc_roster::KEPT_ROW_ERRORS;

/// A new run in `planning`.
#[must_use]
pub fn new_run(
    actor: &Actor,
    file_name: &str,
    content: &[u8],
    dry_run: bool,
    options: &ImportOptions,
) -> ImportRun {
    let mut run = new_upload_run(actor, file_name, dry_run, options);
    run.sha256 = super::sha256_hex(content);
    run.size_bytes = i64::try_from(content.len()).unwrap_or(i64::MAX);
    run
}

/// A new run in `planning` for a spooled upload.
#[must_use]
pub fn new_run_for_upload(
    actor: &Actor,
    upload: &super::Upload,
    dry_run: bool,
    options: &ImportOptions,
) -> ImportRun {
    let mut run = new_upload_run(actor, &upload.name, dry_run, options);
    run.sha256.clone_from(&upload.sha256);
    run.size_bytes = i64::try_from(upload.size).unwrap_or(i64::MAX);
    run
}

fn new_upload_run(
    actor: &Actor,
    file_name: &str,
    dry_run: bool,
    options: &ImportOptions,
) -> ImportRun {
    let now = cc_domain::now();
    ImportRun {
        id: cc_domain::new_id(),
        actor: actor.name.clone(),
        request_id: actor.request_id.clone(),
        file_name: file_name
            .chars()
            .filter(|c| !c.is_control() && !cc_domain::validation::is_bidi_control(*c))
            .take(cc_domain::validation::MAX_FILE_NAME)
            .collect(),
        sha256: String::new(),
        size_bytes: 0,
        format: None,
        status: ImportStatus::Planning,
        dry_run,
        options: serde_json::to_value(options).unwrap_or(Value::Null),
        counts: json!({}),
        refusals: json!([]),
        error_count: 0,
        errors: json!([]),
        plan: None,
        fingerprint: None,
        failure: None,
        progress: None,
        created_at: now,
        planned_at: None,
        applied_at: None,
        updated_at: now,
    }
}

/// Copies a preview's results into its run: planned, or refused.
pub fn fill(run: &mut ImportRun, p: &Preview) {
    let now = cc_domain::now();
    run.format = p.roster.format.map(|f| f.as_str().to_owned());
    run.counts = serde_json::to_value(p.plan.counts).unwrap_or(Value::Null);
    run.refusals = serde_json::to_value(&p.refusals).unwrap_or(Value::Null);
    run.error_count = i64::try_from(p.plan.counts.errors).unwrap_or(i64::MAX);
    run.plan = Some(p.document(Some(STORED_CHANGES)));
    run.fingerprint = Some(p.fingerprint.clone());
    run.status = if p.refusals.is_empty() {
        ImportStatus::Planned
    } else {
        ImportStatus::Refused
    };
    run.planned_at = Some(now);
    run.updated_at = now;
}

/// The row errors of a preview, as stored.
#[must_use]
pub fn row_errors(p: &Preview) -> Value {
    serde_json::to_value(p.errors().take(STORED_ERRORS).collect::<Vec<_>>()).unwrap_or(Value::Null)
}

/// The audit event for a run's outcome.
pub(crate) fn run_event(actor: &Actor, action: &str, run: &ImportRun) -> NewAuditEvent {
    let codes: Vec<Value> = run
        .refusals
        .as_array()
        .map(|a| a.iter().filter_map(|r| r.get("code").cloned()).collect())
        .unwrap_or_default();
    NewAuditEvent {
        actor: actor.name.clone(),
        action: action.to_owned(),
        target_type: "import_run".into(),
        target_id: Some(run.id.to_string()),
        request_id: actor.request_id.clone(),
        before: None,
        after: Some(json!({
            "file_name": run.file_name,
            "sha256": run.sha256,
            "size_bytes": run.size_bytes,
            "format": run.format,
            "status": run.status,
            "dry_run": run.dry_run,
            "counts": run.counts,
            "refusals": codes,
        })),
    }
}

/// The notice the live stream announces for a run's outcome: applied, refused by a guard, or
/// failed (nothing for a plan). Names the file and, for a refusal, the guards' codes; for a
/// failure, its reason (never file contents).
#[must_use]
pub fn outcome_notice(run: &ImportRun) -> Option<NewNotice> {
    let detail = match run.status {
        ImportStatus::Applied => None,
        ImportStatus::Refused => Some(
            run.refusals
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|r| r.get("code").and_then(Value::as_str))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default(),
        ),
        ImportStatus::Failed => run.failure.clone(),
        _ => return None,
    };
    let note = match detail.filter(|d| !d.is_empty()) {
        Some(d) => format!("{}: {d}", run.file_name),
        None => run.file_name.clone(),
    };
    Some(NewNotice {
        topic: NoticeTopic::Import,
        subject: run.id.to_string(),
        state: run.status.as_str().to_owned(),
        note: Some(note),
    })
}

/// The state of an import's progress notices (`event: import` with this state; the note is
/// the progress as JSON: `phase`, `rows_read`, `changes_written`, `changes_total`).
pub const PROGRESS_STATE: &str = "progress";

/// Puts a run's progress on the event stream, in its own transaction (never inside an
/// apply's, which would hold it back until the commit). Callers limit how often.
///
/// # Errors
/// The store fails.
pub async fn record_progress(
    store: &dyn Store,
    run: Uuid,
    progress: &super::Progress,
) -> Result<()> {
    let n = NewNotice {
        topic: NoticeTopic::Import,
        subject: run.to_string(),
        state: PROGRESS_STATE.to_owned(),
        note: Some(progress.to_json().to_string()),
    };
    let mut tx = store.begin().await?;
    tx.append_notice(&n).await?;
    tx.commit().await?;
    Ok(())
}

/// Stores a run's new state with its audit event (`import.plan`, `import.refuse`,
/// `import.fail`) and, for an outcome, its notice on the event stream.
///
/// # Errors
/// The store fails.
pub async fn record_outcome(
    store: &dyn Store,
    actor: &Actor,
    run: &ImportRun,
    row_errors: Option<&Value>,
) -> Result<()> {
    let action = match run.status {
        ImportStatus::Refused => "import.refuse",
        ImportStatus::Failed => "import.fail",
        _ => "import.plan",
    };
    let mut tx = import_store(store)?.begin_import().await?;
    tx.update_import_run(run, row_errors).await?;
    tx.append_audit(run_event(actor, action, run)).await?;
    if let Some(n) = outcome_notice(run) {
        tx.append_notice(&n).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Records a refused run that was never stored before (the CLI), with its audit event.
///
/// # Errors
/// The store fails.
pub async fn record_refusal(
    store: &dyn Store,
    actor: &Actor,
    run: &ImportRun,
    row_errors: &Value,
) -> Result<Uuid> {
    let mut tx = import_store(store)?.begin_import().await?;
    tx.insert_import_run(run, &[], row_errors).await?;
    tx.append_audit(run_event(actor, "import.refuse", run))
        .await?;
    if let Some(n) = outcome_notice(run) {
        tx.append_notice(&n).await?;
    }
    tx.commit().await?;
    Ok(run.id)
}
