//! Performing the planned steps.

use std::collections::HashSet;

use ldap3::Mod;

use super::config::Schema;
use super::dn;
use super::schema::unicode_pwd;
use super::session::Session;
use super::steps::Step;
use super::LdapTarget;
use crate::config::expose;
use crate::{Change, OperationRequest, TargetError};

/// objectClassViolation: e.g. removing the last `member` of a groupOfNames.
const OBJECT_CLASS_VIOLATION: &str = "(code 65)";

fn set(values: &[String]) -> HashSet<Vec<u8>> {
    values.iter().map(|v| v.as_bytes().to_vec()).collect()
}

fn one(value: &str) -> HashSet<Vec<u8>> {
    HashSet::from([value.as_bytes().to_vec()])
}

fn name(attr: &str) -> Vec<u8> {
    attr.as_bytes().to_vec()
}

impl LdapTarget {
    /// Performs the steps in order, returning the changes made. Stops at the first failure;
    /// a retry re-plans from what is then on the directory.
    pub(crate) async fn execute(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        steps: &[Step],
    ) -> Result<Vec<Change>, TargetError> {
        let mut changes = Vec::with_capacity(steps.len());
        for step in steps {
            self.perform(s, req, step).await?;
            changes.push(step.change());
        }
        Ok(changes)
    }

    async fn perform(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        step: &Step,
    ) -> Result<(), TargetError> {
        match step {
            Step::CreateOu { dn } => {
                let (rdn, _) = dn::split_first(dn);
                let (_, value) = dn::rdn_parts(&rdn);
                s.add(
                    dn,
                    vec![
                        (name("objectClass"), one("organizationalUnit")),
                        (name("ou"), one(&value)),
                    ],
                )
                .await
            }
            Step::Add {
                dn,
                attrs,
                with_password,
            } => {
                let mut a: Vec<_> = attrs.iter().map(|(k, v)| (name(k), set(v))).collect();
                if *with_password {
                    let pw = req.password.as_ref().ok_or_else(|| {
                        TargetError::permanent("the password disappeared between plan and apply")
                    })?;
                    self.check_password_transport()?;
                    a.push((name("unicodePwd"), HashSet::from([unicode_pwd(expose(pw))])));
                }
                s.add(dn, a).await
            }
            Step::Rename { from, rdn, parent } => s.rename(from, rdn, parent).await,
            Step::Modify {
                dn, attribute, to, ..
            }
            | Step::SetEnabled {
                dn, attribute, to, ..
            } => {
                let m = if to.is_empty() {
                    Mod::Delete(name(attribute), HashSet::new())
                } else {
                    Mod::Replace(name(attribute), set(to))
                };
                s.modify(dn, vec![m]).await
            }
            Step::SetPassword { dn } => {
                let pw = req
                    .password
                    .as_ref()
                    .ok_or_else(|| TargetError::permanent("no password to set"))?;
                self.check_password_transport()?;
                if self.schema == Schema::ActiveDirectory {
                    let value = HashSet::from([unicode_pwd(expose(pw))]);
                    s.modify(dn, vec![Mod::Replace(name("unicodePwd"), value)])
                        .await
                } else {
                    s.password_modify(dn, expose(pw)).await
                }
            }
            Step::CreateGroup {
                dn,
                object_class,
                name_attribute,
                name: group,
                member_attribute,
                member,
            } => {
                let mut attrs = vec![
                    (name("objectClass"), one(object_class)),
                    (name(name_attribute), one(group)),
                    (name(member_attribute), one(member)),
                ];
                if self.schema == Schema::ActiveDirectory {
                    attrs.push((name("sAMAccountName"), one(group)));
                }
                s.add(dn, attrs).await
            }
            Step::AddMember {
                group,
                attribute,
                value,
            } => {
                s.modify(group, vec![Mod::Add(name(attribute), one(value))])
                    .await
            }
            Step::RemoveMember {
                group,
                attribute,
                value,
            } => {
                let removed = s
                    .modify(group, vec![Mod::Delete(name(attribute), one(value))])
                    .await;
                match removed {
                    // The last member of a groupOfNames cannot leave: the schema requires
                    // one. Leave an empty placeholder value instead.
                    Err(e) if e.message().contains(OBJECT_CLASS_VIOLATION) => {
                        s.modify(group, vec![Mod::Replace(name(attribute), one(""))])
                            .await
                    }
                    other => other,
                }
            }
            Step::Delete { dn } => s.delete(dn).await,
        }
    }
}
