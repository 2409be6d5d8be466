//! Streaming CSV tables: header lookup, line numbers, limits and truncation detection.

use std::collections::HashMap;
use std::io::Read;

use csv::StringRecord;

use crate::model::{FileIssue, IssueKind, Limits, RosterError, RowError};

/// Counts bytes, enforces the size limit and follows RFC 4180 quoting, so that a file ending
/// inside a quoted field (an unterminated quote) is recognized as truncated.
struct Tracker<R> {
    inner: R,
    bytes: u64,
    limit: u64,
    over: bool,
    in_quotes: bool,
    field_start: bool,
    just_closed: bool,
    last: Option<u8>,
}

impl<R: Read> Read for Tracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.limit {
            self.over = true;
            return Err(std::io::Error::other("file size limit exceeded"));
        }
        for &b in &buf[..n] {
            if self.in_quotes {
                if b == b'"' {
                    self.in_quotes = false;
                    self.just_closed = true;
                }
                continue;
            }
            if b == b'"' && (self.field_start || self.just_closed) {
                self.in_quotes = true;
            }
            self.just_closed = false;
            self.field_start = matches!(b, b',' | b'\n' | b'\r');
        }
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

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
    reader: csv::Reader<Tracker<Box<dyn Read + 'a>>>,
    cols: HashMap<String, usize>,
    width: usize,
    limits: Limits,
}

impl<'a> Table<'a> {
    pub fn open(name: &str, read: Box<dyn Read + 'a>, limits: Limits) -> Result<Self, RosterError> {
        let tracker = Tracker {
            inner: read,
            bytes: 0,
            limit: limits.max_file_bytes,
            over: false,
            in_quotes: false,
            field_start: true,
            just_closed: false,
            last: None,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .has_headers(true)
            .buffer_capacity(256 * 1024)
            .from_reader(tracker);
        let headers = match reader.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(fatal(name, &reader, &e, limits)),
        };
        let cols = headers
            .iter()
            .enumerate()
            .map(|(i, h)| {
                (
                    h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase(),
                    i,
                )
            })
            .collect();
        Ok(Self {
            name: name.to_owned(),
            width: headers.len(),
            reader,
            cols,
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
        errors: &mut Vec<RowError>,
        issues: &mut Vec<FileIssue>,
        mut f: impl FnMut(Row<'_>, &mut Vec<RowError>),
    ) -> Result<u64, RosterError> {
        let mut rec = StringRecord::new();
        let mut rows = 0u64;
        let mut last_short = false;
        loop {
            match self.reader.read_record(&mut rec) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    if let csv::ErrorKind::Utf8 { pos, .. } = e.kind() {
                        rows += 1;
                        errors.push(RowError {
                            file: self.name.clone(),
                            line: pos.as_ref().map_or(0, csv::Position::line),
                            field: "row".into(),
                            message: "is not valid UTF-8".into(),
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
    reader: &csv::Reader<Tracker<R>>,
    e: &csv::Error,
    limits: Limits,
) -> RosterError {
    if reader.get_ref().over {
        return RosterError::FileTooLarge {
            file: name.to_owned(),
            limit: limits.max_file_bytes,
        };
    }
    RosterError::Io {
        file: name.to_owned(),
        detail: e.to_string(),
    }
}
