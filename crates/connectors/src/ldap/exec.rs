//! Performing the planned steps, converging with whatever other jobs did meanwhile.
//!
//! Many jobs run at once: two people in a new OU both plan to create it, two new members
//! of a new group both plan to create the group. A write whose effect is already there
//! (result 68 entryAlreadyExists on an OU or a group, 20 attributeOrValueExists on a member
//! add, 16 noSuchAttribute on a member removal, 32 noSuchObject on a delete, 66
//! notAllowedOnNonLeaf when removing an OU that is no longer empty) is success
//! when what exists is what was wanted. Where the directory changed under the plan in a way
//! a fresh look can settle (the account itself appeared, an entry moved), the step asks for
//! a re-plan ([`Stop::replan`]); only a real conflict is an error.

use std::collections::HashSet;

use ldap3::Mod;

use super::config::Schema;
use super::dn;
use super::entries::{ou_attributes, GroupSpec};
use super::schema::unicode_pwd;
use super::session::{
    Session, Written, ATTRIBUTE_OR_VALUE_EXISTS, ENTRY_ALREADY_EXISTS, NOT_ALLOWED_ON_NON_LEAF,
    NO_SUCH_ATTRIBUTE, NO_SUCH_OBJECT,
};
use super::steps::Step;
use super::LdapTarget;
use crate::config::expose;
use crate::{Change, OperationRequest, TargetError};

/// Why execution stopped before the last step.
pub(crate) struct Stop {
    /// The changes made before it stopped.
    pub done: Vec<Change>,
    pub error: TargetError,
    /// Whether the directory changed under the plan so that planning again from what is
    /// there now can get past `error`.
    pub replan: bool,
}

/// How one step ended.
enum Performed {
    Changed,
    /// The effect was already there (another job made it): nothing to report.
    AlreadyDone,
}

/// A failure that a fresh plan may get past.
fn replan(error: TargetError) -> StepError {
    StepError {
        error,
        replan: true,
    }
}

struct StepError {
    error: TargetError,
    replan: bool,
}

impl From<TargetError> for StepError {
    fn from(error: TargetError) -> Self {
        Self {
            error,
            replan: false,
        }
    }
}

fn done(w: Written) -> Performed {
    match w {
        Written::Changed => Performed::Changed,
        Written::Found(_) => Performed::AlreadyDone,
    }
}

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
    /// Performs the steps in order, returning the changes made (steps whose effect was
    /// already there are left out). Stops at the first failure; a retry or a re-plan starts
    /// from what is then on the directory.
    pub(crate) async fn execute(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        steps: &[Step],
    ) -> Result<Vec<Change>, Stop> {
        let mut changes = Vec::with_capacity(steps.len());
        for step in steps {
            match self.perform(s, req, step).await {
                Ok(Performed::Changed) => changes.push(step.change()),
                Ok(Performed::AlreadyDone) => {}
                Err(e) => {
                    return Err(Stop {
                        done: changes,
                        error: e.error,
                        replan: e.replan,
                    })
                }
            }
        }
        Ok(changes)
    }

    async fn perform(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        step: &Step,
    ) -> Result<Performed, StepError> {
        match step {
            Step::CreateOu { dn } => self.create_ou(s, dn).await,
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
                match s
                    .add_expecting(dn, a, &[ENTRY_ALREADY_EXISTS, NO_SUCH_OBJECT])
                    .await?
                {
                    Written::Changed => Ok(Performed::Changed),
                    Written::Found(NO_SUCH_OBJECT) => Err(replan(self.container_gone(dn))),
                    // Created meanwhile: if it is this person's account, a fresh plan finds
                    // it and converges on it; if not, the fresh plan ends here again.
                    Written::Found(_) => Err(replan(self.taken(req, dn))),
                }
            }
            Step::Rename { from, rdn, parent } => {
                let w = s
                    .rename_expecting(from, rdn, parent, &[NO_SUCH_OBJECT, ENTRY_ALREADY_EXISTS])
                    .await?;
                match w {
                    Written::Changed => Ok(Performed::Changed),
                    Written::Found(rc) => {
                        if rc == NO_SUCH_OBJECT {
                            self.known.forget_with_parents(parent);
                        }
                        Err(replan(moved_meanwhile(from, rc)))
                    }
                }
            }
            Step::Modify {
                dn, attribute, to, ..
            }
            | Step::SetEnabled {
                dn, attribute, to, ..
            } => {
                let (m, expected) = if to.is_empty() {
                    (
                        Mod::Delete(name(attribute), HashSet::new()),
                        &[NO_SUCH_OBJECT, NO_SUCH_ATTRIBUTE][..],
                    )
                } else {
                    (
                        Mod::Replace(name(attribute), set(to)),
                        &[NO_SUCH_OBJECT][..],
                    )
                };
                match s.modify_expecting(dn, vec![m], expected).await? {
                    Written::Found(NO_SUCH_OBJECT) => Err(replan(moved_meanwhile(dn, 32))),
                    w => Ok(done(w)),
                }
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
                        .await?;
                } else {
                    s.password_modify(dn, expose(pw)).await?;
                }
                Ok(Performed::Changed)
            }
            Step::CreateGroup {
                dn,
                object_class,
                name_attribute,
                name: group,
                member_attribute,
                member,
            } => {
                let spec = GroupSpec {
                    dn: dn.clone(),
                    object_class: object_class.clone(),
                    name_attribute: name_attribute.clone(),
                    member_attribute: member_attribute.clone(),
                };
                let attrs = spec
                    .attributes(self.schema, group, vec![member.clone()])
                    .into_iter()
                    .map(|(k, v)| (name(&k), set(&v)))
                    .collect();
                match s.add_expecting(dn, attrs, &[ENTRY_ALREADY_EXISTS]).await? {
                    Written::Changed => Ok(Performed::Changed),
                    // Another job created the group a moment ago: join it instead.
                    Written::Found(_) => self.add_member(s, dn, member_attribute, member).await,
                }
            }
            Step::AddMember {
                group,
                attribute,
                value,
            } => self.add_member(s, group, attribute, value).await,
            Step::RemoveMember {
                group,
                attribute,
                value,
            } => {
                let expected = [NO_SUCH_ATTRIBUTE, NO_SUCH_OBJECT];
                let removed = s
                    .modify_expecting(
                        group,
                        vec![Mod::Delete(name(attribute), one(value))],
                        &expected,
                    )
                    .await;
                match removed {
                    // The last member of a groupOfNames cannot leave: the schema requires
                    // one. Leave an empty placeholder value instead.
                    Err(e) if e.message().contains(OBJECT_CLASS_VIOLATION) => {
                        s.modify(group, vec![Mod::Replace(name(attribute), one(""))])
                            .await?;
                        Ok(Performed::Changed)
                    }
                    other => Ok(done(other?)),
                }
            }
            Step::Delete { dn } => Ok(done(s.delete(dn).await?)),
            // Already gone (another job removed it) or no longer empty (another job put an
            // entry there meanwhile): either way there is nothing to clean up.
            Step::RemoveEmptyOu { dn } => {
                self.known.forget_with_parents(dn);
                Ok(done(
                    s.delete_expecting(dn, &[NO_SUCH_OBJECT, NOT_ALLOWED_ON_NON_LEAF])
                        .await?,
                ))
            }
        }
    }

    /// Creates an OU; one that exists already (another job made it) is success when it is
    /// an organizationalUnit.
    async fn create_ou(&self, s: &mut Session, dn: &str) -> Result<Performed, StepError> {
        let attrs = ou_attributes(dn)
            .into_iter()
            .map(|(k, v)| (name(&k), set(&v)))
            .collect();
        match s
            .add_expecting(dn, attrs, &[ENTRY_ALREADY_EXISTS, NO_SUCH_OBJECT])
            .await?
        {
            Written::Changed => {
                self.known.saw(dn);
                return Ok(Performed::Changed);
            }
            Written::Found(NO_SUCH_OBJECT) => return Err(replan(self.container_gone(dn))),
            Written::Found(_) => {}
        }
        let entry = s.read(dn, &["objectClass"]).await?;
        let is_ou = entry.as_ref().is_some_and(|e| {
            e.attrs.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("objectClass")
                    && v.iter()
                        .any(|c| c.eq_ignore_ascii_case("organizationalUnit"))
            })
        });
        match (entry, is_ou) {
            (_, true) => {
                self.known.saw(dn);
                Ok(Performed::AlreadyDone)
            }
            // Created and removed again in between: look again.
            (None, _) => Err(replan(TargetError::retryable(format!(
                "{dn} appeared and disappeared while this job ran"
            )))),
            (Some(_), false) => Err(TargetError::permanent(format!(
                "{dn} already exists and is not an organizationalUnit: accounts cannot be \
                 placed there; rename that entry or change `user_ou`"
            ))
            .into()),
        }
    }

    /// Adds a member; one already in the group (another job, or an earlier attempt) is
    /// success.
    async fn add_member(
        &self,
        s: &mut Session,
        group: &str,
        attribute: &str,
        value: &str,
    ) -> Result<Performed, StepError> {
        let expected = [
            ATTRIBUTE_OR_VALUE_EXISTS,
            ENTRY_ALREADY_EXISTS,
            NO_SUCH_OBJECT,
        ];
        let w = s
            .modify_expecting(
                group,
                vec![Mod::Add(name(attribute), one(value))],
                &expected,
            )
            .await?;
        match w {
            // The group went away between plan and write: a fresh plan recreates or skips it.
            Written::Found(NO_SUCH_OBJECT) => Err(replan(TargetError::retryable(format!(
                "the group {group} was removed while this job ran"
            )))),
            w => Ok(done(w)),
        }
    }

    /// The error for an entry whose container is missing after all (someone removed it
    /// after this target saw it): forgotten, so a fresh plan reads it again.
    fn container_gone(&self, entry_dn: &str) -> TargetError {
        let (_, parent) = dn::split_first(entry_dn);
        self.known.forget_with_parents(&parent);
        TargetError::retryable(format!("{parent} was removed while this job ran"))
    }

    /// Performs the member additions [`take_member_adds`] set aside, each together with
    /// other operations' additions to the same group (see `members`).
    pub(crate) async fn add_members(&self, steps: &[Step]) -> Result<Vec<Change>, Stop> {
        let mut changes = Vec::new();
        for step in steps {
            let Step::AddMember {
                group,
                attribute,
                value,
            } = step
            else {
                continue;
            };
            let stop = |done, error, replan| Stop {
                done,
                error,
                replan,
            };
            match self.add_member_batched(group, attribute, value).await {
                Ok(Written::Changed) => changes.push(step.change()),
                Ok(Written::Found(NO_SUCH_OBJECT)) => {
                    return Err(stop(
                        changes,
                        TargetError::retryable(format!(
                            "the group {group} was removed while this job ran"
                        )),
                        true,
                    ))
                }
                Ok(Written::Found(_)) => {}
                Err(e) => return Err(stop(changes, e, false)),
            }
        }
        Ok(changes)
    }

    /// The error for an account entry that exists where this person's should be created.
    /// After a re-plan it stands only when the entry is not theirs.
    fn taken(&self, req: &OperationRequest, dn: &str) -> TargetError {
        TargetError::permanent(format!(
            "{dn} already exists and is not the account of {} (nothing under {} matches the \
             search filter {}): rename or remove that entry, or adjust `search_filter`",
            req.user.username,
            self.search_base,
            self.search_filter.source()
        ))
    }
}

/// The member additions that can wait until the connection is back in the pool, taken out
/// of `steps`: all of them, unless the plan also removes members (then every step runs in
/// order, so that a group gains its new member before it loses the old one).
pub(crate) fn take_member_adds(steps: &mut Vec<Step>) -> Vec<Step> {
    if steps.iter().any(|s| matches!(s, Step::RemoveMember { .. })) {
        return Vec::new();
    }
    let (adds, rest) = std::mem::take(steps)
        .into_iter()
        .partition(|s| matches!(s, Step::AddMember { .. }));
    *steps = rest;
    adds
}

/// The error for an entry that vanished, or a move whose destination is taken, between plan
/// and write. A re-plan reads the directory again first; if the entry is still gone a retry
/// may find it, but an occupied destination needs an operator.
fn moved_meanwhile(dn: &str, rc: u32) -> TargetError {
    if rc == NO_SUCH_OBJECT {
        TargetError::retryable(format!(
            "{dn} no longer exists (code {rc}): the directory changed while this job ran; a \
             retry reads it again"
        ))
    } else {
        TargetError::permanent(format!(
            "cannot move {dn}: an entry already exists at the destination (code {rc}); rename \
             or remove that entry"
        ))
    }
}
