//! `attributes` / `excludedAttributes` (RFC 7644 §3.9) and `sortBy` / `sortOrder` (§3.4.2.3)
//! on resources in their JSON form.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::attr::{self, key_ci, AttrPath};
use crate::ScimError;

/// Attributes returned whatever is asked.
const ALWAYS: [&str; 2] = ["id", "schemas"];

/// A parsed `attributes` or `excludedAttributes` list.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    include: Vec<AttrPath>,
    exclude: Vec<AttrPath>,
}

impl Projection {
    /// Parses the two comma-separated lists.
    ///
    /// # Errors
    /// `invalidValue` for a name that is not an attribute path, or lists past 100 names.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        let list = |s: Option<&str>| -> Result<Vec<AttrPath>, ScimError> {
            let Some(s) = s else { return Ok(Vec::new()) };
            let names: Vec<&str> = s
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            if names.len() > 100 {
                return Err(ScimError::invalid_value(
                    "At most 100 attributes may be named.",
                ));
            }
            names
                .into_iter()
                .map(|n| AttrPath::parse(n).map_err(ScimError::invalid_value))
                .collect()
        };
        Ok(Self {
            include: list(attributes)?,
            exclude: list(excluded)?,
        })
    }

    /// Whether the projection keeps a top-level attribute of the core schema (so a caller can
    /// skip fetching what would be dropped, like a large group's `members`).
    #[must_use]
    pub fn wants(&self, name: &str) -> bool {
        let named = |list: &[AttrPath]| {
            list.iter()
                .any(|p| p.uri.is_none() && p.name.eq_ignore_ascii_case(name))
        };
        if !self.include.is_empty() {
            return named(&self.include);
        }
        !self
            .exclude
            .iter()
            .any(|p| p.uri.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case(name))
    }

    /// Applies the projection to one resource.
    #[must_use]
    pub fn apply(&self, resource: Value, core: &str) -> Value {
        let Value::Object(mut obj) = resource else {
            return resource;
        };
        if !self.include.is_empty() {
            let mut out = Map::new();
            for k in ALWAYS {
                if let Some(v) = obj.remove(k) {
                    out.insert(k.to_owned(), v);
                }
            }
            for p in &self.include {
                copy_path(&obj, &mut out, p, core);
            }
            return Value::Object(out);
        }
        for p in &self.exclude {
            if p.uri.is_none() && ALWAYS.iter().any(|a| a.eq_ignore_ascii_case(&p.name)) {
                continue;
            }
            remove_path(&mut obj, p, core);
        }
        Value::Object(obj)
    }
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, p: &AttrPath, core: &str) {
    let (src, dst) = match &p.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(core) => {
            let key = key_ci(from, uri);
            let Some(Value::Object(src)) = from.get(&key) else {
                return;
            };
            let dst = to.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let Value::Object(dst) = dst else { return };
            (src, dst)
        }
        _ => (from, to),
    };
    let key = key_ci(src, &p.name);
    let Some(v) = src.get(&key) else { return };
    match (&p.sub, v) {
        (None, v) => {
            dst.insert(key, v.clone());
        }
        (Some(sub), Value::Object(o)) => {
            let sk = key_ci(o, sub);
            if let Some(sv) = o.get(&sk) {
                let entry = dst.entry(key).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(e) = entry {
                    e.insert(sk, sv.clone());
                }
            }
        }
        (Some(sub), Value::Array(items)) => {
            let picked: Vec<Value> = items
                .iter()
                .filter_map(|i| {
                    let o = i.as_object()?;
                    let sk = key_ci(o, sub);
                    o.get(&sk).map(|sv| {
                        let mut m = Map::new();
                        m.insert(sk, sv.clone());
                        Value::Object(m)
                    })
                })
                .collect();
            dst.insert(key, Value::Array(picked));
        }
        _ => {}
    }
}

fn remove_path(obj: &mut Map<String, Value>, p: &AttrPath, core: &str) {
    let target = match &p.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(core) => {
            match attr::get_ci_mut(obj, uri).and_then(Value::as_object_mut) {
                Some(o) => o,
                None => return,
            }
        }
        _ => obj,
    };
    let key = key_ci(target, &p.name);
    match &p.sub {
        None => {
            target.remove(&key);
        }
        Some(sub) => match target.get_mut(&key) {
            Some(Value::Object(o)) => {
                let sk = key_ci(o, sub);
                o.remove(&sk);
            }
            Some(Value::Array(items)) => {
                for o in items.iter_mut().filter_map(Value::as_object_mut) {
                    let sk = key_ci(o, sub);
                    o.remove(&sk);
                }
            }
            _ => {}
        },
    }
}

/// Sorts resources by an attribute (`sortBy`); resources without it come last whichever the
/// order. Strings compare by the attribute's case rule.
///
/// # Errors
/// `invalidValue` when `sort_by` is not an attribute path or `sort_order` is neither
/// `ascending` nor `descending`.
pub fn sort(
    resources: &mut [Value],
    sort_by: &str,
    sort_order: Option<&str>,
    core: &str,
) -> Result<(), ScimError> {
    let mut keyed: Vec<(Value, &str)> = resources
        .iter_mut()
        .map(|r| (std::mem::take(r), core))
        .collect();
    let sorted = sort_mixed(&mut keyed, sort_by, sort_order);
    for (slot, (r, _)) in resources.iter_mut().zip(keyed) {
        *slot = r;
    }
    sorted
}

/// [`sort`] for resources of several types, each with its core schema (the root `/.search`).
///
/// # Errors
/// As [`sort`].
pub fn sort_mixed(
    resources: &mut [(Value, &str)],
    sort_by: &str,
    sort_order: Option<&str>,
) -> Result<(), ScimError> {
    let path = AttrPath::parse(sort_by).map_err(ScimError::invalid_value)?;
    let descending = match sort_order.map(str::to_ascii_lowercase).as_deref() {
        None | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "sortOrder `{other}` is neither ascending nor descending."
            )))
        }
    };
    let exact = path.case_exact();
    let key = |(v, core): &(Value, &str)| -> Option<Value> {
        let found = attr::values(v, &path, core);
        // For a multi-valued attribute, the primary element's value, else the first.
        found.first().map(|v| match v {
            Value::String(s) if !exact => Value::String(s.to_lowercase()),
            v => (*v).clone(),
        })
    };
    resources.sort_by(|a, b| match (key(a), key(b)) {
        (Some(x), Some(y)) => {
            let o = cmp_values(&x, &y);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
    Ok(())
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn includes_and_excludes() {
        let r = json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"value": "a@x", "type": "work"}],
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D", "employeeNumber": "7"}});
        let p = Projection::parse(Some("userName,name.givenName,emails.value,urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"), None).unwrap();
        assert_eq!(
            p.apply(r.clone(), crate::USER_SCHEMA),
            json!({"schemas": ["s"], "id": "1", "userName": "a", "name": {"givenName": "A"},
                "emails": [{"value": "a@x"}],
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "D"}})
        );
        let p = Projection::parse(None, Some("id,name,emails.type")).unwrap();
        let out = p.apply(r, crate::USER_SCHEMA);
        assert_eq!(out["id"], "1");
        assert!(out.get("name").is_none());
        assert_eq!(out["emails"], json!([{"value": "a@x"}]));
    }

    #[test]
    fn sorts_with_missing_last() {
        let mut v = vec![
            json!({"userName": "b"}),
            json!({}),
            json!({"userName": "A"}),
        ];
        sort(&mut v, "userName", None, crate::USER_SCHEMA).unwrap();
        assert_eq!(v[0]["userName"], "A");
        sort(&mut v, "userName", Some("descending"), crate::USER_SCHEMA).unwrap();
        assert_eq!(v[0]["userName"], "b");
        assert_eq!(v[2], json!({}));
        assert!(sort(&mut v, "userName", Some("sideways"), crate::USER_SCHEMA).is_err());
    }
}
