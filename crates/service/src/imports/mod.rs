//! Roster imports: read an export, plan it against the directory, guard it, and apply it —
//! every directory change, its audit event and its lifecycle jobs in one transaction.
//!
//! Reading and planning are pure (`cc-roster`); this module adds the store: a snapshot to plan
//! against, bulk writes, and import runs (`import_runs`), each audited without file contents.

mod apply;
mod progress;
mod runs;
mod upload;

use cc_roster::{
    guards, open_source, plan, read_roster, DirectoryView, ExistingGroup, FormatChoice,
    GuardSettings, Input, Limits, Overrides, Plan, PlanOptions, Refusal, Roster, RosterError,
};
use cc_store::{DirectorySnapshot, ImportStore, Store};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use apply::{apply, apply_preview, ApplyOutcome, ApplyRequest, CHUNK, FIRST_LOAD_MIN};
pub use progress::Progress;
pub use runs::{
    fill, new_run, new_run_for_upload, outcome_notice, record_outcome, record_progress,
    record_refusal, row_errors, PROGRESS_STATE, STORED_CHANGES, STORED_ERRORS,
};
pub use upload::{insert_upload, restore_upload, Spool, SpoolError, Upload, CHUNK_BYTES};

use crate::ServiceError;

/// How imports read, match and guard (the `[import]` configuration), and which fields other
/// sources own (`[directory.field_owners]`: an import leaves them as they are).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportSettings {
    pub limits: Limits,
    pub guards: GuardSettings,
    pub plan: PlanOptions,
    #[serde(default)]
    pub owners: cc_domain::FieldOwners,
}

/// What the operator asked for with this import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportOptions {
    pub format: FormatChoice,
    pub overrides: Overrides,
}

/// Why an import did not happen. Nothing was written in any case.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The export cannot be read (format, columns, limits).
    #[error("{0}")]
    Unreadable(#[from] RosterError),
    /// A guard refused the plan.
    #[error("the import was refused: {}", .0.iter().map(|r| r.message.as_str()).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Refusal>),
    /// The directory changed between the preview and the apply.
    #[error("the directory changed since the plan was made; preview the import again")]
    Stale,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<cc_store::StoreError> for ImportError {
    fn from(e: cc_store::StoreError) -> Self {
        ImportError::Service(e.into())
    }
}

/// SHA-256 of a file's bytes, hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Creates `cc_import_rows_total` at 0 for every format and outcome, so a fresh server's
/// dashboards and `increase()` alerts see a series before the first import.
pub fn register_metrics() {
    for f in cc_roster::Format::ALL {
        for outcome in ["valid", "error"] {
            metrics::counter!("cc_import_rows_total", "format" => f.as_str(), "outcome" => outcome)
                .increment(0);
        }
    }
}

/// Reads an export (CPU and file IO: call it off the async runtime for big files).
///
/// # Errors
/// The export cannot be read.
pub fn read(
    input: &Input,
    format: FormatChoice,
    limits: Limits,
    progress: &Progress,
) -> Result<Roster, RosterError> {
    let mut src = open_source(input)?;
    progress.phase("reading");
    let roster = read_roster(src.as_mut(), format, limits, &mut |n| progress.add_rows(n))?;
    let fmt = roster.format.map_or("unknown", |f| f.as_str());
    let errors = roster.errors.total();
    metrics::counter!("cc_import_rows_total", "format" => fmt, "outcome" => "error")
        .increment(errors.min(roster.user_rows));
    metrics::counter!("cc_import_rows_total", "format" => fmt, "outcome" => "valid")
        .increment(roster.user_rows.saturating_sub(errors));
    Ok(roster)
}

/// The import store of a store.
///
/// # Errors
/// The store does not support imports.
pub fn import_store(store: &dyn Store) -> Result<&dyn ImportStore, ServiceError> {
    store
        .imports()
        .ok_or_else(|| ServiceError::Internal("this store does not support roster imports".into()))
}

/// The directory as the planner sees it.
#[must_use]
pub fn view_of(s: DirectorySnapshot) -> DirectoryView {
    DirectoryView {
        users: s.users,
        groups: s
            .groups
            .into_iter()
            .map(|g| ExistingGroup {
                id: g.id,
                name: g.name,
                kind: g.kind,
                external_id: g.external_id,
            })
            .collect(),
    }
}

/// A plan with everything needed to show, check or apply it.
pub struct Preview {
    pub roster: Roster,
    pub view: DirectoryView,
    pub plan: Plan,
    pub refusals: Vec<Refusal>,
    pub fingerprint: String,
}

impl Preview {
    /// The plan as JSON, with at most `limit` changes and errors.
    #[must_use]
    pub fn document(&self, limit: Option<usize>) -> serde_json::Value {
        serde_json::to_value(cc_roster::render::PlanDocument {
            plan: &self.plan,
            roster: &self.roster,
            dir: &self.view,
            refusals: &self.refusals,
            limit,
        })
        .unwrap_or(serde_json::Value::Null)
    }

    /// The row errors kept (reading, then planning): the first
    /// [`cc_roster::KEPT_ROW_ERRORS`] of each; `plan.counts.errors` counts every one.
    pub fn errors(&self) -> impl Iterator<Item = &cc_roster::RowError> {
        self.roster.errors.iter().chain(self.plan.errors.iter())
    }
}

/// Plans a read roster against the current directory. Writes nothing.
///
/// # Errors
/// The store cannot be read.
pub async fn preview(
    store: &dyn Store,
    roster: Roster,
    settings: &ImportSettings,
    overrides: &Overrides,
    progress: &Progress,
) -> Result<Preview, ImportError> {
    progress.phase("loading the directory");
    let view = view_of(import_store(store)?.directory_snapshot().await?);
    progress.phase("planning");
    Ok(plan_with(roster, view, settings, overrides))
}

/// Reads an export, then loads the directory, then plans. Writes nothing.
///
/// One after the other, not at the same time: both are quick now (a million people: about 4 s
/// to read, 3 s to load on SQLite or PostgreSQL), and overlapping them kept both halves'
/// intermediate buffers alive together, lifting the peak memory above 1 GB.
///
/// # Errors
/// The export cannot be read, or the store cannot be.
pub async fn preview_input(
    store: &dyn Store,
    input: Input,
    format: FormatChoice,
    settings: &ImportSettings,
    overrides: &Overrides,
    progress: std::sync::Arc<Progress>,
) -> Result<Preview, ImportError> {
    let imports = import_store(store)?;
    let limits = settings.limits;
    let p = progress.clone();
    let roster = tokio::task::spawn_blocking(move || read(&input, format, limits, &p))
        .await
        .map_err(|e| ServiceError::Internal(format!("reading the export stopped: {e}")))??;
    progress.phase("loading the directory");
    let view = view_of(imports.directory_snapshot().await?);
    progress.phase("planning");
    Ok(plan_with(roster, view, settings, overrides))
}

/// Plans against a given view.
#[must_use]
pub fn plan_with(
    roster: Roster,
    view: DirectoryView,
    settings: &ImportSettings,
    overrides: &Overrides,
) -> Preview {
    let plan = plan(&roster, &view, settings.plan);
    let refusals = guards::check(&roster, &plan, &view, &settings.guards, overrides);
    let fingerprint = plan.fingerprint(&roster, &view);
    Preview {
        roster,
        view,
        plan,
        refusals,
        fingerprint,
    }
}
