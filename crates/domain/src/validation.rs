//! Field-level validation errors, collected rather than failing on the first.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One problem with one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FieldError {
    /// The field's name as it appears in the request body (dotted for nested fields).
    pub field: String,
    pub message: String,
}

/// Every problem found in one input; empty means valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>);

impl ValidationErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    #[must_use]
    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut e = Self::default();
        e.add(field, message);
        e
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when no error was recorded.
    ///
    /// # Errors
    /// Returns `self` when at least one error was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Self> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// Checks a required text field: trimmed, non-empty, at most `max` characters.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> String {
        let v = value.trim();
        if v.is_empty() {
            self.add(field, "must not be empty");
        } else if v.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
        } else if v.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
        } else if v.chars().any(is_bidi_control) {
            self.add(field, BIDI_MESSAGE);
        }
        v.to_owned()
    }

    /// Checks an optional text field; blank becomes `None`.
    pub fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(v) => Some(self.text(field, v, max)),
        }
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Whether a JSON document holds a NUL character in any string or key. PostgreSQL cannot
/// store one in `jsonb` (or `text`), so free-form documents are checked before they are written.
#[must_use]
pub fn contains_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// A username: lower-case ASCII letters, digits, `.`, `_`, `-`; starts with a letter or digit.
#[must_use]
pub fn is_valid_username(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// What a field holding a bidirectional control is told.
pub const BIDI_MESSAGE: &str =
    "must not contain Unicode bidirectional control characters (U+200E, U+200F, U+202A–U+202E, U+2066–U+2069): they change how a name is displayed";

/// Unicode bidirectional formatting characters: embeddings and overrides (U+202A–U+202E),
/// isolates (U+2066–U+2069) and marks (U+200E, U+200F, U+061C). They are invisible and make
/// text display in another order than it is stored, so a name can pose as another.
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// An e-mail address as RFC 5321/5322 write it without quoting or comments (the dot-atom
/// form every directory and mail system takes): a local part of at most 64 `atext`
/// characters and single dots, `@`, and a domain of at least two labels (letters, digits and
/// inner hyphens, at most 63 each, the last not all digits). Letters may be any script
/// (RFC 6531). At most 254 characters.
#[must_use]
pub fn is_valid_email(s: &str) -> bool {
    if s.len() > 254 {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    is_dot_atom(local) && local.len() <= 64 && is_domain(domain)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || "!#$%&'*+-/=?^_`{|}~".contains(c)
        || (!c.is_ascii() && c.is_alphanumeric())
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

fn is_domain(s: &str) -> bool {
    let labels: Vec<&str> = s.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
}

/// The longest name an uploaded file may have (characters).
pub const MAX_FILE_NAME: usize = 255;

/// Checks the name of an uploaded file: 1–255 characters, no control or bidirectional
/// control characters, no path separators. Returns it trimmed.
///
/// # Errors
/// A field error on `file_name`.
pub fn file_name(s: &str) -> Result<String, ValidationErrors> {
    let mut e = ValidationErrors::default();
    let v = e.text("file_name", s, MAX_FILE_NAME);
    if e.is_empty() && v.contains(['/', '\\']) {
        e.add("file_name", "must be a file name, not a path");
    }
    e.into_result(v)
}

/// A slug-like name for groups and policies: letters, digits, `.`, `_`, `-`, no spaces.
#[must_use]
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert!(is_valid_username("ada.lovelace"));
        assert!(is_valid_username("s12345"));
        assert!(!is_valid_username("Ada"));
        assert!(!is_valid_username(".ada"));
        assert!(!is_valid_username("ada lovelace"));
        assert!(!is_valid_username("ada;rm -rf"));
        assert!(!is_valid_username(""));
    }

    #[test]
    fn emails() {
        assert!(is_valid_email("ada@school.example.org"));
        assert!(!is_valid_email("ada@localhost"));
        assert!(!is_valid_email("ada"));
        assert!(!is_valid_email("a b@x.org"));
        assert!(!is_valid_email("a@@x.org"));
        assert!(!is_valid_email("a@x..org"));
        assert!(!is_valid_email("<script>@x.org"));
        assert!(!is_valid_email("a\"b@x.org"));
        assert!(!is_valid_email(".ada@x.org"));
        assert!(!is_valid_email("ada.@x.org"));
        assert!(!is_valid_email("a..b@x.org"));
        assert!(!is_valid_email("ada@-x.org"));
        assert!(!is_valid_email("ada@x.123"));
        assert!(!is_valid_email("ada@x_y.org"));
        assert!(!is_valid_email(&format!("{}@x.org", "a".repeat(65))));
        assert!(is_valid_email("o'brien+tag@mail.school-district.org"));
        assert!(is_valid_email("josé@école.example"));
    }

    #[test]
    fn file_names() {
        assert_eq!(
            file_name(" roster.csv ").ok().as_deref(),
            Some("roster.csv")
        );
        assert!(file_name(&"a".repeat(255)).is_ok());
        assert!(file_name(&"a".repeat(256)).is_err());
        assert!(file_name("").is_err());
        assert!(file_name("evil\u{202E}vsc.zip").is_err());
        assert!(file_name("../etc/passwd").is_err());
    }

    #[test]
    fn finds_nul_anywhere_in_a_document() {
        use serde_json::json;
        assert!(!contains_nul(&json!({"a": ["b", {"c": 1}]})));
        assert!(contains_nul(&json!({"a": ["b", {"c": "x\0"}]})));
        assert!(contains_nul(&json!({"a\0": true})));
        assert!(contains_nul(&json!("\0")));
    }

    #[test]
    fn text_rules() {
        let mut e = ValidationErrors::default();
        assert_eq!(e.text("f", "  hi ", 10), "hi");
        assert!(e.is_empty());
        e.text("g", "   ", 10);
        e.text("h", "abcdef", 3);
        e.text("i", "a\u{0}b", 10);
        for c in [
            '\u{202E}', '\u{202A}', '\u{2066}', '\u{2069}', '\u{200E}', '\u{200F}',
        ] {
            let mut b = ValidationErrors::default();
            b.text("given_name", &format!("Ada{c}gnp.exe"), 100);
            assert_eq!(b.0.len(), 1, "{c:?}");
            assert!(b.0[0].message.contains("bidirectional"));
        }
        assert_eq!(
            e.0.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
            ["g", "h", "i"]
        );
    }
}
