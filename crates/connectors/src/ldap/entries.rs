//! The entries this target creates, as data: the planner's `Add`, `CreateOu` and
//! `CreateGroup` steps write exactly these attributes, and the same functions let the
//! entries be exported (as LDIF, for a bulk load to compare with) without a directory.

use cc_domain::User;

use super::config::Schema;
use super::dn;
use super::groups::default_group_class;
use super::schema::uac_with_enabled;
use super::LdapTarget;
use crate::TargetError;

/// An entry as this target adds it: its DN and its attributes, object classes first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub dn: String,
    pub attributes: Vec<(String, Vec<String>)>,
}

/// The attributes of a new `ou=` container named by `dn`'s first RDN.
pub(crate) fn ou_attributes(ou_dn: &str) -> Vec<(String, Vec<String>)> {
    let (rdn, _) = dn::split_first(ou_dn);
    let (_, value) = dn::rdn_parts(&rdn);
    vec![
        ("objectClass".into(), vec!["organizationalUnit".into()]),
        ("ou".into(), vec![value]),
    ]
}

/// What a created group is made of (see [`LdapTarget::group_spec`]).
pub(crate) struct GroupSpec {
    pub dn: String,
    pub object_class: String,
    pub name_attribute: String,
    pub member_attribute: String,
}

impl GroupSpec {
    /// The attributes of the group with `name` listing `members`.
    pub fn attributes(
        &self,
        schema: Schema,
        name: &str,
        members: Vec<String>,
    ) -> Vec<(String, Vec<String>)> {
        let mut attrs = vec![
            ("objectClass".to_owned(), vec![self.object_class.clone()]),
            (self.name_attribute.clone(), vec![name.to_owned()]),
            (self.member_attribute.clone(), members),
        ];
        if schema == Schema::ActiveDirectory {
            attrs.push(("sAMAccountName".into(), vec![name.to_owned()]));
        }
        attrs
    }
}

impl LdapTarget {
    /// The account a `provision` creates for `user` when it has none yet: the DN and the
    /// attributes of the `Add` step, without a password (one is set by a step of its own,
    /// or, on Active Directory, sent with the add). Group memberships are on the groups (see
    /// [`LdapTarget::group_entry`] and [`LdapTarget::member_value`]).
    ///
    /// # Errors
    /// A template needs a value `user` does not have.
    pub fn account_entry(&self, user: &User) -> Result<NewEntry, TargetError> {
        let desired = self.desired(user, true)?;
        let dn = desired.dn();
        Ok(NewEntry {
            attributes: self.new_account_attributes(desired.attrs, true, false),
            dn,
        })
    }

    /// The attributes of a new account: object classes, the mapped attributes, and how it
    /// starts enabled or disabled. Active Directory creates an account disabled unless its
    /// password comes in the same request.
    pub(crate) fn new_account_attributes(
        &self,
        mapped: Vec<(String, Vec<String>)>,
        enabled: bool,
        with_password: bool,
    ) -> Vec<(String, Vec<String>)> {
        let mut attrs = vec![("objectClass".to_owned(), self.object_classes.clone())];
        attrs.extend(mapped);
        if self.schema == Schema::ActiveDirectory {
            let uac = uac_with_enabled(None, enabled && with_password);
            attrs.push(("userAccountControl".into(), vec![uac.to_string()]));
        } else if let (false, Some((a, v))) = (enabled, &self.disable_attribute) {
            attrs.push((a.clone(), vec![v.clone()]));
        }
        attrs
    }

    /// The `ou=` container `create_ous` creates at `ou_dn`.
    #[must_use]
    pub fn ou_entry(&self, ou_dn: &str) -> NewEntry {
        NewEntry {
            dn: ou_dn.to_owned(),
            attributes: ou_attributes(ou_dn),
        }
    }

    /// How a group named `name` is created under the groups base (`None` without
    /// `[groups]`).
    pub(crate) fn group_spec(&self, name: &str) -> Option<GroupSpec> {
        let g = self.groups.as_ref()?;
        Some(GroupSpec {
            dn: format!("{}={},{}", g.name_attribute, dn::escape_value(name), g.base),
            object_class: g
                .object_class
                .clone()
                .unwrap_or_else(|| default_group_class(g.style, self.schema).into()),
            name_attribute: g.name_attribute.clone(),
            member_attribute: g.style.attribute().to_owned(),
        })
    }

    /// The group `groups.create_missing` creates for `name`, listing `members` (values as
    /// [`LdapTarget::member_value`] gives them); `None` without `[groups]`.
    #[must_use]
    pub fn group_entry(&self, name: &str, members: Vec<String>) -> Option<NewEntry> {
        let spec = self.group_spec(name)?;
        Some(NewEntry {
            attributes: spec.attributes(self.schema, name, members),
            dn: spec.dn,
        })
    }

    /// The value a group lists the account `account_dn` of `user` under: the DN, or the
    /// username for `memberUid`. `None` without `[groups]`.
    #[must_use]
    pub fn member_value(&self, user: &User, account_dn: &str) -> Option<String> {
        let g = self.groups.as_ref()?;
        Some(if g.style.by_dn() {
            account_dn.to_owned()
        } else {
            user.username.clone()
        })
    }
}
