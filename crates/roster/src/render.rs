//! Showing a plan: a summary table for people, JSON for machines, CSV for row errors.

use std::io::Write;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::Serialize;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::guards::Refusal;
use crate::model::{Roster, RowError};
use crate::plan::{ChangeKind, DirectoryView, Plan, PlanCounts, UserChange};

/// The counts as an aligned two-column table.
#[must_use]
pub fn summary_table(c: &PlanCounts) -> String {
    let rows = [
        ("rows read", c.rows),
        ("create", c.created),
        ("update", c.updated),
        ("move (school or grade)", c.moved),
        ("suspend", c.suspended),
        ("reactivate", c.reactivated),
        ("unchanged", c.unchanged),
        ("blocked", c.blocked),
        ("skipped", c.skipped),
        ("row errors", c.errors),
        ("groups to create", c.groups_created),
        ("memberships added", c.memberships_added),
        ("memberships removed", c.memberships_removed),
        ("lifecycle jobs", c.lifecycle_jobs),
    ];
    let mut out = format!("{:<24} {:>10}\n", "CHANGE", "COUNT");
    for (k, v) in rows {
        out.push_str(&format!("{k:<24} {v:>10}\n"));
    }
    out
}

/// Writes row errors as CSV: `file,line,field,message`.
///
/// # Errors
/// Writing fails.
pub fn errors_csv<'e, W: Write>(
    errors: impl Iterator<Item = &'e RowError>,
    w: W,
) -> std::io::Result<()> {
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record(["file", "line", "field", "message"])?;
    for e in errors {
        wr.write_record([
            e.file.as_str(),
            &e.line.to_string(),
            e.field.as_str(),
            e.message.as_str(),
        ])?;
    }
    wr.flush()
}

fn user_value(u: &cc_domain::User, field: &str) -> Value {
    match field {
        "external_id" => json!(u.external_id),
        "username" => json!(u.username),
        "given_name" => json!(u.given_name),
        "family_name" => json!(u.family_name),
        "email" => json!(u.email),
        "role" => json!(u.role),
        "grade" => json!(u.grade),
        "school" => json!(u.school),
        _ => Value::Null,
    }
}

/// One change as JSON: who, what kind, field-by-field before/after, status and memberships.
#[must_use]
pub fn change_json(plan: &Plan, c: &UserChange, roster: &Roster, dir: &DirectoryView) -> Value {
    let before = c.existing.map(|i| &dir.users[i as usize]);
    let after = plan.target(c, roster, dir, Uuid::nil(), cc_domain::now());
    let mut fields = Map::new();
    match (c.kind, before) {
        (ChangeKind::Create, _) | (_, None) => {
            for f in crate::plan::FIELDS {
                let v = user_value(&after, f);
                if !v.is_null() {
                    fields.insert(f.into(), json!({"before": null, "after": v}));
                }
            }
        }
        (_, Some(b)) => {
            for f in c.field_names() {
                fields.insert(
                    f.into(),
                    json!({"before": user_value(b, f), "after": user_value(&after, f)}),
                );
            }
        }
    }
    let names = |v: &[u32]| {
        v.iter()
            .map(|&g| plan.group_names[g as usize].clone())
            .collect::<Vec<_>>()
    };
    let person = c.person.map(|i| &roster.people[i as usize]);
    json!({
        "kind": c.kind,
        "reason": c.reason,
        "line": person.map(|p| p.line),
        "user_id": before.map(|b| b.id),
        "external_id": after.external_id,
        "username": after.username,
        "fields": fields,
        "status": c.status.map(|s| json!({"before": before.map(|b| b.status), "after": s})),
        "groups_add": names(&c.groups_add),
        "groups_remove": names(&c.groups_remove),
    })
}

/// The whole plan as one JSON document, streamed (a million changes never sit in memory as
/// JSON). `limit` keeps only the first changes and errors.
pub struct PlanDocument<'a> {
    pub plan: &'a Plan,
    pub roster: &'a Roster,
    pub dir: &'a DirectoryView,
    pub refusals: &'a [Refusal],
    pub limit: Option<usize>,
}

struct Changes<'a>(&'a PlanDocument<'a>);

impl Serialize for Changes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let d = self.0;
        let n = d.limit.unwrap_or(usize::MAX).min(d.plan.changes.len());
        let mut seq = s.serialize_seq(Some(n))?;
        for c in d.plan.changes.iter().take(n) {
            seq.serialize_element(&change_json(d.plan, c, d.roster, d.dir))?;
        }
        seq.end()
    }
}

impl Serialize for PlanDocument<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let limit = self.limit.unwrap_or(usize::MAX);
        let errors: Vec<&RowError> = self
            .roster
            .errors
            .iter()
            .chain(self.plan.errors.iter())
            .take(limit)
            .collect();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("format", &self.roster.format)?;
        m.serialize_entry("users_mode", &self.roster.users_mode)?;
        m.serialize_entry("counts", &self.plan.counts)?;
        m.serialize_entry("refusals", self.refusals)?;
        m.serialize_entry("issues", &self.roster.issues)?;
        m.serialize_entry("new_groups", &self.plan.new_groups)?;
        m.serialize_entry("changes", &Changes(self))?;
        m.serialize_entry("changes_truncated", &(self.plan.changes.len() > limit))?;
        m.serialize_entry("errors", &errors)?;
        let total = self.roster.errors.total() + self.plan.errors.total();
        m.serialize_entry("errors_truncated", &(total > errors.len() as u64))?;
        m.end()
    }
}
