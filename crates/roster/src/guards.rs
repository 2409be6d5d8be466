//! Safety guards: plans that look like a broken export are refused unless the operator
//! explicitly allows them, and the refusal says why and which override allows it. The
//! override is named as in [`Overrides`] (`allow_shrink`); each front end words it its own
//! way (the CLI as `--allow-shrink`, the API as the `allow_shrink=true` parameter).
//!
//! | code | refused when | override |
//! |---|---|---|
//! | `empty_file` | a bulk people file has no data rows | `allow_empty` |
//! | `truncated` | a file ends inside a quoted field, or its last line is incomplete | `allow_truncated` |
//! | `missing_file` | the manifest declares a file the export lacks | `allow_missing_files` |
//! | `shrunk` | a bulk people file has fewer rows than `min_row_percent` % of the SIS-managed active people | `allow_shrink` |
//! | `mass_suspend` | the plan suspends more than `max_suspend_percent` % of the active people, or more than `max_suspend_count` | `allow_mass_suspend` |
//! | `row_errors` | strict mode and at least one row error | (fix the file, or import without strict mode) |

use serde::{Deserialize, Serialize};

use crate::model::{FileMode, IssueKind, Roster};
use crate::plan::{DirectoryView, Plan};

/// Thresholds (the `[import]` configuration).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GuardSettings {
    /// Refuse plans suspending more than this share of active people (percent).
    pub max_suspend_percent: f64,
    /// Refuse plans suspending more than this many people.
    pub max_suspend_count: u64,
    /// Refuse bulk files with fewer rows than this share of the SIS-managed active people (percent).
    pub min_row_percent: f64,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            max_suspend_percent: 5.0,
            max_suspend_count: 1000,
            min_row_percent: 50.0,
        }
    }
}

/// What the operator explicitly allows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Overrides {
    pub allow_mass_suspend: bool,
    pub allow_shrink: bool,
    pub allow_truncated: bool,
    pub allow_missing_files: bool,
    pub allow_empty: bool,
    /// Refuse the whole file when any row has an error.
    pub strict: bool,
}

/// Why a plan is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub code: String,
    pub message: String,
    /// The override that allows what was refused, named as in [`Overrides`]
    /// (`allow_shrink`), if any.
    #[serde(rename = "override")]
    pub overridden_by: Option<String>,
}

fn refusal(code: &str, message: String, allow: Option<&str>) -> Refusal {
    Refusal {
        code: code.to_owned(),
        message,
        overridden_by: allow.map(str::to_owned),
    }
}

/// Checks a plan; an empty list means it may be applied.
#[must_use]
pub fn check(
    roster: &Roster,
    plan: &Plan,
    dir: &DirectoryView,
    settings: &GuardSettings,
    allow: &Overrides,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    for issue in &roster.issues {
        match issue.kind {
            IssueKind::Truncated if !allow.allow_truncated => out.push(refusal(
                "truncated",
                format!(
                    "{} looks truncated: {}. Nothing was changed.",
                    issue.file, issue.detail
                ),
                Some("allow_truncated"),
            )),
            IssueKind::MissingFile if !allow.allow_missing_files => out.push(refusal(
                "missing_file",
                format!("{}. Nothing was changed.", issue.detail),
                Some("allow_missing_files"),
            )),
            _ => {}
        }
    }
    let bulk = roster.users_mode == FileMode::Bulk;
    if bulk && roster.user_rows == 0 && !allow.allow_empty {
        out.push(refusal(
            "empty_file",
            "the people file has no rows; as a complete (bulk) list it would suspend everyone the SIS manages".into(),
            Some("allow_empty"),
        ));
    }
    let population = dir.sis_managed_active();
    if bulk && roster.user_rows > 0 && !allow.allow_shrink {
        #[allow(clippy::cast_precision_loss)]
        let floor = population as f64 * settings.min_row_percent / 100.0;
        #[allow(clippy::cast_precision_loss)]
        if (roster.user_rows as f64) < floor {
            out.push(refusal(
                "shrunk",
                format!(
                    "the file has {} rows but the directory has {population} active SIS-managed people: fewer than {}% of them (import.min_row_percent); the file may be cut short",
                    roster.user_rows, settings.min_row_percent
                ),
                Some("allow_shrink"),
            ));
        }
    }
    let suspended = plan.counts.suspended;
    let active = dir.active();
    #[allow(clippy::cast_precision_loss)]
    let share = if active == 0 {
        0.0
    } else {
        suspended as f64 * 100.0 / active as f64
    };
    if suspended > 0
        && !allow.allow_mass_suspend
        && (share > settings.max_suspend_percent || suspended > settings.max_suspend_count)
    {
        out.push(refusal(
            "mass_suspend",
            format!(
                "the plan suspends {suspended} of {active} active people ({share:.1}%), more than the limit of {}% or {} people (import.max_suspend_percent, import.max_suspend_count)",
                settings.max_suspend_percent, settings.max_suspend_count
            ),
            Some("allow_mass_suspend"),
        ));
    }
    if allow.strict && plan.counts.errors > 0 {
        out.push(refusal(
            "row_errors",
            format!(
                "{} rows have errors and strict mode rejects the whole file; fix them (see the row errors), or import without strict mode to skip them",
                plan.counts.errors
            ),
            None,
        ));
    }
    out
}
