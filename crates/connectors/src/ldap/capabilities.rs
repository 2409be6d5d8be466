//! What the directory must offer for this configuration: a working bind, a readable base,
//! and every attribute type and object class the configuration writes, read from the
//! server's schema (the subschema subentry named by the root DSE, RFC 4512).
//!
//! `check` runs it on demand (start-up, readiness, `command-center check`); a dry run runs it
//! first and an operation runs it until it has passed once, so a configuration the directory
//! cannot honour (`pwdAccountLockedTime` without the ppolicy overlay) is refused with the
//! reason before anything is planned or written.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use ldap3::Scope;

use super::config::Schema;
use super::session::Session;
use super::LdapTarget;
use crate::TargetError;

/// A name the configuration uses, and the setting that uses it.
struct Need {
    name: String,
    why: String,
}

fn need(name: &str, why: impl Into<String>) -> Need {
    Need {
        name: name.to_owned(),
        why: why.into(),
    }
}

/// Where a missing name usually comes from.
fn hint(name: &str) -> &'static str {
    match name.to_ascii_lowercase().as_str() {
        "pwdaccountlockedtime" | "pwdpolicysubentry" | "pwdreset" | "pwdpolicy" => {
            " (it comes with the ppolicy overlay: load the module and add `overlay ppolicy` to \
             the database)"
        }
        "posixgroup" | "memberuid" | "posixaccount" | "uidnumber" | "gidnumber" => {
            " (it comes with the nis schema)"
        }
        "inetorgperson" | "departmentnumber" | "employeenumber" | "displayname" => {
            " (it comes with the inetorgperson schema)"
        }
        _ => "",
    }
}

/// The names inside a schema description's `NAME 'x'` or `NAME ( 'x' 'y' )`, lower-cased.
fn names_of(description: &str) -> Vec<String> {
    let Some(at) = description.find(" NAME ") else {
        return Vec::new();
    };
    let rest = description[at + 6..].trim_start();
    let list = if let Some(inner) = rest.strip_prefix('(') {
        inner.split(')').next().unwrap_or_default()
    } else {
        rest.split_whitespace().next().unwrap_or_default()
    };
    list.split_whitespace()
        .map(|n| n.trim_matches('\'').to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect()
}

/// The attribute names a filter template tests, e.g. `employeeNumber` in
/// `(&(objectClass=person)(employeeNumber={external_id}))`.
fn filter_attributes(filter: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in filter.split('(').skip(1) {
        let name: String = part
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == ';')
            .collect();
        let after = &part[name.len()..];
        let is_test = after.starts_with('=')
            || after.starts_with("~=")
            || after.starts_with(">=")
            || after.starts_with("<=")
            || after.starts_with(":");
        if !name.is_empty() && is_test {
            out.push(name);
        }
    }
    out
}

impl LdapTarget {
    /// The attribute types the configuration reads or writes.
    fn needed_attributes(&self) -> Vec<Need> {
        let mut n: Vec<Need> = self
            .attributes
            .iter()
            .map(|(a, _)| need(a, format!("attributes.{a}")))
            .collect();
        n.push(need(&self.rdn_attribute, "rdn_attribute"));
        for a in filter_attributes(self.search_filter.source()) {
            n.push(need(&a, "search_filter"));
        }
        if let Some((a, _)) = &self.disable_attribute {
            n.push(need(a, "disable.attribute"));
        }
        if let Some(g) = &self.groups {
            n.push(need(g.style.attribute(), "groups.style"));
            n.push(need(&g.name_attribute, "groups.name_attribute"));
        }
        if self.schema == Schema::ActiveDirectory {
            n.push(need("userAccountControl", "schema = \"active_directory\""));
            n.push(need("unicodePwd", "schema = \"active_directory\""));
        }
        n
    }

    /// The object classes the configuration creates entries with.
    fn needed_classes(&self) -> Vec<Need> {
        let mut n: Vec<Need> = self
            .object_classes
            .iter()
            .map(|c| need(c, "object_classes"))
            .collect();
        if self.create_ous {
            n.push(need("organizationalUnit", "create_ous"));
        }
        if let Some(g) = self.groups.as_ref().filter(|g| g.create_missing) {
            let class = g.object_class.clone().unwrap_or_else(|| {
                super::groups::default_group_class(g.style, self.schema).to_owned()
            });
            n.push(need(&class, "groups.create_missing"));
        }
        n
    }

    /// Bind (already done by `s`), base, schema. Returns what was checked.
    pub(crate) async fn check_capabilities(&self, s: &mut Session) -> Result<String, TargetError> {
        if s.read(&self.base_dn, &["1.1"]).await?.is_none() {
            return Err(TargetError::permanent(format!(
                "the base {} does not exist or {} cannot read it",
                self.base_dn, self.bind_dn
            )));
        }
        let (attributes, classes) = self.read_schema(s).await?;
        let mut missing = Vec::new();
        for n in self.needed_attributes() {
            if !attributes.contains(&n.name.to_ascii_lowercase()) {
                missing.push(format!(
                    "attribute {} (used by `{}`){}",
                    n.name,
                    n.why,
                    hint(&n.name)
                ));
            }
        }
        for n in self.needed_classes() {
            if !classes.contains(&n.name.to_ascii_lowercase()) {
                missing.push(format!(
                    "object class {} (used by `{}`){}",
                    n.name,
                    n.why,
                    hint(&n.name)
                ));
            }
        }
        missing.dedup();
        if !missing.is_empty() {
            return Err(TargetError::permanent(format!(
                "the directory's schema lacks {}",
                missing.join("; ")
            )));
        }
        self.capabilities_checked.store(true, Ordering::Relaxed);
        Ok(format!(
            "bind as {} works, base {} readable, schema has the {} attributes and {} object classes the configuration uses",
            self.bind_dn,
            self.base_dn,
            self.needed_attributes().len(),
            self.needed_classes().len()
        ))
    }

    /// Attribute type and object class names (lower-cased) from the subschema subentry.
    async fn read_schema(
        &self,
        s: &mut Session,
    ) -> Result<(BTreeSet<String>, BTreeSet<String>), TargetError> {
        let root = s
            .search_one("", Scope::Base, "(objectClass=*)", &["subschemaSubentry"])
            .await?;
        let subschema = root
            .as_ref()
            .and_then(|e| super::session::attr_map(e).remove("subschemasubentry"))
            .and_then(|v| v.into_iter().next())
            .unwrap_or_else(|| "cn=Subschema".to_owned());
        let entry = s
            .search_one(
                &subschema,
                Scope::Base,
                "(objectClass=subschema)",
                &["attributeTypes", "objectClasses"],
            )
            .await?
            .ok_or_else(|| {
                TargetError::permanent(format!(
                    "cannot read the directory's schema ({subschema}) as {}",
                    self.bind_dn
                ))
            })?;
        let map = super::session::attr_map(&entry);
        let names = |key: &str| -> BTreeSet<String> {
            map.get(key)
                .into_iter()
                .flatten()
                .flat_map(|d| names_of(d))
                .collect()
        };
        Ok((names("attributetypes"), names("objectclasses")))
    }

    /// Runs the capability check once per target, until it passes.
    pub(crate) async fn ensure_capabilities(&self, s: &mut Session) -> Result<(), TargetError> {
        if self.capabilities_checked.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.check_capabilities(s).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_description_names() {
        assert_eq!(
            names_of("( 2.5.4.3 NAME ( 'cn' 'commonName' ) SUP name )"),
            ["cn", "commonname"]
        );
        assert_eq!(
            names_of("( 1.3.6.1.4.1.42.2.27.8.1.17 NAME 'pwdAccountLockedTime' DESC 'x' )"),
            ["pwdaccountlockedtime"]
        );
        assert!(names_of("( 1.2.3 DESC 'no name' )").is_empty());
    }

    #[test]
    fn attributes_tested_by_a_filter() {
        assert_eq!(
            filter_attributes("(&(objectClass=person)(employeeNumber={external_id}))"),
            ["objectClass", "employeeNumber"]
        );
        assert_eq!(filter_attributes("(uid={username})"), ["uid"]);
    }
}
