//! Roster import: turns a student information system export into a previewable plan of
//! directory changes.
//!
//! The pipeline has three pure steps, none of which touches the database:
//!
//! 1. [`read_roster`] streams the export (the project's own CSV, OneRoster 1.1/1.2 CSV, or
//!    Microsoft School Data Sync v2.1 CSV; a folder, a zip or a single file) into a [`Roster`]:
//!    validated people, schools, classes, and line-numbered, field-named [`RowError`]s.
//! 2. [`plan`] compares the roster with a snapshot of the directory ([`DirectoryView`]) and
//!    yields a [`Plan`]: creates, field-by-field updates, moves, suspensions, reactivations,
//!    blocked changes and counts, plus the lifecycle jobs the changes imply.
//! 3. [`guards::check`] refuses plans that look like a disaster (an empty or truncated file, a
//!    missing file, a file far smaller than the directory, a mass suspension) unless the
//!    operator explicitly allows them.
//!
//! Writing the plan is the service layer's job (`cc-service`), in one transaction.

pub mod generate;
pub mod guards;
mod model;
mod names;
pub mod plan;
mod read;
pub mod render;
mod source;
mod zip_guard;

pub use guards::{GuardSettings, Overrides, Refusal};
pub use model::{
    ClassInfo, DesiredStatus, FileIssue, FileMode, Format, FormatChoice, IssueKind,
    LifecycleIntent, LifecycleOperation, Limits, Roster, RosterError, RosterPerson, RowError,
    RowErrors, SchoolInfo, SchoolRef, KEPT_ROW_ERRORS,
};
pub use names::{parse_grade, slug};
pub use plan::{plan, ChangeKind, DirectoryView, ExistingGroup, Plan, PlanCounts, PlanOptions};
pub use read::read_roster;
pub use source::{open_source, Input, SourceFiles};
