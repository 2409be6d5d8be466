//! Reading an export into a [`Roster`]: format detection and the per-format readers.

mod bounded;
mod oneroster;
mod own;
mod people;
mod sds;
mod table;

use crate::model::{Format, FormatChoice, Limits, Roster, RosterError};
use crate::source::{SourceFiles, SINGLE};
use table::Table;

pub(crate) use own::HEADER as OWN_HEADER;
pub(crate) use table::UTF8_HINT;

/// What every reader gets: the roster being filled, the limits, and a progress callback
/// called once per data row.
pub(crate) struct Ctx<'a> {
    pub roster: &'a mut Roster,
    pub limits: Limits,
    pub progress: &'a mut dyn FnMut(u64),
}

/// Reads an export. Row problems are collected in [`Roster::errors`]; only problems with the
/// export as a whole (unknown format, missing columns, limits) fail.
///
/// # Errors
/// The export cannot be recognized or read, or breaks a limit.
pub fn read_roster(
    files: &mut dyn SourceFiles,
    choice: FormatChoice,
    limits: Limits,
    progress: &mut dyn FnMut(u64),
) -> Result<Roster, RosterError> {
    let format = detect(files, choice)?;
    let mut roster = Roster {
        format: Some(format),
        ..Roster::default()
    };
    let mut ctx = Ctx {
        roster: &mut roster,
        limits,
        progress,
    };
    match format {
        Format::Csv => {
            let read = files
                .open(SINGLE)?
                .ok_or_else(|| RosterError::Unrecognized("no CSV file found".into()))?;
            own::read(Table::open("roster.csv", read, limits)?, &mut ctx)?;
        }
        Format::OneRoster11 | Format::OneRoster12 => oneroster::read(files, format, &mut ctx)?,
        Format::Sds => sds::read(files, &mut ctx)?,
    }
    Ok(roster)
}

fn detect(files: &mut dyn SourceFiles, choice: FormatChoice) -> Result<Format, RosterError> {
    let names = files.names();
    let has = |n: &str| names.iter().any(|x| x == n);
    if files.is_single_file() {
        return match choice {
            FormatChoice::Auto | FormatChoice::Csv => Ok(Format::Csv),
            FormatChoice::OneRoster => Err(RosterError::Unrecognized(
                "a OneRoster export is a folder or zip with manifest.csv, users.csv and orgs.csv, not a single file".into(),
            )),
            FormatChoice::Sds => Err(RosterError::Unrecognized(
                "a School Data Sync export is a folder or zip with users.csv, orgs.csv and roles.csv, not a single file".into(),
            )),
        };
    }
    let oneroster = has("manifest.csv");
    let sds = !oneroster && has("users.csv") && has("orgs.csv") && has("roles.csv");
    match choice {
        FormatChoice::Auto | FormatChoice::OneRoster if oneroster => {
            Ok(oneroster::version(files)?)
        }
        FormatChoice::Auto | FormatChoice::Sds if sds => Ok(Format::Sds),
        FormatChoice::OneRoster => Err(RosterError::Unrecognized(
            "no manifest.csv: a OneRoster export must include its manifest".into(),
        )),
        FormatChoice::Sds => Err(RosterError::Unrecognized(
            "a School Data Sync export needs users.csv, orgs.csv and roles.csv".into(),
        )),
        FormatChoice::Csv => Err(RosterError::Unrecognized(
            "the csv format is a single file, not a folder or archive".into(),
        )),
        FormatChoice::Auto => Err(RosterError::Unrecognized(format!(
            "cannot tell the format: expected manifest.csv (OneRoster) or users.csv, orgs.csv and roles.csv (School Data Sync); found {}",
            if names.is_empty() { "no files".to_owned() } else { names.join(", ") }
        ))),
    }
}
