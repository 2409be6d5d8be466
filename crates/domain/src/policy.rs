//! Device policies: a rule over a device's reported facts, as data.
//!
//! A rule is a JSON document:
//! `{"fact": "disk_encryption", "op": "eq", "value": true}`, or a combination
//! `{"all": [rule, ...]}`, `{"any": [rule, ...]}`, `{"not": rule}`. Facts are looked up by dotted
//! path in the device's `facts` object. Operators: `eq`, `ne`, `gt`, `gte`, `lt`, `lte` (numbers),
//! `in` (value is an array), `contains` (fact is a string or array), `exists` (value is a bool),
//! `version_gte`, `version_lt` (dotted version strings such as `14.6.1`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::device::Platform;
use crate::page::{Cursor, SortDir};
use crate::patch::double_option;
use crate::validation::{is_valid_name, ValidationErrors};

/// Deepest nesting and most conditions a rule may have.
pub const MAX_RULE_DEPTH: usize = 8;
pub const MAX_RULE_NODES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum PolicyCategory {
    #[default]
    Security,
    Network,
    Updates,
    Compliance,
    Software,
    Other,
}

impl PolicyCategory {
    pub const ALL: [PolicyCategory; 6] = [
        PolicyCategory::Security,
        PolicyCategory::Network,
        PolicyCategory::Updates,
        PolicyCategory::Compliance,
        PolicyCategory::Software,
        PolicyCategory::Other,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyCategory::Security => "security",
            PolicyCategory::Network => "network",
            PolicyCategory::Updates => "updates",
            PolicyCategory::Compliance => "compliance",
            PolicyCategory::Software => "software",
            PolicyCategory::Other => "other",
        }
    }
}

impl std::str::FromStr for PolicyCategory {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PolicyCategory::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown category `{s}`"))
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    ToSchema,
    Default,
    PartialOrd,
    Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    #[default]
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl std::str::FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Severity::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown severity `{s}`"))
    }
}

/// A validated rule document (see the module documentation for the grammar).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object, example = json!({"all": [{"fact": "disk_encryption", "op": "eq", "value": true},
    {"fact": "os_version", "op": "version_gte", "value": "14.0"}]}))]
pub struct PolicyRule(pub Value);

impl PolicyRule {
    /// Checks the rule's structure.
    ///
    /// # Errors
    /// A message naming the JSON path of the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let mut nodes = 0;
        check_rule(&self.0, "rule", 0, &mut nodes)
    }

    /// Whether the facts satisfy the rule. Missing facts fail every condition except
    /// `exists: false`.
    #[must_use]
    pub fn evaluate(&self, facts: &Value) -> bool {
        eval_rule(&self.0, facts)
    }
}

const OPS: [&str; 11] = [
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "contains",
    "exists",
    "version_gte",
    "version_lt",
];

fn check_rule(v: &Value, path: &str, depth: usize, nodes: &mut usize) -> Result<(), String> {
    *nodes += 1;
    if depth > MAX_RULE_DEPTH {
        return Err(format!(
            "{path}: nested deeper than {MAX_RULE_DEPTH} levels"
        ));
    }
    if *nodes > MAX_RULE_NODES {
        return Err(format!("{path}: more than {MAX_RULE_NODES} conditions"));
    }
    let Some(obj) = v.as_object() else {
        return Err(format!("{path}: must be an object"));
    };
    for key in ["all", "any"] {
        if let Some(list) = obj.get(key) {
            if obj.len() != 1 {
                return Err(format!("{path}: `{key}` must be the only key"));
            }
            let Some(items) = list.as_array().filter(|a| !a.is_empty()) else {
                return Err(format!("{path}.{key}: must be a non-empty array of rules"));
            };
            for (i, item) in items.iter().enumerate() {
                check_rule(item, &format!("{path}.{key}[{i}]"), depth + 1, nodes)?;
            }
            return Ok(());
        }
    }
    if let Some(inner) = obj.get("not") {
        if obj.len() != 1 {
            return Err(format!("{path}: `not` must be the only key"));
        }
        return check_rule(inner, &format!("{path}.not"), depth + 1, nodes);
    }
    let fact = obj
        .get("fact")
        .and_then(Value::as_str)
        .filter(|f| !f.is_empty() && f.len() <= 200);
    if fact.is_none() {
        return Err(format!(
            "{path}: needs `fact` (a non-empty string), or one of `all`, `any`, `not`"
        ));
    }
    let Some(op) = obj.get("op").and_then(Value::as_str) else {
        return Err(format!("{path}.op: required, one of {}", OPS.join(", ")));
    };
    if !OPS.contains(&op) {
        return Err(format!(
            "{path}.op: `{op}` is not one of {}",
            OPS.join(", ")
        ));
    }
    if obj
        .keys()
        .any(|k| !matches!(k.as_str(), "fact" | "op" | "value"))
    {
        return Err(format!(
            "{path}: only `fact`, `op` and `value` are allowed in a condition"
        ));
    }
    let value = obj.get("value");
    let ok = match op {
        "exists" => value.is_none_or(Value::is_boolean),
        "gt" | "gte" | "lt" | "lte" => value.is_some_and(Value::is_number),
        "in" => value.is_some_and(Value::is_array),
        "version_gte" | "version_lt" => value
            .and_then(Value::as_str)
            .is_some_and(|s| parse_version(s).is_some()),
        _ => value.is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{path}.value: not valid for `{op}`"))
    }
}

fn lookup<'a>(facts: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(facts, |v, key| v.get(key))
}

fn eval_rule(rule: &Value, facts: &Value) -> bool {
    if let Some(items) = rule.get("all").and_then(Value::as_array) {
        return items.iter().all(|r| eval_rule(r, facts));
    }
    if let Some(items) = rule.get("any").and_then(Value::as_array) {
        return items.iter().any(|r| eval_rule(r, facts));
    }
    if let Some(inner) = rule.get("not") {
        return !eval_rule(inner, facts);
    }
    let (Some(path), Some(op)) = (
        rule.get("fact").and_then(Value::as_str),
        rule.get("op").and_then(Value::as_str),
    ) else {
        return false;
    };
    let expected = rule.get("value").unwrap_or(&Value::Null);
    let actual = lookup(facts, path);
    if op == "exists" {
        return actual.is_some() == expected.as_bool().unwrap_or(true);
    }
    let Some(actual) = actual else { return false };
    let num = |v: &Value| v.as_f64();
    match op {
        "eq" => actual == expected,
        "ne" => actual != expected,
        "gt" => matches!((num(actual), num(expected)), (Some(a), Some(b)) if a > b),
        "gte" => matches!((num(actual), num(expected)), (Some(a), Some(b)) if a >= b),
        "lt" => matches!((num(actual), num(expected)), (Some(a), Some(b)) if a < b),
        "lte" => matches!((num(actual), num(expected)), (Some(a), Some(b)) if a <= b),
        "in" => expected
            .as_array()
            .is_some_and(|list| list.contains(actual)),
        "contains" => match actual {
            Value::String(s) => expected.as_str().is_some_and(|e| s.contains(e)),
            Value::Array(a) => a.contains(expected),
            _ => false,
        },
        "version_gte" | "version_lt" => {
            let (Some(a), Some(b)) = (
                actual.as_str().and_then(parse_version),
                expected.as_str().and_then(parse_version),
            ) else {
                return false;
            };
            (a >= b) == (op == "version_gte")
        }
        _ => false,
    }
}

/// Parses a dotted numeric version (`14.6.1`, `10.0.22631`), padded to four parts for comparison.
fn parse_version(s: &str) -> Option<[u64; 4]> {
    let mut out = [0u64; 4];
    let mut parts = 0;
    for (i, p) in s.trim().split('.').enumerate() {
        if i >= 4 {
            return None;
        }
        out[i] = p.parse().ok()?;
        parts += 1;
    }
    (parts > 0).then_some(out)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "01936b6e-8f2a-7c3e-9a51-3f1c2d4e5f63", "name": "disk-encryption", "description": "Disks must be encrypted",
    "category": "security", "platforms": ["windows", "macos"], "rule": {"fact": "disk_encryption", "op": "eq", "value": true},
    "severity": "high", "enabled": true, "remediation": "Turn on BitLocker or FileVault.",
    "version": 1, "created_at": "2026-09-01T08:00:00Z", "updated_at": "2026-09-01T08:00:00Z"}))]
pub struct Policy {
    pub id: Uuid,
    /// Unique short name: letters, digits, '.', '_' or '-'.
    pub name: String,
    pub description: Option<String>,
    pub category: PolicyCategory,
    /// Platforms the policy applies to; empty means all.
    pub platforms: Vec<Platform>,
    pub rule: PolicyRule,
    pub severity: Severity,
    pub enabled: bool,
    /// What to do about a failing device.
    pub remediation: Option<String>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Policy {
    /// Whether the policy applies to a platform.
    #[must_use]
    pub fn applies_to(&self, p: Platform) -> bool {
        self.enabled && (self.platforms.is_empty() || self.platforms.contains(&p))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "disk-encryption", "category": "security", "platforms": ["windows", "macos"],
    "rule": {"fact": "disk_encryption", "op": "eq", "value": true}, "severity": "high",
    "remediation": "Turn on BitLocker or FileVault."}))]
pub struct NewPolicy {
    #[schema(schema_with = crate::schema::name)]
    pub name: String,
    #[schema(schema_with = crate::schema::opt_text_2000)]
    pub description: Option<String>,
    pub category: PolicyCategory,
    #[serde(default)]
    pub platforms: Vec<Platform>,
    pub rule: PolicyRule,
    #[serde(default)]
    pub severity: Severity,
    /// Defaults to true.
    pub enabled: Option<bool>,
    #[schema(schema_with = crate::schema::opt_text_4000)]
    pub remediation: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false, "version": 2}))]
pub struct PolicyPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = crate::schema::name_or_null)]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_2000)]
    pub description: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<PolicyCategory>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platforms: Option<Vec<Platform>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<PolicyRule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(schema_with = crate::schema::opt_text_4000)]
    pub remediation: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl NewPolicy {
    /// Validates the input and builds the policy.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn into_policy(self, id: Uuid, now: DateTime<Utc>) -> Result<Policy, ValidationErrors> {
        let mut p = Policy {
            id,
            name: self.name,
            description: self.description,
            category: self.category,
            platforms: self.platforms,
            rule: self.rule,
            severity: self.severity,
            enabled: self.enabled.unwrap_or(true),
            remediation: self.remediation,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        normalize(&mut p)?;
        Ok(p)
    }
}

impl Policy {
    /// Applies a patch and validates the result.
    ///
    /// # Errors
    /// Every field problem found.
    pub fn patched(
        &self,
        patch: PolicyPatch,
        now: DateTime<Utc>,
    ) -> Result<Policy, ValidationErrors> {
        let mut p = self.clone();
        if let Some(v) = patch.name {
            p.name = v;
        }
        if let Some(v) = patch.description {
            p.description = v;
        }
        if let Some(v) = patch.category {
            p.category = v;
        }
        if let Some(v) = patch.platforms {
            p.platforms = v;
        }
        if let Some(v) = patch.rule {
            p.rule = v;
        }
        if let Some(v) = patch.severity {
            p.severity = v;
        }
        if let Some(v) = patch.enabled {
            p.enabled = v;
        }
        if let Some(v) = patch.remediation {
            p.remediation = v;
        }
        normalize(&mut p)?;
        if p != *self {
            p.version = self.version + 1;
            p.updated_at = now;
        }
        Ok(p)
    }
}

fn normalize(p: &mut Policy) -> Result<(), ValidationErrors> {
    let mut e = ValidationErrors::default();
    p.name = p.name.trim().to_owned();
    if !is_valid_name(&p.name) {
        e.add(
            "name",
            "must be 1–100 characters: letters, digits, '.', '_' or '-'",
        );
    }
    p.description = e.opt_text("description", p.description.as_deref(), 2000);
    p.remediation = e.opt_text("remediation", p.remediation.as_deref(), 4000);
    p.platforms.sort_by_key(|x| x.as_str());
    p.platforms.dedup();
    if let Err(msg) = p.rule.validate() {
        e.add("rule", msg);
    } else if crate::validation::contains_nul(&p.rule.0) {
        e.add("rule", "must not contain NUL characters");
    }
    e.into_result(())
}

#[derive(Debug, Clone, Default)]
pub struct PolicyQuery {
    pub category: Option<PolicyCategory>,
    pub platform: Option<Platform>,
    pub enabled: Option<bool>,
    pub q: Option<String>,
    pub dir: SortDir,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

/// A device's compliance against the enabled policies that apply to its platform: compliant
/// when it passes all of them (or none apply), noncompliant when it fails any.
#[must_use]
pub fn evaluate_compliance(device: &crate::Device, policies: &[Policy]) -> crate::Compliance {
    if failing_policies(device, policies).next().is_some() {
        crate::Compliance::Noncompliant
    } else {
        crate::Compliance::Compliant
    }
}

/// The enabled policies that apply to the device's platform and that it fails, in the order
/// given.
pub fn failing_policies<'a>(
    device: &'a crate::Device,
    policies: &'a [Policy],
) -> impl Iterator<Item = &'a Policy> + 'a {
    policies
        .iter()
        .filter(move |p| p.applies_to(device.platform) && !p.rule.evaluate(&device.facts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_structure() {
        assert!(PolicyRule(json!({"fact": "a", "op": "eq", "value": 1}))
            .validate()
            .is_ok());
        assert!(PolicyRule(json!({"all": [{"fact": "a", "op": "exists"}]}))
            .validate()
            .is_ok());
        let e = PolicyRule(json!({"all": [{"fact": "a", "op": "bogus", "value": 1}]}))
            .validate()
            .unwrap_err();
        assert!(e.starts_with("rule.all[0].op"), "{e}");
        assert!(PolicyRule(json!({"all": []})).validate().is_err());
        assert!(PolicyRule(json!({"fact": "a", "op": "gt", "value": "x"}))
            .validate()
            .is_err());
        assert!(PolicyRule(json!("yes")).validate().is_err());
        let mut deep = json!({"fact": "a", "op": "exists"});
        for _ in 0..10 {
            deep = json!({"not": deep});
        }
        assert!(PolicyRule(deep).validate().is_err());
    }

    #[test]
    fn evaluates() {
        let facts = json!({"disk_encryption": true, "os_version": "14.6.1", "battery": {"health": 81}, "apps": ["zoom"]});
        let t = |r: Value| PolicyRule(r).evaluate(&facts);
        assert!(t(
            json!({"fact": "disk_encryption", "op": "eq", "value": true})
        ));
        assert!(t(
            json!({"fact": "os_version", "op": "version_gte", "value": "14.2"})
        ));
        assert!(!t(
            json!({"fact": "os_version", "op": "version_gte", "value": "14.10"})
        ));
        assert!(t(
            json!({"fact": "battery.health", "op": "gte", "value": 80})
        ));
        assert!(t(
            json!({"fact": "apps", "op": "contains", "value": "zoom"})
        ));
        assert!(t(
            json!({"fact": "firewall", "op": "exists", "value": false})
        ));
        assert!(!t(json!({"fact": "firewall", "op": "eq", "value": true})));
        assert!(t(
            json!({"any": [{"fact": "x", "op": "exists"}, {"not": {"fact": "x", "op": "exists"}}]})
        ));
    }
}
