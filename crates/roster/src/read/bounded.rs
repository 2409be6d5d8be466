//! The reader under every CSV table: counts bytes against the file limit, follows RFC 4180
//! quoting, and refuses a row longer than the row limit *while* reading it, so one endless
//! line (or `/dev/zero`) never grows a buffer past the limit.

use std::io::Read;

/// Why a [`Bounded`] reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    FileTooLarge,
    /// The row starting on this (1-based, physical) line is longer than the limit.
    RowTooLong {
        line: u64,
    },
}

/// Wraps a file's bytes; see the module documentation.
pub(crate) struct Bounded<R> {
    inner: R,
    bytes: u64,
    file_limit: u64,
    row_limit: usize,
    /// Bytes of the row being read (delimiters and quotes included).
    row_bytes: usize,
    /// Physical line numbers: the current one and the one the current row started on.
    line: u64,
    row_line: u64,
    pub stop: Option<Stop>,
    pub in_quotes: bool,
    field_start: bool,
    just_closed: bool,
    pub last: Option<u8>,
}

impl<R: Read> Bounded<R> {
    pub fn new(inner: R, file_limit: u64, row_limit: usize) -> Self {
        Self {
            inner,
            bytes: 0,
            file_limit,
            row_limit,
            row_bytes: 0,
            line: 1,
            row_line: 1,
            stop: None,
            in_quotes: false,
            field_start: true,
            just_closed: false,
            last: None,
        }
    }

    fn scan(&mut self, b: u8) -> Result<(), Stop> {
        if b == b'\n' {
            self.line += 1;
        }
        if self.in_quotes {
            if b == b'"' {
                self.in_quotes = false;
                self.just_closed = true;
            }
        } else {
            if b == b'"' && (self.field_start || self.just_closed) {
                self.in_quotes = true;
            }
            self.just_closed = false;
            self.field_start = matches!(b, b',' | b'\n' | b'\r');
            if matches!(b, b'\n' | b'\r') {
                self.row_bytes = 0;
                self.row_line = self.line;
                return Ok(());
            }
        }
        self.row_bytes += 1;
        if self.row_bytes > self.row_limit {
            return Err(Stop::RowTooLong {
                line: self.row_line,
            });
        }
        Ok(())
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(stop) = self.stop {
            return Err(std::io::Error::other(format!("{stop:?}")));
        }
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        if self.bytes > self.file_limit {
            self.stop = Some(Stop::FileTooLarge);
            return Err(std::io::Error::other("file size limit exceeded"));
        }
        for &b in &buf[..n] {
            if let Err(stop) = self.scan(b) {
                self.stop = Some(stop);
                return Err(std::io::Error::other("row length limit exceeded"));
            }
        }
        if n > 0 {
            self.last = Some(buf[n - 1]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8], row_limit: usize) -> (Result<usize, std::io::Error>, Option<Stop>) {
        let mut b = Bounded::new(data, 1 << 30, row_limit);
        let mut out = Vec::new();
        let r = b.read_to_end(&mut out);
        (r, b.stop)
    }

    #[test]
    fn stops_at_the_first_long_row_and_names_its_line() {
        let mut data = b"a,b\nshort,row\n".to_vec();
        data.extend(std::iter::repeat_n(b'x', 100));
        let (r, stop) = read_all(&data, 50);
        assert!(r.is_err());
        assert_eq!(stop, Some(Stop::RowTooLong { line: 3 }));
    }

    #[test]
    fn a_quoted_line_break_does_not_end_the_row() {
        let data = b"a,b\n\"one\ntwo\nthree\",x\n";
        assert!(read_all(data, 64).0.is_ok());
        let (_, stop) = read_all(data, 12);
        assert_eq!(stop, Some(Stop::RowTooLong { line: 2 }));
    }

    #[test]
    fn rows_within_the_limit_pass() {
        let data = b"abc\r\ndef\r\nghi";
        assert!(read_all(data, 3).0.is_ok());
    }
}
