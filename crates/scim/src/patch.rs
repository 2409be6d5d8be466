//! `PatchOp` (RFC 7644 §3.5.2) applied to a resource's JSON form. The endpoint renders the
//! record, applies the operations here, and reads the result back as a replacement, so PATCH
//! and PUT share one mapping.
//!
//! Accepted as real clients send them: `op` in any case (`Replace`), path-less operations
//! whose keys are paths (`"name.givenName"`, `"urn:…:enterprise:2.0:User:department"`),
//! member removal with a value filter in the path or with the members in `value`, and a
//! `replace` of `emails[type eq "work"].value` when there is no work address yet (it is added).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::attr::{get_ci, key_ci, AttrPath};
use crate::filter::{CompareOp, Filter};
use crate::path::PatchPath;
use crate::{ScimError, ScimType};

/// A PATCH request body: read by the endpoint, sent by the SCIM target. `Debug` leaves the
/// values out (an operation may carry a password).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    #[serde(default)]
    pub schemas: Vec<String>,
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchOp {
    /// A request of these operations.
    #[must_use]
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        Self {
            schemas: vec![crate::PATCH_OP_SCHEMA.to_owned()],
            operations,
        }
    }
}

impl std::fmt::Debug for PatchOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatchOp")
            .field("operations", &self.operations)
            .finish()
    }
}

/// One operation.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOperation {
    /// `add`, `replace` or `remove`, in any case.
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// The value is left out: an operation may carry a password.
impl std::fmt::Debug for PatchOperation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.op, self.path.as_deref().unwrap_or(""))
    }
}

impl PatchOperation {
    #[must_use]
    pub fn add(path: impl Into<String>, value: Value) -> Self {
        Self::with_path("add", path, Some(value))
    }

    #[must_use]
    pub fn replace(path: impl Into<String>, value: Value) -> Self {
        Self::with_path("replace", path, Some(value))
    }

    #[must_use]
    pub fn remove(path: impl Into<String>) -> Self {
        Self::with_path("remove", path, None)
    }

    fn with_path(op: &str, path: impl Into<String>, value: Option<Value>) -> Self {
        Self {
            op: op.to_owned(),
            path: Some(path.into()),
            value,
        }
    }
}

/// The three operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Add,
    Replace,
    Remove,
}

impl OpKind {
    /// # Errors
    /// `invalidSyntax` for an unknown operation.
    pub fn parse(op: &str) -> Result<Self, ScimError> {
        match op.to_ascii_lowercase().as_str() {
            "add" => Ok(Self::Add),
            "replace" => Ok(Self::Replace),
            "remove" => Ok(Self::Remove),
            other => Err(ScimError::invalid_syntax(format!(
                "`{other}` is not a PATCH operation (add, replace or remove)."
            ))),
        }
    }
}

/// Attributes no PATCH may change.
const READ_ONLY: [&str; 3] = ["id", "meta", "schemas"];

impl PatchOp {
    /// Checks the message schema and the number of operations.
    ///
    /// # Errors
    /// `invalidSyntax` for a body that is not a `PatchOp`, `tooMany` past
    /// [`crate::MAX_PATCH_OPERATIONS`].
    pub fn validate(&self) -> Result<(), ScimError> {
        if !self.schemas.is_empty()
            && !self
                .schemas
                .iter()
                .any(|s| s.eq_ignore_ascii_case(crate::PATCH_OP_SCHEMA))
        {
            return Err(ScimError::invalid_syntax(format!(
                "A PATCH body has the schema {}.",
                crate::PATCH_OP_SCHEMA
            )));
        }
        if self.operations.is_empty() {
            return Err(ScimError::invalid_syntax("The PATCH has no Operations."));
        }
        if self.operations.len() > crate::MAX_PATCH_OPERATIONS {
            return Err(ScimError::bad(
                ScimType::TooMany,
                format!(
                    "At most {} operations per PATCH.",
                    crate::MAX_PATCH_OPERATIONS
                ),
            ));
        }
        Ok(())
    }

    /// Applies every operation, in order, to `resource`.
    ///
    /// # Errors
    /// The first operation that cannot apply: a bad path or filter, a missing value, a
    /// read-only attribute.
    pub fn apply(&self, resource: &mut Value, core_schema: &str) -> Result<(), ScimError> {
        self.validate()?;
        for op in &self.operations {
            apply_one(resource, op, core_schema)?;
        }
        Ok(())
    }
}

fn apply_one(resource: &mut Value, op: &PatchOperation, core: &str) -> Result<(), ScimError> {
    let kind = OpKind::parse(&op.op)?;
    match (&op.path, kind) {
        (Some(path), _)
            if PatchPath::is_schema_uri(path.trim()) && !path.trim().eq_ignore_ascii_case(core) =>
        {
            apply_extension(resource, kind, path.trim(), op.value.as_ref(), core)
        }
        (Some(path), _) if !path.trim().is_empty() => {
            let path = PatchPath::parse(path)?;
            apply_path(resource, kind, &path, op.value.as_ref(), core)
        }
        (_, OpKind::Remove) => Err(ScimError::bad(
            ScimType::NoTarget,
            "A remove operation needs a path.",
        )),
        (_, _) => {
            let Some(Value::Object(values)) = &op.value else {
                return Err(ScimError::invalid_value(
                    "An operation without a path needs an object value.",
                ));
            };
            for (key, value) in values {
                // Okta names the group's own `id` in a path-less replace: no change.
                if READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(key))
                    && get_ci(resource, key) == Some(value)
                {
                    continue;
                }
                if PatchPath::is_schema_uri(key) {
                    if let Value::Object(ext) = value {
                        merge_extension(resource, kind, key, ext, core)?;
                    }
                    continue;
                }
                let path = PatchPath::parse(key)?;
                apply_path(resource, kind, &path, Some(value), core)?;
            }
            Ok(())
        }
    }
}

/// An operation whose path is an extension's schema URI: `add` merges the value's attributes
/// into the extension, `replace` puts them in its place, `remove` removes the extension.
fn apply_extension(
    resource: &mut Value,
    kind: OpKind,
    uri: &str,
    value: Option<&Value>,
    core: &str,
) -> Result<(), ScimError> {
    let Some(root) = resource.as_object_mut() else {
        return Ok(());
    };
    let key = key_ci(root, uri);
    match (kind, value) {
        (OpKind::Remove, _) => {
            root.remove(&key);
            Ok(())
        }
        (_, Some(Value::Object(ext))) => {
            if kind == OpKind::Replace {
                root.remove(&key);
            }
            merge_extension(resource, OpKind::Add, uri, ext, core)
        }
        _ => Err(ScimError::invalid_value(format!(
            "The value for `{uri}` is an object of its attributes."
        ))),
    }
}

/// Applies each attribute of an extension object (its `schemas`, if sent, is not one).
fn merge_extension(
    resource: &mut Value,
    kind: OpKind,
    uri: &str,
    ext: &Map<String, Value>,
    core: &str,
) -> Result<(), ScimError> {
    for (sub, v) in ext {
        if sub.eq_ignore_ascii_case("schemas") {
            continue;
        }
        let path = PatchPath::parse(&format!("{uri}:{sub}"))?;
        apply_path(resource, kind, &path, Some(v), core)?;
    }
    Ok(())
}

/// The object a path's attribute lives in (the resource or an extension object), created
/// when asked.
fn container_mut<'a>(
    resource: &'a mut Value,
    attr: &AttrPath,
    core: &str,
    create: bool,
) -> Option<&'a mut Map<String, Value>> {
    let root = resource.as_object_mut()?;
    match &attr.uri {
        Some(uri) if !uri.eq_ignore_ascii_case(core) => {
            let key = key_ci(root, uri);
            if !root.contains_key(&key) {
                if !create {
                    return None;
                }
                root.insert(key.clone(), Value::Object(Map::new()));
            }
            let ext = root.get_mut(&key)?;
            if ext.is_null() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut()
        }
        _ => Some(root),
    }
}

fn apply_path(
    resource: &mut Value,
    kind: OpKind,
    path: &PatchPath,
    value: Option<&Value>,
    core: &str,
) -> Result<(), ScimError> {
    if path.attr.uri.is_none()
        && READ_ONLY
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&path.attr.name))
    {
        return Err(ScimError::bad(
            ScimType::Mutability,
            format!("`{}` is read-only.", path.attr.name),
        ));
    }
    let value = match (kind, value) {
        (OpKind::Remove, v) => v,
        (_, Some(v)) => Some(v),
        (_, None) => {
            return Err(ScimError::invalid_value(
                "An add or replace operation needs a value.",
            ))
        }
    };
    let create = kind != OpKind::Remove;
    let Some(obj) = container_mut(resource, &path.attr, core, create) else {
        return Ok(());
    };
    let key = key_ci(obj, &path.attr.name);
    match &path.filter {
        Some(filter) => apply_filtered(obj, &key, kind, path, filter, value, core),
        None => match &path.attr.sub {
            Some(sub) => {
                apply_sub(obj, &key, kind, sub, value);
                Ok(())
            }
            None => {
                apply_attr(obj, &key, kind, value);
                Ok(())
            }
        },
    }
}

/// `name` (no filter, no sub-attribute).
fn apply_attr(obj: &mut Map<String, Value>, key: &str, kind: OpKind, value: Option<&Value>) {
    match kind {
        OpKind::Remove => match (obj.get_mut(key), value) {
            // Member removal with the members in `value` (`[{"value": "id"}]`).
            (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
            }
            (Some(Value::Array(items)), Some(gone @ Value::Object(_))) => {
                items.retain(|item| !same_element(item, gone));
            }
            _ => {
                obj.remove(key);
            }
        },
        OpKind::Add => {
            let value = value.cloned().unwrap_or(Value::Null);
            match (obj.get_mut(key), value) {
                (Some(Value::Array(items)), Value::Array(new)) => {
                    for v in new {
                        if !items.iter().any(|i| same_element(i, &v)) {
                            items.push(v);
                        }
                    }
                }
                (Some(Value::Array(items)), v) => {
                    if !items.iter().any(|i| same_element(i, &v)) {
                        items.push(v);
                    }
                }
                (Some(Value::Object(existing)), Value::Object(new)) => {
                    merge(existing, new);
                }
                (_, v) => {
                    obj.insert(key.to_owned(), v);
                }
            }
        }
        OpKind::Replace => {
            let value = value.cloned().unwrap_or(Value::Null);
            match (obj.get_mut(key), value) {
                (Some(Value::Object(existing)), Value::Object(new)) => merge(existing, new),
                (_, v) => {
                    obj.insert(key.to_owned(), v);
                }
            }
        }
    }
}

/// `name.sub` (no filter): on a complex attribute, or on every element of a multi-valued one.
fn apply_sub(
    obj: &mut Map<String, Value>,
    key: &str,
    kind: OpKind,
    sub: &str,
    value: Option<&Value>,
) {
    let target = obj
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if target.is_null() {
        *target = Value::Object(Map::new());
    }
    let set = |o: &mut Map<String, Value>| {
        let k = key_ci(o, sub);
        match kind {
            OpKind::Remove => {
                o.remove(&k);
            }
            _ => {
                o.insert(k, value.cloned().unwrap_or(Value::Null));
            }
        }
    };
    match target {
        Value::Object(o) => set(o),
        Value::Array(items) => items
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(set),
        _ => {}
    }
}

/// `name[filter]` and `name[filter].sub`.
fn apply_filtered(
    obj: &mut Map<String, Value>,
    key: &str,
    kind: OpKind,
    path: &PatchPath,
    filter: &Filter,
    value: Option<&Value>,
    core: &str,
) -> Result<(), ScimError> {
    let matches = |item: &Value| {
        let wrapper = serde_json::json!({ path.attr.name.clone(): [item] });
        Filter::ValuePath {
            path: path.attr.with_sub(None).without_uri(),
            filter: Box::new(filter.clone()),
        }
        .matches(&wrapper, core)
    };
    let items = match obj.get_mut(key) {
        Some(Value::Array(items)) => items,
        _ if kind == OpKind::Remove => return Ok(()),
        _ => {
            obj.insert(key.to_owned(), Value::Array(Vec::new()));
            match obj.get_mut(key) {
                Some(Value::Array(items)) => items,
                _ => return Ok(()),
            }
        }
    };
    let hits: Vec<usize> = (0..items.len()).filter(|&i| matches(&items[i])).collect();
    match (kind, &path.sub) {
        (OpKind::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !hits.contains(&i);
                i += 1;
                keep
            });
        }
        (OpKind::Remove, Some(sub)) => {
            for &i in &hits {
                if let Some(o) = items[i].as_object_mut() {
                    let k = key_ci(o, sub);
                    o.remove(&k);
                }
            }
        }
        (_, sub) if hits.is_empty() => {
            // No element yet: build one from the filter's equalities (`type eq "work"`).
            let mut element = Map::new();
            equalities(filter, &mut element);
            match (sub, value) {
                (Some(sub), Some(v)) => {
                    element.insert(sub.clone(), v.clone());
                }
                (None, Some(Value::Object(v))) => merge(&mut element, v.clone()),
                _ => {
                    return Err(ScimError::bad(
                        ScimType::NoTarget,
                        "The value filter matches no element.",
                    ))
                }
            }
            items.push(Value::Object(element));
        }
        (_, Some(sub)) => {
            for &i in &hits {
                if let Some(o) = items[i].as_object_mut() {
                    let k = key_ci(o, sub);
                    o.insert(k, value.cloned().unwrap_or(Value::Null));
                }
            }
        }
        (_, None) => {
            for &i in &hits {
                match (&mut items[i], value) {
                    (Value::Object(o), Some(Value::Object(v))) => merge(o, v.clone()),
                    (item, Some(v)) => *item = v.clone(),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

impl AttrPath {
    fn without_uri(&self) -> Self {
        Self {
            uri: None,
            name: self.name.clone(),
            sub: self.sub.clone(),
        }
    }
}

/// Collects `attr eq "value"` terms joined by `and`.
fn equalities(filter: &Filter, into: &mut Map<String, Value>) {
    match filter {
        Filter::Compare {
            path,
            op: CompareOp::Eq,
            value,
        } if path.sub.is_none() => {
            into.insert(path.name.clone(), value.clone());
        }
        Filter::And(a, b) => {
            equalities(a, into);
            equalities(b, into);
        }
        _ => {}
    }
}

/// Merges sub-attributes (case-insensitive keys).
fn merge(existing: &mut Map<String, Value>, new: Map<String, Value>) {
    for (k, v) in new {
        let key = key_ci(existing, &k);
        existing.insert(key, v);
    }
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (or, without
/// `value`s, when they are equal).
fn same_element(a: &Value, b: &Value) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "schemas": [crate::USER_SCHEMA],
            "id": "u1", "userName": "ada", "active": true,
            "name": {"givenName": "Ada", "familyName": "Lovelace"},
            "emails": [{"value": "ada@example.org", "type": "work", "primary": true}],
        })
    }

    fn patch(ops: Value) -> PatchOp {
        serde_json::from_value(json!({"schemas": [crate::PATCH_OP_SCHEMA], "Operations": ops}))
            .unwrap()
    }

    #[test]
    fn entra_pathless_replace_with_dotted_keys_and_string_booleans() {
        let mut u = user();
        patch(json!([{"op": "Replace", "value": {
            "name.givenName": "Augusta", "active": "False",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Math"}}]))
        .apply(&mut u, crate::USER_SCHEMA)
        .unwrap();
        assert_eq!(u["name"]["givenName"], "Augusta");
        assert_eq!(u["name"]["familyName"], "Lovelace");
        assert_eq!(u["active"], "False");
        assert_eq!(u[crate::ENTERPRISE_USER_SCHEMA]["department"], "Math");
    }

    #[test]
    fn value_filter_paths() {
        let mut u = user();
        patch(json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@x.org"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap();
        assert_eq!(u["emails"][0]["value"], "a@x.org");
        patch(json!([{"op": "add", "path": "emails[type eq \"home\"].value", "value": "h@x.org"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap();
        assert_eq!(u["emails"][1], json!({"type": "home", "value": "h@x.org"}));
        patch(json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap();
        assert_eq!(u["emails"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn both_shapes_of_member_removal() {
        let mut g = json!({"members": [{"value": "a"}, {"value": "b"}, {"value": "c"}]});
        patch(json!([{"op": "Remove", "path": "members[value eq \"a\"]"}]))
            .apply(&mut g, crate::GROUP_SCHEMA)
            .unwrap();
        patch(json!([{"op": "remove", "path": "members", "value": [{"value": "b"}]}]))
            .apply(&mut g, crate::GROUP_SCHEMA)
            .unwrap();
        assert_eq!(g["members"], json!([{"value": "c"}]));
        patch(json!([{"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "d"}]}]))
            .apply(&mut g, crate::GROUP_SCHEMA)
            .unwrap();
        assert_eq!(g["members"], json!([{"value": "c"}, {"value": "d"}]));
        patch(json!([{"op": "remove", "path": "members"}]))
            .apply(&mut g, crate::GROUP_SCHEMA)
            .unwrap();
        assert!(g.get("members").is_none());
    }

    #[test]
    fn refuses_what_cannot_apply() {
        let mut u = user();
        let e = patch(json!([{"op": "replace", "path": "id", "value": "x"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::Mutability));
        let e = patch(json!([{"op": "move", "path": "userName", "value": "x"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        let e = patch(json!([{"op": "remove"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        let e = patch(json!([{"op": "add", "path": "emails[type eq ]", "value": "x"}]))
            .apply(&mut u, crate::USER_SCHEMA)
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidFilter));
    }

    #[test]
    fn debug_hides_values() {
        let p = PatchOp::new(vec![PatchOperation::replace("password", json!("hunter2"))]);
        assert!(!format!("{p:?}").contains("hunter2"));
        let body = serde_json::to_value(&p).unwrap();
        assert_eq!(body["Operations"][0]["op"], "replace");
        assert_eq!(body["schemas"][0], crate::PATCH_OP_SCHEMA);
    }
}
