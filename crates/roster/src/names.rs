//! Small vocabularies shared by the parsers: grade codes and short names.

/// Parses a grade as exports write it: CEDS codes (`PK` → -1, `TK`/`KG` → 0, `01`–`12`), plain
/// numbers (`-1`–`12`), case-insensitive. Other CEDS codes (`IT`, `PR`, `PS`, `UG`, `13`,
/// `Other`) name grades the directory does not hold.
///
/// # Errors
/// A message naming the accepted codes.
pub fn parse_grade(code: &str) -> Result<i16, String> {
    let c = code.trim();
    match c.to_ascii_uppercase().as_str() {
        "PK" => return Ok(-1),
        "TK" | "KG" | "K" => return Ok(0),
        _ => {}
    }
    match c.parse::<i16>() {
        Ok(n) if (-1..=12).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{}` is not a grade the directory holds (PK, TK, KG, 01–12)",
            c.chars().take(16).collect::<String>()
        )),
    }
}

/// A short name made of lower-case ASCII letters, digits and single dashes (every other run of
/// characters becomes one dash), at most 64 characters; `None` when nothing is left.
#[must_use]
pub fn slug(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    let mut dash = false;
    for ch in s.chars() {
        if ch.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(ch.to_ascii_lowercase());
            if out.len() >= 64 {
                break;
            }
        } else {
            dash = true;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The directory username for an export's username: the local part of an e-mail-like value,
/// lower-cased.
#[must_use]
pub fn username_of(raw: &str) -> String {
    let raw = raw.trim();
    let local = raw.split_once('@').map_or(raw, |(l, _)| l);
    local.to_ascii_lowercase()
}

/// `true`/`false`/`1`/`0`/`yes`/`no`, case-insensitive; blank is `None`.
pub(crate) fn parse_bool(s: &str) -> Result<Option<bool>, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" | "1" | "yes" | "y" => Ok(Some(true)),
        "false" | "0" | "no" | "n" => Ok(Some(false)),
        _ => Err("must be true or false".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades() {
        assert_eq!(parse_grade("PK"), Ok(-1));
        assert_eq!(parse_grade("kg"), Ok(0));
        assert_eq!(parse_grade("TK"), Ok(0));
        assert_eq!(parse_grade("01"), Ok(1));
        assert_eq!(parse_grade("12"), Ok(12));
        assert_eq!(parse_grade("-1"), Ok(-1));
        assert!(parse_grade("13").is_err());
        assert!(parse_grade("IT").is_err());
        assert!(parse_grade("UG").is_err());
        assert!(parse_grade("").is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(
            slug("Lincoln High School").as_deref(),
            Some("lincoln-high-school")
        );
        assert_eq!(slug("  St. Mary's  ").as_deref(), Some("st-mary-s"));
        assert_eq!(slug("LHS_01").as_deref(), Some("lhs-01"));
        assert_eq!(slug("---"), None);
    }

    #[test]
    fn usernames() {
        assert_eq!(username_of(" Ada.Lovelace@Example.org "), "ada.lovelace");
        assert_eq!(username_of("jdoe"), "jdoe");
    }
}
