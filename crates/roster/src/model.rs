//! What an export says, once read: people, schools, classes, and what was wrong with it.

pub use cc_domain::{LifecycleIntent, LifecycleOperation};
use cc_domain::{Role, UserStatus};
use serde::{Deserialize, Serialize};

/// The export formats the importer reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Format {
    /// The project's own CSV (`external_id,username,given_name,…`).
    #[serde(rename = "csv")]
    Csv,
    #[serde(rename = "oneroster-1.1")]
    OneRoster11,
    #[serde(rename = "oneroster-1.2")]
    OneRoster12,
    /// Microsoft School Data Sync v2.1 CSV.
    #[serde(rename = "sds")]
    Sds,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Csv,
        Format::OneRoster11,
        Format::OneRoster12,
        Format::Sds,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::OneRoster11 => "oneroster-1.1",
            Format::OneRoster12 => "oneroster-1.2",
            Format::Sds => "sds",
        }
    }
}

/// What the operator asked for: a format, or detection from file names and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatChoice {
    #[default]
    Auto,
    Csv,
    #[serde(rename = "oneroster")]
    OneRoster,
    Sds,
}

impl std::str::FromStr for FormatChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "csv" => Ok(Self::Csv),
            "oneroster" | "oneroster-1.1" | "oneroster-1.2" => Ok(Self::OneRoster),
            "sds" => Ok(Self::Sds),
            _ => Err(format!(
                "unknown format `{s}`: use auto, csv, oneroster or sds"
            )),
        }
    }
}

/// How one file of an export relates to the directory (OneRoster `manifest.csv`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// The complete set: whoever is missing has left.
    #[default]
    Bulk,
    /// Changes only: whoever is missing is unchanged.
    Delta,
    /// Not part of this export.
    Absent,
}

/// What the export says a person's accounts should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredStatus {
    Active,
    /// Present but disabled (`enabledUser=false`, own CSV `status=suspended`).
    Disabled,
    /// `status=tobedeleted` (OneRoster delta): the person has left.
    Deleted,
}

/// Where a person belongs: a school short name, or an org `sourcedId` that the export's
/// `orgs.csv` did not describe (resolved against the directory's school groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchoolRef {
    Name(String),
    Org(String),
}

/// One person of the export, validated and normalized like a directory record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterPerson {
    /// Line of the person's row in the users file.
    pub line: u64,
    pub external_id: String,
    pub username: String,
    pub given_name: String,
    pub family_name: String,
    pub email: Option<String>,
    pub role: Role,
    pub grade: Option<i16>,
    pub school: Option<SchoolRef>,
    /// Classes (indices into [`Roster::classes`]) the person is actively enrolled in.
    pub classes: Vec<u32>,
    pub status: DesiredStatus,
}

/// A school the export describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SchoolInfo {
    /// The short name: the org's `identifier`, or a slug of its name.
    pub name: String,
    pub display_name: String,
    /// The org's `sourcedId`.
    pub external_id: Option<String>,
}

/// A class the export describes; it becomes a `class` group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClassInfo {
    pub name: String,
    pub display_name: String,
    pub school: Option<String>,
    /// The class `sourcedId`.
    pub external_id: Option<String>,
}

/// One problem with one field of one row. Messages never quote personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// The file inside the export, e.g. `users.csv`.
    pub file: String,
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// The column, as named in the file's header.
    pub field: String,
    pub message: String,
}

/// Row errors kept in memory: the first [`KEPT_ROW_ERRORS`] in file order, and an exact
/// count of all of them. A file where every row is wrong thus costs a bounded amount of
/// memory however long it is; reports say how many more there were.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowErrors {
    kept: Vec<RowError>,
    total: u64,
}

/// How many row errors an import keeps (and stores for `errors.csv`); the rest are counted.
pub const KEPT_ROW_ERRORS: usize = 10_000;

impl RowErrors {
    /// Counts an error, keeping it while there is room.
    pub fn push(&mut self, e: RowError) {
        self.total += 1;
        if self.kept.len() < KEPT_ROW_ERRORS {
            self.kept.push(e);
        }
    }

    /// Adds another collection's errors after these (kept while there is room, all counted).
    pub fn append(&mut self, other: RowErrors) {
        let dropped = other.total - other.kept.len() as u64;
        self.extend(other.kept);
        self.total += dropped;
    }

    /// The kept errors, in the order they were found.
    #[must_use]
    pub fn kept(&self) -> &[RowError] {
        &self.kept
    }

    /// The kept errors, in the order they were found.
    pub fn iter(&self) -> std::slice::Iter<'_, RowError> {
        self.kept.iter()
    }

    /// How many errors there were in all.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.total
    }

    /// How many errors were counted but not kept.
    #[must_use]
    pub fn omitted(&self) -> u64 {
        self.total - self.kept.len() as u64
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl Extend<RowError> for RowErrors {
    fn extend<I: IntoIterator<Item = RowError>>(&mut self, iter: I) {
        for e in iter {
            self.push(e);
        }
    }
}

impl<'a> IntoIterator for &'a RowErrors {
    type Item = &'a RowError;
    type IntoIter = std::slice::Iter<'a, RowError>;
    fn into_iter(self) -> Self::IntoIter {
        self.kept.iter()
    }
}

/// A problem with the export as a whole that a guard may refuse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueKind {
    /// The last line is partial or a quoted field never ends.
    Truncated,
    /// The manifest declares a file that is not in the export.
    MissingFile,
}

/// A whole-file problem, e.g. truncation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileIssue {
    pub kind: IssueKind,
    pub file: String,
    pub detail: String,
}

/// Everything read from one export.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub format: Option<Format>,
    /// Bulk exports suspend the SIS-managed people they leave out; delta exports do not.
    pub users_mode: FileMode,
    pub people: Vec<RosterPerson>,
    pub schools: Vec<SchoolInfo>,
    pub classes: Vec<ClassInfo>,
    /// Whether class memberships are managed: `Bulk` replaces them, `Delta` adds and removes
    /// single enrollments, `Absent` leaves them alone.
    pub class_mode: FileMode,
    /// Delta enrollments marked `tobedeleted`: (person external id, class index).
    pub enrollment_removals: Vec<(String, u32)>,
    pub errors: RowErrors,
    /// External ids of rows that had errors: such people are never treated as absent.
    pub errored_ids: Vec<String>,
    /// Rows for people who are not directory people (guardians, parents, relatives…).
    pub skipped_roles: u64,
    /// Data rows in the users file, good or bad.
    pub user_rows: u64,
    pub issues: Vec<FileIssue>,
}

/// Limits that protect the importer from hostile or broken files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest file (each file of an export, uncompressed).
    pub max_file_bytes: u64,
    /// Longest row.
    pub max_row_bytes: usize,
    /// Most data rows in one file.
    pub max_rows: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 1024 * 1024 * 1024,
            max_row_bytes: 64 * 1024,
            max_rows: 2_000_000,
        }
    }
}

/// Why an export cannot be read at all. Nothing is planned from it.
#[derive(Debug, thiserror::Error)]
pub enum RosterError {
    #[error("{file} is larger than the limit of {limit} bytes (import.max_file_bytes)")]
    FileTooLarge { file: String, limit: u64 },
    #[error("{file} line {line}: the row is longer than the limit of {limit} bytes (import.max_row_bytes)")]
    RowTooLong {
        file: String,
        line: u64,
        limit: usize,
    },
    #[error("{file} has more than {limit} rows (import.max_rows)")]
    TooManyRows { file: String, limit: u64 },
    #[error("{file}: missing required columns: {}", columns.join(", "))]
    MissingColumns { file: String, columns: Vec<String> },
    #[error("{file} is empty: it has no header row and no data; export the roster again")]
    EmptyFile { file: String },
    #[error("{file} line {line} is not valid UTF-8 text: {hint}", hint = crate::read::UTF8_HINT)]
    NotUtf8 { file: String, line: u64 },
    #[error("{file} is not a CSV text file (it holds binary data); check that the right file was chosen")]
    NotCsv { file: String },
    #[error(
        "{file}: the column `{column}` appears more than once in the header; remove one of them"
    )]
    DuplicateColumn { file: String, column: String },
    #[error("{archive}: the archive holds `{file}` more than once ({first} and {second}); keep only one")]
    DuplicateEntry {
        archive: String,
        file: String,
        first: String,
        second: String,
    },
    #[error("{file}: `{key}` is set more than once (lines {first} and {second}); keep only one")]
    DuplicateKey {
        file: String,
        key: String,
        first: u64,
        second: u64,
    },
    #[error("{file} expands to more than {ratio} times its compressed size (a zip bomb?); the archive was not read")]
    CompressionRatio { file: String, ratio: u64 },
    #[error("{0}")]
    Unrecognized(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot read {file}: {detail}")]
    Io { file: String, detail: String },
}

impl RosterError {
    /// A stable code for problem responses and exit messages.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            RosterError::FileTooLarge { .. } => "file_too_large",
            RosterError::RowTooLong { .. } => "row_too_long",
            RosterError::TooManyRows { .. } => "too_many_rows",
            RosterError::MissingColumns { .. } => "missing_columns",
            RosterError::EmptyFile { .. } => "file_empty",
            RosterError::NotUtf8 { .. } => "not_utf8",
            RosterError::NotCsv { .. } => "not_csv",
            RosterError::DuplicateColumn { .. } => "duplicate_column",
            RosterError::DuplicateEntry { .. } => "duplicate_entry",
            RosterError::DuplicateKey { .. } => "duplicate_key",
            RosterError::CompressionRatio { .. } => "compression_ratio",
            RosterError::Unrecognized(_) => "unrecognized_format",
            RosterError::Invalid(_) => "invalid_export",
            RosterError::Io { .. } => "unreadable_file",
        }
    }
}

impl DesiredStatus {
    /// The directory status a newly created person starts in.
    #[must_use]
    pub fn initial_status(self) -> UserStatus {
        match self {
            DesiredStatus::Active => UserStatus::Active,
            DesiredStatus::Disabled | DesiredStatus::Deleted => UserStatus::Pending,
        }
    }
}
