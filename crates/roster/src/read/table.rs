//! Streaming CSV tables: header lookup, line numbers, limits and truncation detection.

use std::collections::HashMap;
use std::io::Read;

use csv::StringRecord;

use super::bounded::{Bounded, Stop};
use crate::model::{FileIssue, IssueKind, Limits, RosterError, RowError, RowErrors};

/// What to do about a file that is not UTF-8 (a spreadsheet's default "CSV" is often cp1252).
pub(crate) const UTF8_HINT: &str =
    "save the file as UTF-8 (in Excel: Save As → \"CSV UTF-8\"; in LibreOffice: character set \"Unicode (UTF-8)\")";

/// One row of a table.
pub(crate) struct Row<'r> {
    pub line: u64,
    rec: &'r StringRecord,
}

impl Row<'_> {
    /// The trimmed value of a column; empty when the column is absent.
    pub fn get(&self, col: Option<usize>) -> &str {
        col.and_then(|i| self.rec.get(i)).map_or("", str::trim)
    }
}

/// A CSV file being read row by row.
pub(crate) struct Table<'a> {
    pub name: String,
    reader: csv::Reader<Bounded<Box<dyn Read + 'a>>>,
    cols: HashMap<String, usize>,
    headers: StringRecord,
    width: usize,
    limits: Limits,
}

impl<'a> Table<'a> {
    pub fn open(name: &str, read: Box<dyn Read + 'a>, limits: Limits) -> Result<Self, RosterError> {
        let tracker = Bounded::new(read, limits.max_file_bytes, limits.max_row_bytes);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .buffer_capacity(256 * 1024)
            .from_reader(tracker);
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(fatal(name, &reader, &e, limits)),
        };
        if headers
            .iter()
            .all(|h| h.trim().trim_start_matches('\u{feff}').is_empty())
        {
            return Err(RosterError::EmptyFile {
                file: name.to_owned(),
            });
        }
        if headers.as_slice().contains('\0') {
            return Err(RosterError::NotCsv {
                file: name.to_owned(),
            });
        }
        let mut cols = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            let col = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
            if col.is_empty() {
                continue;
            }
            if cols.insert(col, i).is_some() {
                return Err(RosterError::DuplicateColumn {
                    file: name.to_owned(),
                    column: h.trim().trim_start_matches('\u{feff}').to_owned(),
                });
            }
        }
        Ok(Self {
            name: name.to_owned(),
            width: headers.len(),
            reader,
            cols,
            headers,
            limits,
        })
    }

    /// The index of a column (case-insensitive).
    pub fn col(&self, name: &str) -> Option<usize> {
        self.cols.get(&name.to_ascii_lowercase()).copied()
    }

    pub fn has(&self, name: &str) -> bool {
        self.col(name).is_some()
    }

    /// Fails unless every named column is in the header.
    pub fn require(&self, columns: &[&str]) -> Result<(), RosterError> {
        let missing: Vec<String> = columns
            .iter()
            .filter(|c| !self.has(c))
            .map(|c| (*c).to_owned())
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(RosterError::MissingColumns {
                file: self.name.clone(),
                columns: missing,
            })
        }
    }

    /// Calls `f` for every well-formed row. Rows with the wrong number of fields or invalid
    /// UTF-8 become row errors; a truncated end becomes a [`FileIssue`].
    pub fn for_each(
        &mut self,
        errors: &mut RowErrors,
        issues: &mut Vec<FileIssue>,
        mut f: impl FnMut(Row<'_>, &mut RowErrors),
    ) -> Result<u64, RosterError> {
        let mut rec = StringRecord::new();
        let mut rows = 0u64;
        let mut last_short = false;
        loop {
            match self.reader.read_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    if let csv::ErrorKind::Utf8 { pos, err } = e.kind() {
                        rows += 1;
                        errors.push(RowError {
                            file: self.name.clone(),
                            line: pos.as_ref().map_or(0, csv::Position::line),
                            field: self
                                .headers
                                .get(err.field())
                                .map_or_else(|| "row".to_owned(), |h| h.trim().to_owned()),
                            message: format!(
                                "is not valid UTF-8 (byte {} of the value): {UTF8_HINT}",
                                err.valid_up_to() + 1
                            ),
                        });
                        continue;
                    }
                    return Err(fatal(&self.name, &self.reader, &e, self.limits));
                }
            }
            rows += 1;
            let line = rec.position().map_or(rows + 1, csv::Position::line);
            if rows > self.limits.max_rows {
                return Err(RosterError::TooManyRows {
                    file: self.name.clone(),
                    limit: self.limits.max_rows,
                });
            }
            if rec.as_slice().len() > self.limits.max_row_bytes {
                return Err(RosterError::RowTooLong {
                    file: self.name.clone(),
                    line,
                    limit: self.limits.max_row_bytes,
                });
            }
            last_short = rec.len() < self.width;
            if rec.len() != self.width {
                errors.push(RowError {
                    file: self.name.clone(),
                    line,
                    field: "row".into(),
                    message: format!("has {} fields, the header has {}", rec.len(), self.width),
                });
                continue;
            }
            f(Row { line, rec: &rec }, errors);
        }
        let t = self.reader.get_ref();
        let unterminated = t.in_quotes;
        let partial = last_short && t.last.is_some_and(|b| b != b'\n' && b != b'\r');
        if unterminated || partial {
            issues.push(FileIssue {
                kind: IssueKind::Truncated,
                file: self.name.clone(),
                detail: if unterminated {
                    "a quoted field is never closed: the file ends inside it".into()
                } else {
                    "the last line is incomplete and has no line end".into()
                },
            });
        }
        Ok(rows)
    }
}

fn fatal<R: Read>(
    name: &str,
    reader: &csv::Reader<Bounded<R>>,
    e: &csv::Error,
    limits: Limits,
) -> RosterError {
    let file = name.to_owned();
    match reader.get_ref().stop {
        Some(Stop::FileTooLarge) => {
            return RosterError::FileTooLarge {
                file,
                limit: limits.max_file_bytes,
            }
        }
        Some(Stop::RowTooLong { line }) => {
            return RosterError::RowTooLong {
                file,
                line,
                limit: limits.max_row_bytes,
            }
        }
        None => {}
    }
    match e.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => RosterError::NotUtf8 {
            file,
            line: pos.as_ref().map_or(1, csv::Position::line),
        },
        csv::ErrorKind::Io(io) => match crate::zip_guard::ratio_exceeded(io) {
            Some(r) => RosterError::CompressionRatio {
                file: r.file.clone(),
                ratio: crate::zip_guard::MAX_RATIO,
            },
            None => RosterError::Io {
                file,
                detail: io.to_string(),
            },
        },
        _ => RosterError::Io {
            file,
            detail: "the file is not a readable CSV file".into(),
        },
    }
}
