//! WAF custom rules through the Rulesets API: the zone's `http_request_firewall_custom`
//! phase entrypoint. Rules whose `ref` starts with the managed prefix are ours; every other
//! rule is written back as it was, in its place, on every update.

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::client::CloudflareClient;
use super::config::{DeleteGuard, WafRuleSpec};
use super::guard::check_deletes;
use crate::TargetError;

/// The phase WAF custom rules live in.
pub const PHASE: &str = "http_request_firewall_custom";
/// Fields Cloudflare sets itself; they are not sent back.
const READ_ONLY: [&str; 3] = ["last_updated", "version", "categories"];

/// A managed rule as declared or found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WafRule {
    #[serde(rename = "ref")]
    pub rule_ref: String,
    pub expression: String,
    pub action: String,
    pub description: String,
    pub enabled: bool,
}

/// What `apply` would do to one zone's custom rules.
#[derive(Debug, Clone, Serialize)]
pub struct WafPlan {
    pub zone: String,
    pub zone_id: String,
    pub creates: Vec<WafRule>,
    pub updates: Vec<WafRule>,
    pub deletes: Vec<WafRule>,
    /// Rules not ours, kept as they are.
    pub unmanaged_count: usize,
    pub managed_count: usize,
    /// The rules as found (each a Cloudflare rule object), for apply to rebuild the list.
    #[serde(skip)]
    existing: Vec<Value>,
    #[serde(skip)]
    desired: Vec<WafRule>,
}

impl WafPlan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

fn rule_ref(prefix: &str, name: &str) -> String {
    format!("{prefix}:{name}")
}

fn from_api(v: &Value) -> WafRule {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    WafRule {
        rule_ref: s("ref"),
        expression: s("expression"),
        action: s("action"),
        description: s("description"),
        enabled: v.get("enabled").and_then(Value::as_bool).unwrap_or(true),
    }
}

/// Reads the entrypoint (none yet is an empty list) and compares (read-only).
///
/// # Errors
/// The API failing.
pub async fn plan(
    client: &CloudflareClient,
    zone: &str,
    zone_id: &str,
    prefix: &str,
    declared: &[WafRuleSpec],
) -> Result<WafPlan, TargetError> {
    let path = format!("/zones/{zone_id}/rulesets/phases/{PHASE}/entrypoint");
    let existing = match client.get_optional(&path).await? {
        Some(r) => r
            .get("rules")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let marker = format!("{prefix}:");
    let managed: Vec<WafRule> = existing
        .iter()
        .map(from_api)
        .filter(|r| r.rule_ref.starts_with(&marker))
        .collect();
    let desired: Vec<WafRule> = declared
        .iter()
        .filter(|w| w.zone == zone)
        .map(|w| WafRule {
            rule_ref: rule_ref(prefix, &w.name),
            expression: w.expression.clone(),
            action: w.action.clone(),
            description: w.description.clone(),
            enabled: w.enabled,
        })
        .collect();
    let mut plan = WafPlan {
        zone: zone.to_owned(),
        zone_id: zone_id.to_owned(),
        creates: vec![],
        updates: vec![],
        deletes: vec![],
        unmanaged_count: existing.len() - managed.len(),
        managed_count: managed.len(),
        existing,
        desired: desired.clone(),
    };
    for d in &desired {
        match managed.iter().find(|m| m.rule_ref == d.rule_ref) {
            Some(m) if m == d => {}
            Some(_) => plan.updates.push(d.clone()),
            None => plan.creates.push(d.clone()),
        }
    }
    plan.deletes = managed
        .into_iter()
        .filter(|m| !desired.iter().any(|d| d.rule_ref == m.rule_ref))
        .collect();
    Ok(plan)
}

/// Writes the entrypoint's rule list: unmanaged rules unchanged and in place, managed rules
/// (keeping their ids) in declared order after them.
///
/// # Errors
/// The guard refusing, or the API failing.
pub async fn apply(
    client: &CloudflareClient,
    plan: &WafPlan,
    prefix: &str,
    guard: &DeleteGuard,
    force: bool,
) -> Result<usize, TargetError> {
    if plan.is_empty() {
        return Ok(0);
    }
    if !force {
        check_deletes(guard, "WAF rules", plan.deletes.len(), plan.managed_count)?;
    }
    let marker = format!("{prefix}:");
    let is_ours = |r: &Value| {
        r.get("ref")
            .and_then(Value::as_str)
            .is_some_and(|s| s.starts_with(&marker))
    };
    let mut rules: Vec<Value> = plan
        .existing
        .iter()
        .filter(|r| !is_ours(r))
        .map(writable)
        .collect();
    for d in &plan.desired {
        let mut rule = json!({
            "ref": d.rule_ref,
            "expression": d.expression,
            "action": d.action,
            "description": d.description,
            "enabled": d.enabled,
        });
        if let Some(id) = plan
            .existing
            .iter()
            .find(|r| r.get("ref").and_then(Value::as_str) == Some(&d.rule_ref))
            .and_then(|r| r.get("id"))
        {
            rule["id"] = id.clone();
        }
        rules.push(rule);
    }
    let path = format!("/zones/{}/rulesets/phases/{PHASE}/entrypoint", plan.zone_id);
    client
        .send(Method::PUT, &path, &[], Some(&json!({ "rules": rules })))
        .await?;
    Ok(plan.creates.len() + plan.updates.len() + plan.deletes.len())
}

/// A found rule without the fields only Cloudflare writes.
fn writable(rule: &Value) -> Value {
    let mut m: Map<String, Value> = rule.as_object().cloned().unwrap_or_default();
    for k in READ_ONLY {
        m.remove(k);
    }
    Value::Object(m)
}
