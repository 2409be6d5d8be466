//! PATCH paths (RFC 7644 §3.5.2): `attrPath`, `attrPath[valFilter]` and
//! `attrPath[valFilter].subAttr`, each optionally prefixed with a schema URI.

use crate::attr::AttrPath;
use crate::filter::Filter;
use crate::ScimError;

/// A parsed PATCH path.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (and, without a value filter, its sub-attribute).
    pub attr: AttrPath,
    /// `[valFilter]`: which elements of a multi-valued attribute.
    pub filter: Option<Filter>,
    /// `.subAttr` after a value filter.
    pub sub: Option<String>,
}

impl PatchPath {
    /// Parses a PATCH path.
    ///
    /// # Errors
    /// `invalidPath` for a path that does not parse, `invalidFilter` for a bad value filter.
    pub fn parse(text: &str) -> Result<Self, ScimError> {
        let text = text.trim();
        if text.len() > crate::MAX_FILTER_LEN {
            return Err(ScimError::invalid_path("The path is too long."));
        }
        let Some(open) = text.find('[') else {
            let attr = AttrPath::parse(text).map_err(ScimError::invalid_path)?;
            return Ok(Self {
                attr,
                filter: None,
                sub: None,
            });
        };
        let close = text.rfind(']').filter(|&c| c > open).ok_or_else(|| {
            ScimError::invalid_path(format!("`{text}`: the value filter is not closed."))
        })?;
        let attr = AttrPath::parse(&text[..open]).map_err(ScimError::invalid_path)?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!(
                "`{text}`: a value filter applies to an attribute, not a sub-attribute."
            )));
        }
        let filter = Filter::parse(&text[open + 1..close])?;
        let rest = &text[close + 1..];
        let sub = if rest.is_empty() {
            None
        } else {
            let sub = rest
                .strip_prefix('.')
                .filter(|s| crate::attr::is_attr_name(s));
            Some(
                sub.ok_or_else(|| {
                    ScimError::invalid_path(format!("`{text}` is not a valid path."))
                })?
                .to_owned(),
            )
        };
        Ok(Self {
            attr,
            filter: Some(filter),
            sub,
        })
    }

    /// Whether a path names a schema URI only (e.g. a key of a path-less PATCH value that
    /// holds a whole extension object).
    #[must_use]
    pub fn is_schema_uri(text: &str) -> bool {
        text.eq_ignore_ascii_case(crate::ENTERPRISE_USER_SCHEMA)
            || text.eq_ignore_ascii_case(crate::DIRECTORY_USER_SCHEMA)
            || text.eq_ignore_ascii_case(crate::USER_SCHEMA)
            || text.eq_ignore_ascii_case(crate::GROUP_SCHEMA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_value_filters_and_sub_attributes() {
        let p = PatchPath::parse(r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr.name, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = PatchPath::parse(r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#)
            .unwrap();
        assert_eq!(p.sub, None);
        let p =
            PatchPath::parse("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
                .unwrap();
        assert_eq!(p.attr.uri.as_deref(), Some(crate::ENTERPRISE_USER_SCHEMA));
        assert!(PatchPath::parse(r#"emails[type eq "work"]x"#).is_err());
        assert!(PatchPath::parse(r#"emails[type eq "work""#).is_err());
        assert!(PatchPath::parse("").is_err());
    }

    #[test]
    fn recognises_schema_uris() {
        assert!(PatchPath::is_schema_uri(crate::ENTERPRISE_USER_SCHEMA));
        assert!(!PatchPath::is_schema_uri(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
        ));
    }
}
