//! The correctness check: walks the directory server and compares every account and its
//! group memberships with the people in Command Center's directory. The expected DN and
//! attributes are worked out here from the benchmark's target configuration, not by the
//! target, so a target that wrote the wrong thing is caught.

use std::collections::{BTreeSet, HashMap};

use cc_connectors::ldap::dn;
use cc_connectors::ldap::template::grade_label;
use cc_domain::{Role, User, UserStatus};
use ldap3::{Scope, SearchEntry};

use super::slapd::{Slapd, BASE_DN, GROUPS, STAFF, STUDENTS};

/// Problems listed in full; the rest are counted.
const SHOWN: usize = 20;

/// What the check found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Checked {
    pub accounts: u64,
    pub problems: u64,
    /// The first problems, each naming the person and what differs.
    pub examples: Vec<String>,
}

impl Checked {
    fn problem(&mut self, what: String) {
        self.problems += 1;
        if self.examples.len() < SHOWN {
            self.examples.push(what);
        }
    }

    #[must_use]
    pub fn passed(&self) -> bool {
        self.problems == 0
    }
}

/// Where the benchmark's configuration places `u`.
fn expected_dn(u: &User) -> Option<String> {
    let school = dn::escape_value(u.school.as_deref()?);
    let uid = dn::escape_value(&u.username);
    Some(match u.role {
        Role::Student => format!(
            "uid={uid},ou={},ou={school},{STUDENTS}",
            grade_label(u.grade?)
        ),
        _ => format!("uid={uid},ou={school},{STAFF}"),
    })
}

type Attrs = HashMap<String, Vec<String>>;

fn lower(attrs: HashMap<String, Vec<String>>) -> Attrs {
    attrs
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v))
        .collect()
}

/// Compares the accounts and groups on `slapd` with the active people in `users`.
///
/// # Errors
/// The server cannot be searched.
pub async fn check(slapd: &Slapd, users: &[User]) -> anyhow::Result<Checked> {
    let mut ldap = slapd.admin().await?;
    let attrs = vec![
        "uid",
        "givenName",
        "sn",
        "mail",
        "employeeNumber",
        "title",
        "departmentNumber",
        "employeeType",
    ];
    let (entries, _) = ldap
        .search(
            BASE_DN,
            Scope::Subtree,
            "(objectClass=inetOrgPerson)",
            attrs,
        )
        .await?
        .success()?;
    let mut accounts: HashMap<String, (String, Attrs)> = HashMap::new();
    let mut checked = Checked::default();
    for e in entries.into_iter().map(SearchEntry::construct) {
        let a = lower(e.attrs);
        let uid = a
            .get("uid")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default();
        if accounts.insert(uid.clone(), (e.dn.clone(), a)).is_some() {
            checked.problem(format!("two accounts have uid {uid}"));
        }
    }
    let (groups, _) = ldap
        .search(
            GROUPS,
            Scope::OneLevel,
            "(objectClass=groupOfNames)",
            vec!["cn", "member"],
        )
        .await?
        .success()?;
    let _ = ldap.unbind().await;
    let mut member_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    for g in groups.into_iter().map(SearchEntry::construct) {
        let a = lower(g.attrs);
        let name = a
            .get("cn")
            .and_then(|v| v.first())
            .cloned()
            .unwrap_or_default()
            .to_lowercase();
        for m in a.get("member").into_iter().flatten() {
            member_of
                .entry(dn::normalize(m))
                .or_default()
                .insert(name.clone());
        }
    }

    let active: Vec<&User> = users
        .iter()
        .filter(|u| u.status == UserStatus::Active)
        .collect();
    for u in &active {
        compare(u, &mut accounts, &member_of, &mut checked);
    }
    for uid in accounts.keys() {
        checked.problem(format!(
            "{uid}: an account nobody in the directory has ({})",
            accounts[uid].0
        ));
    }
    checked.accounts = active.len() as u64;
    Ok(checked)
}

/// Compares one person with their account (removing it from `accounts`).
fn compare(
    u: &User,
    accounts: &mut HashMap<String, (String, Attrs)>,
    member_of: &HashMap<String, BTreeSet<String>>,
    checked: &mut Checked,
) {
    let who = &u.username;
    let Some((found_dn, a)) = accounts.remove(who) else {
        checked.problem(format!("{who}: no account"));
        return;
    };
    match expected_dn(u) {
        Some(want) if dn::same(&want, &found_dn) => {}
        want => checked.problem(format!("{who}: at {found_dn}, expected {want:?}")),
    }
    let want: [(&str, Option<&str>); 7] = [
        ("givenname", Some(&u.given_name)),
        ("sn", Some(&u.family_name)),
        ("mail", u.email.as_deref()),
        ("employeenumber", u.external_id.as_deref()),
        ("title", Some(u.role.as_str())),
        ("departmentnumber", u.school.as_deref()),
        ("employeetype", None),
    ];
    for (attr, value) in want {
        let have: Vec<&str> = a
            .get(attr)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        let expected: Vec<&str> = value.into_iter().collect();
        if have != expected {
            checked.problem(format!("{who}: {attr} is {have:?}, expected {expected:?}"));
        }
    }
    let groups = member_of
        .get(&dn::normalize(&found_dn))
        .cloned()
        .unwrap_or_default();
    let expected: BTreeSet<String> = u.groups.iter().map(|g| g.to_lowercase()).collect();
    if groups != expected {
        checked.problem(format!(
            "{who}: member of {groups:?}, expected {expected:?}"
        ));
    }
}
