//! The audit trail: append-only events linked in a hash chain.
//!
//! Each event stores the hash of its predecessor (`prev_hash`) and its own `hash`, the SHA-256
//! of its canonical content including `prev_hash`. Changing, removing or reordering any event
//! breaks the chain from that point; [`ChainVerifier`] finds the first break. Sequence numbers
//! are assigned without gaps under the chain-head lock, so a missing event shows as a gap.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

/// `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What to record: built by the code that makes a change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    pub actor: String,
    /// Dotted verb such as `user.create`, `device.update`, `auth.login_failed`.
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

impl NewAuditEvent {
    /// Seals the event into the chain after the event with `prev_hash`.
    #[must_use]
    pub fn seal(self, seq: i64, occurred_at: DateTime<Utc>, prev_hash: &str) -> AuditEvent {
        let mut e = AuditEvent {
            seq,
            occurred_at: crate::truncate_micros(occurred_at),
            actor: self.actor,
            action: self.action,
            target_type: self.target_type,
            target_id: self.target_id,
            request_id: self.request_id,
            before: self.before,
            after: self.after,
            prev_hash: prev_hash.to_owned(),
            hash: String::new(),
        };
        e.hash = e.content_hash();
        e
    }
}

/// A recorded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "seq": 42, "occurred_at": "2026-11-21T09:15:02.123456Z", "actor": "operator:admin", "action": "user.update",
    "target_type": "user", "target_id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f60", "request_id": "5f0c9a8e-1d2b-4c3a-8e7f-6a5b4c3d2e1f",
    "before": {"grade": 10}, "after": {"grade": 11},
    "prev_hash": "9c1185a5c5e9fc54612808977ee8f548b2258d31f1e4f7a1f6b1c6f2a0c7b3d4",
    "hash": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"}))]
pub struct AuditEvent {
    /// Position in the chain, starting at 1, without gaps.
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEvent {
    /// SHA-256 (hex) of the canonical JSON of every field but `hash`: an object with these
    /// keys, sorted, `occurred_at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (written straight into the
    /// buffer rather than through an intermediate `Value`, which would copy `before` and `after`).
    #[must_use]
    pub fn content_hash(&self) -> String {
        let mut buf = Vec::with_capacity(1024);
        self.write_content(&mut buf);
        hex::encode(Sha256::digest(&buf))
    }

    fn write_content(&self, out: &mut Vec<u8>) {
        let opt_value = |out: &mut Vec<u8>, v: &Option<Value>| match v {
            Some(v) => write_canonical(v, out),
            None => out.extend_from_slice(b"null"),
        };
        let opt_str = |out: &mut Vec<u8>, s: &Option<String>| match s {
            Some(s) => write_str(s, out),
            None => out.extend_from_slice(b"null"),
        };
        // Keys in byte order, as `write_canonical` sorts an object's.
        out.extend_from_slice(b"{\"action\":");
        write_str(&self.action, out);
        out.extend_from_slice(b",\"actor\":");
        write_str(&self.actor, out);
        out.extend_from_slice(b",\"after\":");
        opt_value(out, &self.after);
        out.extend_from_slice(b",\"before\":");
        opt_value(out, &self.before);
        out.extend_from_slice(b",\"occurred_at\":");
        write_timestamp(self.occurred_at, out);
        out.extend_from_slice(b",\"prev_hash\":");
        write_str(&self.prev_hash, out);
        out.extend_from_slice(b",\"request_id\":");
        opt_str(out, &self.request_id);
        out.extend_from_slice(b",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"target_id\":");
        opt_str(out, &self.target_id);
        out.extend_from_slice(b",\"target_type\":");
        write_str(&self.target_type, out);
        out.push(b'}');
    }
}

/// A JSON string as `serde_json` writes it.
fn write_str(s: &str, out: &mut Vec<u8>) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// `occurred_at` as a JSON string, `%Y-%m-%dT%H:%M:%S%.6fZ`.
fn write_timestamp(t: DateTime<Utc>, out: &mut Vec<u8>) {
    use chrono::{Datelike, Timelike};
    use std::io::Write;
    let nanos = t.nanosecond();
    if (0..=9999).contains(&t.year()) && nanos < 1_000_000_000 {
        let _ = write!(
            out,
            "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z\"",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            nanos / 1000
        );
    } else {
        // Years outside 0..=9999 and leap seconds: chrono's own spelling.
        write_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(), out);
    }
}

/// Writes JSON with object keys sorted and no insignificant whitespace, independent of how
/// `serde_json` was built (the `preserve_order` feature would otherwise change key order).
///
/// Numbers are written by value (see [`canonical_number`]), because a database may hand back
/// another spelling of the number that was sealed: PostgreSQL `jsonb` turns `-0.0` into `0.0`
/// and `1e16` into `10000000000000000`, which `serde_json` then reads as an integer.
fn write_canonical(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::Number(n) => out.extend_from_slice(canonical_number(n).as_bytes()),
        Value::String(s) => write_str(s, out),
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// A float with an integral value that fits a 64-bit integer is written as that integer
/// (so `-0.0`, `0.0` and `0` are all `0`, and `1e16` is `10000000000000000`); every other
/// number as `serde_json` writes it.
fn canonical_number(n: &serde_json::Number) -> String {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < TWO_POW_64 && f >= -TWO_POW_63 => {
            if f < 0.0 {
                (f as i64).to_string()
            } else {
                (f.abs() as u64).to_string()
            }
        }
        _ => n.to_string(),
    }
}

/// Why verification stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ChainBreak {
    /// The sequence number where the chain first breaks.
    pub seq: i64,
    /// `tampered` (content does not match its hash), `missing` (a gap before this event),
    /// `relinked` (prev_hash does not match the previous event) or `truncated` (events after
    /// this one were removed).
    pub kind: &'static str,
    pub detail: String,
}

/// Checks events one at a time, in `seq` order.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    last_seq: i64,
    last_hash: String,
    checked: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_seq: 0,
            last_hash: GENESIS_HASH.to_owned(),
            checked: 0,
        }
    }
}

impl ChainVerifier {
    /// Checks the next event.
    ///
    /// # Errors
    /// The first break found.
    pub fn push(&mut self, e: &AuditEvent) -> Result<(), ChainBreak> {
        if e.seq != self.last_seq + 1 {
            return Err(ChainBreak {
                seq: self.last_seq + 1,
                kind: "missing",
                detail: format!("expected event {}, found {}", self.last_seq + 1, e.seq),
            });
        }
        if e.prev_hash != self.last_hash {
            return Err(ChainBreak {
                seq: e.seq,
                kind: "relinked",
                detail: "prev_hash does not match the hash of the previous event".into(),
            });
        }
        if e.content_hash() != e.hash {
            return Err(ChainBreak {
                seq: e.seq,
                kind: "tampered",
                detail: "content does not match the stored hash".into(),
            });
        }
        self.last_seq = e.seq;
        self.last_hash.clone_from(&e.hash);
        self.checked += 1;
        Ok(())
    }

    /// Compares the end of the chain with the recorded chain head.
    ///
    /// # Errors
    /// A `truncated` break when the head records more events (or another hash) than were seen.
    pub fn finish(&self, head_seq: i64, head_hash: &str) -> Result<u64, ChainBreak> {
        if head_seq != self.last_seq || (head_seq > 0 && head_hash != self.last_hash) {
            return Err(ChainBreak {
                seq: self.last_seq + 1,
                kind: "truncated",
                detail: format!(
                    "the chain head records {head_seq} events, {} found",
                    self.last_seq
                ),
            });
        }
        Ok(self.checked)
    }

    #[must_use]
    pub fn checked(&self) -> u64 {
        self.checked
    }
}

/// Filters for listing audit events (newest first).
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    /// Exact action, or a prefix ending in `.` (e.g. `user.`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub request_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: u32,
    /// Only events with a smaller `seq` (the cursor).
    pub before_seq: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|seq| {
                let e = NewAuditEvent {
                    actor: "operator:admin".into(),
                    action: "user.update".into(),
                    target_type: "user".into(),
                    target_id: Some(format!("u{seq}")),
                    request_id: None,
                    before: Some(json!({"b": 1, "a": [1, 2]})),
                    after: Some(json!({"grade": seq})),
                }
                .seal(seq, crate::now(), &prev);
                prev.clone_from(&e.hash);
                e
            })
            .collect()
    }

    fn verify(events: &[AuditEvent]) -> Result<u64, ChainBreak> {
        let mut v = ChainVerifier::default();
        for e in events {
            v.push(e)?;
        }
        let last = events.last();
        v.finish(
            last.map_or(0, |e| e.seq),
            last.map_or(GENESIS_HASH, |e| e.hash.as_str()),
        )
    }

    #[test]
    fn intact_chain_verifies() {
        assert_eq!(verify(&chain(5)).unwrap(), 5);
        assert_eq!(verify(&[]).unwrap(), 0);
    }

    #[test]
    fn detects_tampering() {
        let mut c = chain(5);
        c[2].after = Some(json!({"grade": 12}));
        let b = verify(&c).unwrap_err();
        assert_eq!((b.seq, b.kind), (3, "tampered"));
    }

    #[test]
    fn detects_a_missing_event() {
        let mut c = chain(5);
        c.remove(1);
        let b = verify(&c).unwrap_err();
        assert_eq!((b.seq, b.kind), (2, "missing"));
    }

    #[test]
    fn detects_truncation() {
        let c = chain(5);
        let mut v = ChainVerifier::default();
        for e in &c[..4] {
            v.push(e).unwrap();
        }
        assert_eq!(v.finish(5, &c[4].hash).unwrap_err().kind, "truncated");
    }

    #[test]
    fn numbers_hash_by_value_whatever_their_spelling() {
        let canonical = |text: &str| {
            let mut out = Vec::new();
            write_canonical(&serde_json::from_str(text).unwrap(), &mut out);
            String::from_utf8(out).unwrap()
        };
        // What PostgreSQL jsonb hands back for what serde_json wrote.
        assert_eq!(canonical("-0.0"), canonical("0.0"));
        assert_eq!(canonical("0.0"), "0");
        assert_eq!(canonical("1e16"), canonical("10000000000000000"));
        assert_eq!(canonical("-1e16"), canonical("-10000000000000000"));
        assert_eq!(canonical("[1.0, 2]"), "[1,2]");
        // Values that are not integers, or do not fit one, keep serde_json's spelling.
        assert_eq!(canonical("0.1"), "0.1");
        assert_eq!(
            canonical("1e300"),
            canonical(&format!("1{}", "0".repeat(300)))
        );
        assert_eq!(canonical("1e300"), "1e+300");
        assert_eq!(canonical("18446744073709551615"), "18446744073709551615");
        assert_ne!(canonical("1.5"), canonical("1"));
    }

    /// The canonical form as first written (through a `json!` value and `to_string`): every
    /// hash in a stored chain was computed this way, so the faster form must match it byte for
    /// byte.
    fn reference_content(e: &AuditEvent) -> Vec<u8> {
        fn canonical(v: &Value, out: &mut Vec<u8>) {
            match v {
                Value::Object(map) => {
                    let mut keys: Vec<&String> = map.keys().collect();
                    keys.sort();
                    out.push(b'{');
                    for (i, k) in keys.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        out.extend_from_slice(Value::String((*k).clone()).to_string().as_bytes());
                        out.push(b':');
                        canonical(&map[*k], out);
                    }
                    out.push(b'}');
                }
                Value::Array(items) => {
                    out.push(b'[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        canonical(item, out);
                    }
                    out.push(b']');
                }
                Value::Number(n) => out.extend_from_slice(canonical_number(n).as_bytes()),
                scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
            }
        }
        let content = json!({
            "seq": e.seq,
            "occurred_at": e.occurred_at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
            "actor": e.actor,
            "action": e.action,
            "target_type": e.target_type,
            "target_id": e.target_id,
            "request_id": e.request_id,
            "before": e.before,
            "after": e.after,
            "prev_hash": e.prev_hash,
        });
        let mut out = Vec::new();
        canonical(&content, &mut out);
        out
    }

    #[test]
    fn the_canonical_content_is_unchanged() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut events = vec![
            AuditEvent {
                seq: 1,
                occurred_at: at("2026-11-22T03:48:21.462123Z"),
                actor: "system:bench".into(),
                action: "user.create".into(),
                target_type: "user".into(),
                target_id: Some("01a2015e-844c-73f0-be03-a7e01376f363".into()),
                request_id: None,
                before: None,
                after: Some(
                    json!({"id": "x", "grade": -1, "groups": ["b", "a"], "email": null,
                    "version": 1, "nested": {"z": [1.0, -0.0, 1e300, 0.5, true], "a": "\u{e9}\"\\\n\t\u{1}"}}),
                ),
                prev_hash: GENESIS_HASH.into(),
                hash: String::new(),
            },
            AuditEvent {
                seq: 9_007_199_254_740_993,
                occurred_at: at("0001-01-01T00:00:00Z"),
                actor: "operator:\u{0}zo\u{eb} \"q\"".into(),
                action: "group.update".into(),
                target_type: "group".into(),
                target_id: None,
                request_id: Some("req/\u{2028}<>&".into()),
                before: Some(json!({"k": {}, "": [], "\u{ffff}": "\u{10ffff}"})),
                after: Some(
                    json!([{"b": 2, "a": 1}, "s", null, 18_446_744_073_709_551_615_u64, -9_223_372_036_854_775_808_i64]),
                ),
                prev_hash: "ab".repeat(32),
                hash: String::new(),
            },
            AuditEvent {
                seq: 3,
                occurred_at: at("9999-12-31T23:59:59.999999Z"),
                actor: String::new(),
                action: String::new(),
                target_type: String::new(),
                target_id: Some(String::new()),
                request_id: Some(String::new()),
                before: Some(json!("scalar")),
                after: Some(json!(42.25)),
                prev_hash: String::new(),
                hash: String::new(),
            },
        ];
        events.extend(chain(3));
        for e in &events {
            let mut fast = Vec::new();
            e.write_content(&mut fast);
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&reference_content(e))
            );
        }
    }

    #[test]
    fn canonical_form_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": 2, "x": 1}});
        let mut out = Vec::new();
        write_canonical(&a, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"x":1,"y":2},"b":1}"#
        );
    }
}
