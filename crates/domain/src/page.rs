//! Keyset pagination: opaque cursors and pages.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The default and largest page sizes for every list endpoint.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// One page of a list, with the cursor for the next page when there is one.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    #[must_use]
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDir {
    #[default]
    Asc,
    Desc,
}

/// Where the previous page ended: the sort key's value and the id of the last item.
///
/// Encoded as URL-safe base64 of a small JSON document; clients treat it as opaque.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The sort field the cursor belongs to; a cursor is rejected under another sort.
    pub s: String,
    /// The last item's sort value (as text; ids and strings only).
    pub v: String,
    /// The last item's id.
    pub id: uuid::Uuid,
}

impl Cursor {
    #[must_use]
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Parses a cursor produced by [`Cursor::encode`] for the given sort.
    ///
    /// # Errors
    /// A message for the client when the cursor is malformed or belongs to another sort.
    pub fn decode(s: &str, sort: &str) -> Result<Self, String> {
        if s.len() > 1024 {
            return Err("cursor is too long".into());
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| "cursor is not valid".to_owned())?;
        let c: Self =
            serde_json::from_slice(&bytes).map_err(|_| "cursor is not valid".to_owned())?;
        if c.s != sort {
            return Err("cursor belongs to a different sort order".into());
        }
        // Cursors come back from clients; a forged NUL would fail the query in PostgreSQL.
        if c.v.contains('\0') {
            return Err("cursor is not valid".into());
        }
        Ok(c)
    }
}

/// Parses `limit`, applying the default and rejecting out-of-range values.
///
/// # Errors
/// A message for the client when the limit is 0 or above [`MAX_LIMIT`].
pub fn parse_limit(limit: Option<u32>) -> Result<u32, String> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(0) => Err("limit must be at least 1".into()),
        Some(n) if n > MAX_LIMIT => Err(format!("limit must be at most {MAX_LIMIT}")),
        Some(n) => Ok(n),
    }
}

/// Parses a `sort` parameter like `username` or `-created_at` against the allowed fields.
///
/// # Errors
/// A message naming the allowed fields.
pub fn parse_sort(
    sort: Option<&str>,
    allowed: &[&'static str],
) -> Result<(&'static str, SortDir), String> {
    let raw = sort.unwrap_or(allowed[0]);
    let (name, dir) = match raw.strip_prefix('-') {
        Some(n) => (n, SortDir::Desc),
        None => (raw, SortDir::Asc),
    };
    allowed
        .iter()
        .find(|a| **a == name)
        .map(|a| (*a, dir))
        .ok_or_else(|| {
            format!(
                "sort must be one of {} (prefix with - for descending)",
                allowed.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        for v in ["", "a", "ab", "abc", "zoë — ünïcode"] {
            let c = Cursor {
                s: "username".into(),
                v: v.into(),
                id: uuid::Uuid::now_v7(),
            };
            assert_eq!(Cursor::decode(&c.encode(), "username").unwrap(), c);
        }
    }

    #[test]
    fn cursor_rejects_garbage_and_other_sorts() {
        let c = Cursor {
            s: "username".into(),
            v: "x".into(),
            id: uuid::Uuid::nil(),
        };
        assert!(Cursor::decode(&c.encode(), "family_name").is_err());
        assert!(Cursor::decode("!!!", "username").is_err());
        assert!(Cursor::decode("eyJ", "username").is_err());
        let nul = Cursor {
            s: "username".into(),
            v: "a\0".into(),
            id: uuid::Uuid::nil(),
        };
        assert!(Cursor::decode(&nul.encode(), "username").is_err());
    }

    #[test]
    fn limits_and_sorts() {
        assert_eq!(parse_limit(None).unwrap(), 50);
        assert!(parse_limit(Some(0)).is_err());
        assert!(parse_limit(Some(501)).is_err());
        assert_eq!(
            parse_sort(Some("-username"), &["username"]).unwrap(),
            ("username", SortDir::Desc)
        );
        assert!(parse_sort(Some("password"), &["username"]).is_err());
    }
}
