//! Group membership: mirror the user's groups onto the groups under the configured base.

use std::collections::{BTreeMap, BTreeSet};

use super::config::MemberStyle;
use super::dn;
use super::planner::Plan;
use super::session::Session;
use super::steps::Step;
use super::LdapTarget;
use crate::{OperationRequest, TargetError};

impl LdapTarget {
    /// Adds the membership steps that leave the account (ending at `final_dn`, previously
    /// `old_dn`) in exactly the `wanted` groups among those under the groups base. Memberships
    /// under the old DN or old username are replaced.
    pub(crate) async fn group_steps(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        old_dn: Option<&str>,
        final_dn: &str,
        wanted: &[String],
        plan: &mut Plan,
    ) -> Result<(), TargetError> {
        let Some(g) = &self.groups else {
            return Ok(());
        };
        let attr = g.style.attribute();
        let name_attr = g.name_attribute.as_str();
        let (final_value, mut known): (String, Vec<String>) = if g.style.by_dn() {
            (
                final_dn.to_owned(),
                old_dn.into_iter().map(str::to_owned).collect(),
            )
        } else {
            (
                req.user.username.clone(),
                req.previous.iter().map(|p| p.username.clone()).collect(),
            )
        };
        let same_value = |a: &str, b: &str| {
            if g.style.by_dn() {
                dn::same(a, b)
            } else {
                a == b
            }
        };
        if !known.iter().any(|k| same_value(k, &final_value)) {
            known.push(final_value.clone());
        }

        // Groups that list the account now, with the values they list it under; and the
        // wanted groups that exist, by lower-cased name.
        let mut member_of: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        let mut existing: BTreeMap<String, String> = BTreeMap::new();
        let wanted_filter = || {
            wanted
                .iter()
                .map(|w| format!("({name_attr}={})", dn::escape_filter(w)))
                .collect::<String>()
        };
        let member_filter = |value: &str| format!("({attr}={})", dn::escape_filter(value));
        if old_dn.is_none() && known.len() == 1 && !wanted.is_empty() {
            // A new account: one search finds both. A wanted group that lists it already
            // (a leftover of an earlier entry at the same DN) gets an addition that finds
            // the value there, which counts as done.
            let filter = format!("(|{}{})", member_filter(&final_value), wanted_filter());
            let wanted_names: BTreeSet<String> = wanted.iter().map(|w| w.to_lowercase()).collect();
            for e in s.search(&g.base, &filter, &[name_attr]).await? {
                let name = first_value(&e.attrs, name_attr).map(|n| n.to_lowercase());
                match name.filter(|n| wanted_names.contains(n)) {
                    Some(n) => {
                        existing.entry(n).or_insert(e.dn);
                    }
                    None => {
                        member_of.insert(dn::normalize(&e.dn), (e.dn, vec![final_value.clone()]));
                    }
                }
            }
        } else {
            for value in &known {
                for e in s.search(&g.base, &member_filter(value), &["1.1"]).await? {
                    member_of
                        .entry(dn::normalize(&e.dn))
                        .or_insert_with(|| (e.dn.clone(), Vec::new()))
                        .1
                        .push(value.clone());
                }
            }
            if !wanted.is_empty() {
                let filter = format!("(|{})", wanted_filter());
                for e in s.search(&g.base, &filter, &[name_attr]).await? {
                    if let Some(name) = first_value(&e.attrs, name_attr) {
                        existing.entry(name.to_lowercase()).or_insert(e.dn);
                    }
                }
            }
        }
        let wanted_dns: BTreeSet<String> = existing.values().map(|d| dn::normalize(d)).collect();

        for (key, (group_dn, values)) in &member_of {
            if wanted_dns.contains(key) {
                if !values.iter().any(|v| same_value(v, &final_value)) {
                    plan.steps.push(Step::AddMember {
                        group: group_dn.clone(),
                        attribute: attr.into(),
                        value: final_value.clone(),
                    });
                }
                for v in values.iter().filter(|v| !same_value(v, &final_value)) {
                    plan.steps.push(Step::RemoveMember {
                        group: group_dn.clone(),
                        attribute: attr.into(),
                        value: v.clone(),
                    });
                }
            } else {
                for v in values {
                    plan.steps.push(Step::RemoveMember {
                        group: group_dn.clone(),
                        attribute: attr.into(),
                        value: v.clone(),
                    });
                }
            }
        }
        for name in wanted {
            let key = name.to_lowercase();
            if let Some(group_dn) = existing.get(&key) {
                if !member_of.contains_key(&dn::normalize(group_dn)) {
                    plan.steps.push(Step::AddMember {
                        group: group_dn.clone(),
                        attribute: attr.into(),
                        value: final_value.clone(),
                    });
                }
            } else if let (true, Some(spec)) = (g.create_missing, self.group_spec(name)) {
                plan.steps.push(Step::CreateGroup {
                    dn: spec.dn,
                    object_class: spec.object_class,
                    name_attribute: spec.name_attribute,
                    name: name.clone(),
                    member_attribute: spec.member_attribute,
                    member: final_value.clone(),
                });
            } else {
                plan.skipped_groups.push(name.clone());
            }
        }
        Ok(())
    }
}

pub(crate) fn default_group_class(style: MemberStyle, schema: super::Schema) -> &'static str {
    match (style, schema) {
        (_, super::Schema::ActiveDirectory) => "group",
        (MemberStyle::UniqueMember, _) => "groupOfUniqueNames",
        (MemberStyle::MemberUid, _) => "posixGroup",
        (MemberStyle::Member, _) => "groupOfNames",
    }
}

fn first_value(
    attrs: &std::collections::HashMap<String, Vec<String>>,
    name: &str,
) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
}
