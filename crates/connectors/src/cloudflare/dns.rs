//! DNS records as declared state: plan (read-only) and apply (converging), touching only
//! records whose comment carries the managed prefix.

use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::client::CloudflareClient;
use super::config::{DeleteGuard, DnsRecordSpec};
use super::guard::check_deletes;
use crate::TargetError;

/// A record as the plan shows it (declared or found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsRecord {
    #[serde(rename = "type")]
    pub record_type: String,
    pub name: String,
    pub content: String,
    pub ttl: u32,
    pub proxied: bool,
    pub comment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u16>,
}

/// An existing record and its id.
#[derive(Debug, Clone, Serialize)]
pub struct FoundRecord {
    pub id: String,
    #[serde(flatten)]
    pub record: DnsRecord,
}

/// An update: the id, what is there and what will be.
#[derive(Debug, Clone, Serialize)]
pub struct DnsUpdate {
    pub id: String,
    pub before: DnsRecord,
    pub after: DnsRecord,
}

/// What `apply` would do in one zone.
#[derive(Debug, Clone, Serialize)]
pub struct DnsPlan {
    pub zone: String,
    pub zone_id: String,
    pub creates: Vec<DnsRecord>,
    pub updates: Vec<DnsUpdate>,
    pub deletes: Vec<FoundRecord>,
    /// Declared records that match a record this service does not manage: left alone.
    pub conflicts: Vec<FoundRecord>,
    /// How many managed records the zone holds now (the delete guard's base).
    pub managed_count: usize,
}

impl DnsPlan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty() && self.updates.is_empty() && self.deletes.is_empty()
    }
}

/// The comment a declared record carries: the prefix, then the operator's text.
#[must_use]
pub fn managed_comment(prefix: &str, comment: &str) -> String {
    if comment.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix} {comment}")
    }
}

impl DnsRecord {
    fn from_spec(s: &DnsRecordSpec, prefix: &str) -> Self {
        Self {
            record_type: s.record_type.clone(),
            name: s.name.to_ascii_lowercase(),
            content: s.content.clone(),
            ttl: s.ttl,
            proxied: s.proxied,
            comment: managed_comment(prefix, &s.comment),
            priority: s.priority,
        }
    }

    fn from_api(v: &Value) -> Option<FoundRecord> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let id = s("id");
        if id.is_empty() {
            return None;
        }
        Some(FoundRecord {
            id,
            record: Self {
                record_type: s("type"),
                name: s("name").to_ascii_lowercase(),
                content: s("content"),
                ttl: v.get("ttl").and_then(Value::as_f64).map_or(1, |t| t as u32),
                proxied: v.get("proxied").and_then(Value::as_bool).unwrap_or(false),
                comment: s("comment"),
                priority: v
                    .get("priority")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok()),
            },
        })
    }

    /// The request body for create and update.
    #[must_use]
    pub fn body(&self) -> Value {
        let mut b = json!({
            "type": self.record_type,
            "name": self.name,
            "content": self.content,
            "ttl": self.ttl,
            "comment": self.comment,
        });
        if matches!(self.record_type.as_str(), "A" | "AAAA" | "CNAME") {
            b["proxied"] = json!(self.proxied);
        }
        if let Some(p) = self.priority {
            b["priority"] = json!(p);
        }
        b
    }

    fn same_identity(&self, other: &Self) -> bool {
        self.record_type == other.record_type && self.name == other.name
    }
}

/// Reads the zone's records and compares them with the declared ones (read-only).
///
/// # Errors
/// The API failing.
pub async fn plan(
    client: &CloudflareClient,
    zone: &str,
    zone_id: &str,
    prefix: &str,
    declared: &[DnsRecordSpec],
) -> Result<DnsPlan, TargetError> {
    let items = client
        .list_all(
            &format!("/zones/{zone_id}/dns_records"),
            &[],
            super::client::DNS_PER_PAGE,
        )
        .await?;
    let found: Vec<FoundRecord> = items.iter().filter_map(DnsRecord::from_api).collect();
    let desired: Vec<DnsRecord> = declared
        .iter()
        .filter(|s| s.zone == zone)
        .map(|s| DnsRecord::from_spec(s, prefix))
        .collect();
    Ok(diff(zone, zone_id, prefix, desired, found))
}

/// Pairs declared with managed records: exact matches first, then same type and name
/// (an update), the rest created or deleted. Unmanaged records are never paired.
fn diff(
    zone: &str,
    zone_id: &str,
    prefix: &str,
    desired: Vec<DnsRecord>,
    found: Vec<FoundRecord>,
) -> DnsPlan {
    let (mut managed, unmanaged): (Vec<_>, Vec<_>) = found
        .into_iter()
        .partition(|f| f.record.comment.starts_with(prefix));
    let managed_count = managed.len();
    let mut rest = Vec::new();
    for d in desired {
        if let Some(i) = managed
            .iter()
            .position(|f| f.record.same_identity(&d) && f.record.content == d.content)
        {
            let f = managed.remove(i);
            if f.record != d {
                rest.push((d, Some(f)));
            }
        } else {
            rest.push((d, None));
        }
    }
    let mut plan = DnsPlan {
        zone: zone.to_owned(),
        zone_id: zone_id.to_owned(),
        creates: vec![],
        updates: vec![],
        deletes: vec![],
        conflicts: vec![],
        managed_count,
    };
    for (d, exact) in rest {
        let target = exact.or_else(|| {
            managed
                .iter()
                .position(|f| f.record.same_identity(&d))
                .map(|i| managed.remove(i))
        });
        match target {
            Some(f) => plan.updates.push(DnsUpdate {
                id: f.id,
                before: f.record,
                after: d,
            }),
            None => {
                if let Some(u) = unmanaged
                    .iter()
                    .find(|u| u.record.same_identity(&d) && u.record.content == d.content)
                {
                    plan.conflicts.push(u.clone());
                } else {
                    plan.creates.push(d);
                }
            }
        }
    }
    plan.deletes = managed;
    plan
}

/// Carries a plan out: deletes (after the guard), updates, then creates.
///
/// # Errors
/// The guard refusing (permanent), or the API failing; already-made changes stay made and
/// the next plan shows what is left.
pub async fn apply(
    client: &CloudflareClient,
    plan: &DnsPlan,
    guard: &DeleteGuard,
    force: bool,
) -> Result<usize, TargetError> {
    if !force {
        check_deletes(guard, "DNS records", plan.deletes.len(), plan.managed_count)?;
    }
    let base = format!("/zones/{}/dns_records", plan.zone_id);
    let mut changed = 0;
    for d in &plan.deletes {
        client
            .send(
                Method::DELETE,
                &format!("{base}/{}", d.id),
                &[],
                Some(&json!({})),
            )
            .await?;
        changed += 1;
    }
    for u in &plan.updates {
        client
            .send(
                Method::PATCH,
                &format!("{base}/{}", u.id),
                &[],
                Some(&u.after.body()),
            )
            .await?;
        changed += 1;
    }
    for c in &plan.creates {
        client
            .send(Method::POST, &base, &[], Some(&c.body()))
            .await?;
        changed += 1;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: &str, n: &str, c: &str, comment: &str) -> DnsRecord {
        DnsRecord {
            record_type: t.into(),
            name: n.into(),
            content: c.into(),
            ttl: 1,
            proxied: false,
            comment: comment.into(),
            priority: None,
        }
    }

    fn found(id: &str, r: DnsRecord) -> FoundRecord {
        FoundRecord {
            id: id.into(),
            record: r,
        }
    }

    #[test]
    fn unmanaged_records_are_never_touched() {
        let p = "cc";
        let plan = diff(
            "z",
            "zid",
            p,
            vec![rec("A", "a.z", "192.0.2.1", "cc")],
            vec![
                found("1", rec("A", "a.z", "192.0.2.9", "hand-made")),
                found("2", rec("TXT", "t.z", "x", "cc old")),
            ],
        );
        assert_eq!(plan.creates.len(), 1);
        assert!(plan.updates.is_empty());
        assert_eq!(plan.deletes.len(), 1);
        assert_eq!(plan.deletes[0].id, "2");
        assert_eq!(plan.managed_count, 1);
    }

    #[test]
    fn same_type_and_name_is_an_update() {
        let plan = diff(
            "z",
            "zid",
            "cc",
            vec![rec("CNAME", "w.z", "new.example", "cc")],
            vec![found("1", rec("CNAME", "w.z", "old.example", "cc"))],
        );
        assert_eq!(plan.updates.len(), 1);
        assert!(plan.creates.is_empty() && plan.deletes.is_empty());
    }
}
