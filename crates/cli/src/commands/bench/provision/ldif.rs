//! The load `ldapadd` gets: the entries a provision of every active person writes — the
//! OUs it creates, the accounts, and the groups with all their members — taken from the
//! LDAP target itself (`account_entry`, `ou_entry`, `group_entry`), as LDIF (RFC 2849).

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;

use base64::Engine as _;
use cc_connectors::ldap::{dn, LdapTarget, NewEntry};
use cc_domain::{User, UserStatus};

use super::slapd::{BASE_DN, GROUPS, STAFF, STUDENTS};

/// What the LDIF holds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Load {
    pub accounts: u64,
    pub ous: u64,
    pub groups: u64,
}

/// Writes the LDIF of every active user in `users` to `path`: OUs (parents first), then
/// the accounts, then the groups.
///
/// # Errors
/// A user the target cannot place (a template value missing), or the file cannot be
/// written.
pub fn write(target: &LdapTarget, users: &[User], path: &Path) -> anyhow::Result<Load> {
    let existing: HashSet<String> = [BASE_DN, STUDENTS, STAFF, GROUPS]
        .iter()
        .map(|d| dn::normalize(d))
        .collect();
    let mut users: Vec<&User> = users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    let mut ous: Vec<String> = Vec::new();
    let mut seen = existing.clone();
    let mut accounts = Vec::with_capacity(users.len());
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in users {
        let entry = target
            .account_entry(u)
            .map_err(|e| anyhow::anyhow!("{}: {}", u.username, e.message()))?;
        let (_, mut parent) = dn::split_first(&entry.dn);
        while !parent.is_empty() && seen.insert(dn::normalize(&parent)) {
            ous.push(parent.clone());
            parent = dn::split_first(&parent).1;
        }
        for g in &u.groups {
            if let Some(member) = target.member_value(u, &entry.dn) {
                groups.entry(g.clone()).or_default().push(member);
            }
        }
        accounts.push(entry);
    }
    ous.sort_by_key(|d| dn::rdns(d).len());
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for ou in &ous {
        write_entry(&mut out, &target.ou_entry(ou))?;
    }
    for a in &accounts {
        write_entry(&mut out, a)?;
    }
    let mut group_count = 0;
    for (name, members) in groups {
        if let Some(g) = target.group_entry(&name, members) {
            write_entry(&mut out, &g)?;
            group_count += 1;
        }
    }
    out.flush()?;
    Ok(Load {
        accounts: accounts.len() as u64,
        ous: ous.len() as u64,
        groups: group_count,
    })
}

fn write_entry(out: &mut impl Write, e: &NewEntry) -> std::io::Result<()> {
    write_line(out, "dn", &e.dn)?;
    for (attr, values) in &e.attributes {
        for v in values {
            write_line(out, attr, v)?;
        }
    }
    out.write_all(b"\n")
}

/// `attr: value`, or `attr:: base64` for a value that is not a SAFE-STRING.
fn write_line(out: &mut impl Write, attr: &str, value: &str) -> std::io::Result<()> {
    if is_safe(value) {
        writeln!(out, "{attr}: {value}")
    } else {
        let b64 = base64::engine::general_purpose::STANDARD.encode(value.as_bytes());
        writeln!(out, "{attr}:: {b64}")
    }
}

/// RFC 2849's SAFE-STRING (ASCII without NUL, LF or CR, not starting with a space, a colon
/// or `<`), and not ending with a space.
fn is_safe(value: &str) -> bool {
    let bytes = value.as_bytes();
    let starts_ok = bytes
        .first()
        .is_none_or(|b| !matches!(b, b' ' | b':' | b'<'));
    starts_ok
        && !value.ends_with(' ')
        && bytes
            .iter()
            .all(|b| b.is_ascii() && !matches!(b, 0 | b'\n' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_values_are_base64() {
        let mut out = Vec::new();
        write_line(&mut out, "cn", "Ada Lovelace").unwrap();
        write_line(&mut out, "cn", " leading").unwrap();
        write_line(&mut out, "cn", "Zoë").unwrap();
        write_line(&mut out, "cn", "").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cn: Ada Lovelace\ncn:: IGxlYWRpbmc=\ncn:: Wm/Dqw==\ncn: \n"
        );
    }
}
