//! Roster import runs and the lifecycle work an import asks for.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an import run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// The file is being read and the plan computed (in the background).
    Planning,
    /// The plan is ready; nothing has been written.
    Planned,
    /// A guard refused the plan; nothing has been written.
    Refused,
    Applying,
    Applied,
    /// Reading, planning or applying failed; nothing has been written.
    Failed,
}

impl ImportStatus {
    pub const ALL: [ImportStatus; 6] = [
        ImportStatus::Planning,
        ImportStatus::Planned,
        ImportStatus::Refused,
        ImportStatus::Applying,
        ImportStatus::Applied,
        ImportStatus::Failed,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Planning => "planning",
            ImportStatus::Planned => "planned",
            ImportStatus::Refused => "refused",
            ImportStatus::Applying => "applying",
            ImportStatus::Applied => "applied",
            ImportStatus::Failed => "failed",
        }
    }

    /// Whether the run will not change any more.
    #[must_use]
    pub fn is_final(self) -> bool {
        matches!(self, ImportStatus::Applied | ImportStatus::Failed)
    }
}

impl std::str::FromStr for ImportStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImportStatus::ALL
            .into_iter()
            .find(|x| x.as_str() == s)
            .ok_or_else(|| format!("unknown import status `{s}`"))
    }
}

/// One import of a roster file: who uploaded what, the plan, and what became of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f70", "actor": "operator:admin", "request_id": null,
    "file_name": "oneroster-2026-11-02.zip", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "size_bytes": 48213, "format": "oneroster-1.2", "status": "planned", "dry_run": true,
    "options": {"allow_mass_suspend": false}, "counts": {"rows": 1200, "created": 12, "moved": 40, "suspended": 3},
    "refusals": [], "error_count": 0, "errors": [], "plan": {"changes": []}, "fingerprint": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
    "failure": null, "progress": null,
    "created_at": "2026-11-02T08:00:00Z", "planned_at": "2026-11-02T08:00:03Z", "applied_at": null, "updated_at": "2026-11-02T08:00:03Z"}))]
pub struct ImportRun {
    pub id: Uuid,
    /// Who started the run (`operator:<name>`, `token:<name>`, `system:cli`).
    pub actor: String,
    pub request_id: Option<String>,
    pub file_name: String,
    /// SHA-256 (hex) of the uploaded file.
    pub sha256: String,
    pub size_bytes: i64,
    /// The detected format (`csv`, `oneroster-1.1`, `oneroster-1.2`, `sds`).
    pub format: Option<String>,
    pub status: ImportStatus,
    pub dry_run: bool,
    /// Format choice, matching and guard overrides the run was started with.
    #[schema(value_type = Object)]
    pub options: Value,
    /// Plan counts: rows, created, updated, moved, suspended, reactivated, unchanged, blocked,
    /// skipped, errors, groups_created, memberships_added, memberships_removed, lifecycle_jobs.
    #[schema(value_type = Object)]
    pub counts: Value,
    /// Why the plan was refused, each with the flag that overrides it.
    #[schema(value_type = Vec<Object>)]
    pub refusals: Value,
    pub error_count: i64,
    /// The first row errors (all of them at `errors.csv`).
    #[schema(value_type = Vec<Object>)]
    #[serde(default)]
    pub errors: Value,
    /// The plan: counts, groups to create and the first changes, field by field.
    #[schema(value_type = Option<Object>)]
    pub plan: Option<Value>,
    /// A digest of the plan; apply re-plans and refuses when it differs.
    pub fingerprint: Option<String>,
    /// Why the run failed (a summary; details are in the server log).
    pub failure: Option<String>,
    /// Live progress while planning or applying (this server only).
    #[schema(value_type = Option<Object>)]
    #[serde(default)]
    pub progress: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub planned_at: Option<DateTime<Utc>>,
    pub applied_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

pub use crate::lifecycle::{LifecycleIntent, LifecycleOperation};
