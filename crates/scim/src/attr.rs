//! Attribute paths (`urn:…:User:name.givenName`) and case-insensitive lookup in a resource's
//! JSON form. Attribute names are case-insensitive in SCIM (RFC 7643 §2.1).

use serde_json::{Map, Value};

/// `[URI ":"] ATTRNAME ["." subAttr]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// A schema URI prefix, as written (`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`).
    pub uri: Option<String>,
    pub name: String,
    pub sub: Option<String>,
}

impl AttrPath {
    /// Parses `[URI ":"] name ["." sub]`.
    ///
    /// # Errors
    /// A message when the text is not an attribute path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (uri, rest) = split_uri(text);
        let (name, sub) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        if !is_attr_name(name) || sub.is_some_and(|s| !is_attr_name(s)) {
            return Err(format!("`{text}` is not an attribute path"));
        }
        Ok(Self {
            uri: uri.map(str::to_owned),
            name: name.to_owned(),
            sub: sub.map(str::to_owned),
        })
    }

    /// The same path with this sub-attribute.
    #[must_use]
    pub fn with_sub(&self, sub: Option<String>) -> Self {
        Self {
            uri: self.uri.clone(),
            name: self.name.clone(),
            sub,
        }
    }

    /// `name` or `name.sub`, without the URI.
    #[must_use]
    pub fn dotted(&self) -> String {
        match &self.sub {
            Some(s) => format!("{}.{s}", self.name),
            None => self.name.clone(),
        }
    }

    /// Whether the attribute compares case-exactly (RFC 7643: `id`, `externalId`, references
    /// and `value`s of members and groups, `meta.version`).
    #[must_use]
    pub fn case_exact(&self) -> bool {
        let name = self.name.to_ascii_lowercase();
        let sub = self.sub.as_deref().map(str::to_ascii_lowercase);
        matches!(
            (name.as_str(), sub.as_deref()),
            ("id" | "externalid", None)
                | ("members" | "groups" | "manager", Some("value" | "$ref"))
                | ("meta", Some("version" | "location"))
        )
    }

    /// The object holding the attribute: the resource itself, or its extension object when
    /// the URI names an extension. `None` when the URI names a schema the resource lacks.
    #[must_use]
    pub fn container<'a>(&self, resource: &'a Value, core_schema: &str) -> Option<&'a Value> {
        match &self.uri {
            Some(uri) if !uri.eq_ignore_ascii_case(core_schema) => get_ci(resource, uri),
            _ => Some(resource),
        }
    }
}

/// Splits a leading schema URI off an attribute path: the URI ends at the last `:` (names
/// and sub-attributes never contain one).
#[must_use]
pub fn split_uri(text: &str) -> (Option<&str>, &str) {
    if text.len() > 4 && text[..4].eq_ignore_ascii_case("urn:") {
        if let Some(i) = text.rfind(':') {
            return (Some(&text[..i]), &text[i + 1..]);
        }
    }
    (None, text)
}

/// `ALPHA *(nameChar)` where nameChar is `-`, `_`, a digit or a letter; `$ref` is allowed.
#[must_use]
pub fn is_attr_name(s: &str) -> bool {
    if s == "$ref" {
        return true;
    }
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The member of an object whose key equals `key` ignoring case.
#[must_use]
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// The key in `obj` that equals `key` ignoring case, or `key` itself.
#[must_use]
pub fn key_ci(obj: &Map<String, Value>, key: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_owned())
}

/// A mutable member of an object, by key ignoring case.
pub fn get_ci_mut<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Value> {
    let k = key_ci(obj, key);
    obj.get_mut(&k)
}

/// The values an attribute path reaches in a resource: one per element of a multi-valued
/// attribute (or of the sub-attribute taken from each element). Nulls are left out.
#[must_use]
pub fn values<'a>(resource: &'a Value, path: &AttrPath, core_schema: &str) -> Vec<&'a Value> {
    let Some(container) = path.container(resource, core_schema) else {
        return Vec::new();
    };
    let Some(top) = get_ci(container, &path.name) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let items: Vec<&Value> = match top {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    for item in items {
        match &path.sub {
            // A complex multi-valued attribute compares by its `value` (RFC 7644 §3.4.2.2).
            None => out.push(
                get_ci(item, "value")
                    .filter(|_| item.is_object())
                    .unwrap_or(item),
            ),
            Some(sub) => match get_ci(item, sub) {
                Some(Value::Array(a)) => out.extend(a.iter()),
                Some(v) => out.push(v),
                None => {}
            },
        }
    }
    out.retain(|v| !v.is_null());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_paths_with_and_without_uris() {
        let p = AttrPath::parse("name.givenName").unwrap();
        assert_eq!(
            (p.name.as_str(), p.sub.as_deref()),
            ("name", Some("givenName"))
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(p.uri.as_deref(), Some(crate::ENTERPRISE_USER_SCHEMA));
        assert_eq!(p.dotted(), "manager.value");
        assert!(AttrPath::parse("1abc").is_err());
        assert!(AttrPath::parse("a.b.c").is_err());
    }

    #[test]
    fn reaches_multi_valued_sub_attributes() {
        let r = json!({"Emails": [{"value": "a@x"}, {"value": "b@x"}]});
        let p = AttrPath::parse("emails.value").unwrap();
        assert_eq!(values(&r, &p, crate::USER_SCHEMA).len(), 2);
    }
}
