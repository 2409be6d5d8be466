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

/// A pragmatic e-mail check: one `@`, a non-empty local part, a dotted domain, no spaces.
#[must_use]
pub fn is_valid_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
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
        assert_eq!(
            e.0.iter().map(|x| x.field.as_str()).collect::<Vec<_>>(),
            ["g", "h", "i"]
        );
    }
}
