//! `COPY … FROM STDIN (FORMAT binary)`: the bulk-write path of roster imports and batch
//! enqueues. Rows are encoded here in PostgreSQL's binary copy format and streamed to the
//! server in pieces of [`SEND_BYTES`], so the server parses and stores one piece while the next
//! is encoded. Nothing is parsed from text on the server but `jsonb`.
//!
//! A `COPY` runs inside the caller's transaction like any statement: when the server rejects a
//! row (a constraint, a type), the statement fails and the transaction with it.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::Result;

/// Bytes encoded before they are handed to the server.
const SEND_BYTES: usize = 256 * 1024;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;

/// The rows of one `COPY`, encoded in the binary format.
pub(crate) struct CopyRows {
    buf: Vec<u8>,
}

impl CopyRows {
    fn new() -> Self {
        let mut buf = Vec::with_capacity(SEND_BYTES + 64 * 1024);
        // Signature, flags (no OIDs), header extension length.
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0_i32.to_be_bytes());
        buf.extend_from_slice(&0_i32.to_be_bytes());
        Self { buf }
    }

    /// Starts a row of `columns` fields; exactly that many field calls must follow.
    pub(crate) fn row(&mut self, columns: i16) -> &mut Self {
        self.buf.extend_from_slice(&columns.to_be_bytes());
        self
    }

    pub(crate) fn null(&mut self) -> &mut Self {
        self.buf.extend_from_slice(&(-1_i32).to_be_bytes());
        self
    }

    fn field(&mut self, bytes: &[u8]) -> &mut Self {
        // Fields are far below 2 GiB: the import limits bound every value.
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(bytes);
        self
    }

    /// `text` (and any type whose binary form is its UTF-8 text).
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        self.field(s.as_bytes())
    }

    pub(crate) fn opt_text(&mut self, s: Option<&str>) -> &mut Self {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    pub(crate) fn uuid(&mut self, u: Uuid) -> &mut Self {
        self.field(u.as_bytes())
    }

    pub(crate) fn opt_uuid(&mut self, u: Option<Uuid>) -> &mut Self {
        match u {
            Some(u) => self.uuid(u),
            None => self.null(),
        }
    }

    pub(crate) fn int2(&mut self, v: i16) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub(crate) fn opt_int2(&mut self, v: Option<i16>) -> &mut Self {
        match v {
            Some(v) => self.int2(v),
            None => self.null(),
        }
    }

    pub(crate) fn int4(&mut self, v: i32) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub(crate) fn int8(&mut self, v: i64) -> &mut Self {
        self.field(&v.to_be_bytes())
    }

    pub(crate) fn opt_int8(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(v) => self.int8(v),
            None => self.null(),
        }
    }

    /// `timestamptz`: microseconds since 2000-01-01 UTC (values are whole microseconds).
    pub(crate) fn timestamptz(&mut self, t: DateTime<Utc>) -> &mut Self {
        self.int8(t.timestamp_micros() - PG_EPOCH_OFFSET_MICROS)
    }

    /// `jsonb` serialised straight into the buffer.
    pub(crate) fn jsonb_value(&mut self, v: &serde_json::Value) -> &mut Self {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0, 0, 0, 0, 1]);
        // Writing to a Vec cannot fail, and a Value always serialises.
        let _ = serde_json::to_writer(&mut self.buf, v);
        let len = i32::try_from(self.buf.len() - at - 4).unwrap_or(i32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        self
    }

    pub(crate) fn opt_jsonb_value(&mut self, v: Option<&serde_json::Value>) -> &mut Self {
        match v {
            Some(v) => self.jsonb_value(v),
            None => self.null(),
        }
    }
}

/// Runs `statement` (a `COPY … FROM STDIN (FORMAT binary)`) with one row per item, written by
/// `encode`; returns the number of rows the server stored.
///
/// # Errors
/// The server rejected the statement or a row; the transaction is then aborted.
pub(crate) async fn copy_in<T>(
    conn: &mut PgConnection,
    statement: &str,
    items: impl IntoIterator<Item = T>,
    mut encode: impl FnMut(&mut CopyRows, T),
) -> Result<u64> {
    let mut copy = conn.copy_in_raw(statement).await?;
    let mut rows = CopyRows::new();
    for item in items {
        encode(&mut rows, item);
        if rows.buf.len() >= SEND_BYTES {
            copy.send(rows.buf.as_slice()).await?;
            rows.buf.clear();
        }
    }
    // The trailer: a field count of -1.
    rows.buf.extend_from_slice(&(-1_i16).to_be_bytes());
    copy.send(rows.buf.as_slice()).await?;
    Ok(copy.finish().await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_fields_in_the_binary_copy_format() {
        let mut r = CopyRows::new();
        let header = r.buf.len();
        assert_eq!(header, 19);
        let t = DateTime::parse_from_rfc3339("2000-01-01T00:00:01.000002Z")
            .unwrap_or_default()
            .with_timezone(&Utc);
        r.row(4)
            .text("a\tb")
            .null()
            .timestamptz(t)
            .jsonb_value(&serde_json::json!({"k": 1}));
        let body = &r.buf[header..];
        let mut want = vec![0, 4];
        want.extend_from_slice(&3_i32.to_be_bytes());
        want.extend_from_slice(b"a\tb");
        want.extend_from_slice(&(-1_i32).to_be_bytes());
        want.extend_from_slice(&8_i32.to_be_bytes());
        want.extend_from_slice(&1_000_002_i64.to_be_bytes());
        want.extend_from_slice(&8_i32.to_be_bytes());
        want.push(1);
        want.extend_from_slice(br#"{"k":1}"#);
        assert_eq!(body, want.as_slice());
    }
}
