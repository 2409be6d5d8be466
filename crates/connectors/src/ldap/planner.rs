//! Working out the steps: find the account, compute the desired entry, compare.

use std::collections::HashMap;

use cc_domain::{User, UserStatus};
use serde_json::{json, Value};

use super::config::{DeprovisionMode, Schema};
use super::dn;
use super::schema::{uac_enabled, uac_with_enabled};
use super::session::{attr_map, Session};
use super::steps::Step;
use super::template::{raw, Template, Vars};
use super::LdapTarget;
use crate::config::expose;
use crate::{Operation, OperationRequest, TargetError};

/// The account as found on the directory.
#[derive(Debug, Clone)]
pub(crate) struct Current {
    pub dn: String,
    /// Values by lower-cased attribute name.
    pub attrs: HashMap<String, Vec<String>>,
}

impl Current {
    fn get(&self, attr: &str) -> &[String] {
        self.attrs
            .get(&attr.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

/// The steps for one request, and what the engine should remember.
pub(crate) struct Plan {
    pub current: Option<Current>,
    pub steps: Vec<Step>,
    /// The account's DN after the steps; `None` once deleted or when there is no account.
    pub account_id: Option<String>,
    pub skipped_groups: Vec<String>,
}

impl Plan {
    pub fn detail(&self) -> Value {
        json!({
            "dn_before": self.current.as_ref().map(|c| c.dn.clone()),
            "skipped_groups": self.skipped_groups,
        })
    }
}

/// The entry the user record calls for.
pub(super) struct Desired {
    pub rdn: String,
    pub parent: String,
    pub attrs: Vec<(String, Vec<String>)>,
}

impl Desired {
    pub fn dn(&self) -> String {
        format!("{},{}", self.rdn, self.parent)
    }
}

impl LdapTarget {
    fn vars(&self, user: &User) -> Vars {
        Vars::of(user, &self.domain)
    }

    fn read_attrs(&self) -> Vec<&str> {
        let mut a = vec!["*"];
        if let Some((attr, _)) = &self.disable_attribute {
            a.push(attr);
        }
        a
    }

    /// Finds the account: by the link's DN, else by the search filter for the current user
    /// and then for the previous record (a renamed user).
    async fn locate(
        &self,
        s: &mut Session,
        req: &OperationRequest,
    ) -> Result<Option<Current>, TargetError> {
        let attrs = self.read_attrs();
        if let Some(link) = &req.link {
            if let Some(e) = s.read(&link.account_id, &attrs).await? {
                return Ok(Some(Current {
                    attrs: attr_map(&e),
                    dn: e.dn,
                }));
            }
        }
        let mut tried = Vec::new();
        for user in std::iter::once(&req.user).chain(req.previous.as_ref()) {
            let Ok(filter) = self
                .search_filter
                .render(&self.vars(user), dn::escape_filter)
            else {
                continue;
            };
            if tried.contains(&filter) {
                continue;
            }
            let found = s.search(&self.search_base, &filter, &attrs).await?;
            match found.len() {
                0 => tried.push(filter),
                1 => {
                    let e = &found[0];
                    return Ok(Some(Current {
                        attrs: attr_map(e),
                        dn: e.dn.clone(),
                    }));
                }
                n => {
                    return Err(TargetError::permanent(format!(
                        "{n} entries under {} match {filter}: cannot tell which one is {}",
                        self.search_base, req.user.username
                    )))
                }
            }
        }
        Ok(None)
    }

    fn render_dn(&self, t: &Template, user: &User, what: &str) -> Result<String, TargetError> {
        t.render(&self.vars(user), dn::escape_value).map_err(|var| {
            TargetError::permanent(format!(
                "{what} `{}` needs {{{var}}}, which {} has no value for",
                t.source(),
                user.username
            ))
        })
    }

    /// The OU a user belongs in while enabled.
    fn home_ou(&self, user: &User) -> Result<String, TargetError> {
        let t = self
            .user_ou_by_role
            .get(&user.role)
            .unwrap_or(&self.user_ou);
        self.render_dn(t, user, "user_ou")
    }

    pub(super) fn desired(&self, user: &User, enabled: bool) -> Result<Desired, TargetError> {
        let vars = self.vars(user);
        let mut attrs = Vec::new();
        let mut rdn_value = None;
        for (attr, t) in &self.attributes {
            let Ok(value) = t.render(&vars, raw) else {
                continue;
            };
            if attr.eq_ignore_ascii_case(&self.rdn_attribute) {
                rdn_value = Some(value.clone());
            }
            attrs.push((attr.clone(), vec![value]));
        }
        let rdn_value = rdn_value.ok_or_else(|| {
            TargetError::permanent(format!(
                "the naming attribute {} has no value for {}",
                self.rdn_attribute, user.username
            ))
        })?;
        let parent = match (&self.disable_move_to, enabled) {
            (Some(t), false) => self.render_dn(t, user, "disable.move_to")?,
            _ => self.home_ou(user)?,
        };
        Ok(Desired {
            rdn: format!("{}={}", self.rdn_attribute, dn::escape_value(&rdn_value)),
            parent,
            attrs,
        })
    }

    /// Whether the account is enabled now.
    fn is_enabled(&self, cur: &Current, user: &User) -> bool {
        if self.schema == Schema::ActiveDirectory {
            let uac = cur
                .get("userAccountControl")
                .first()
                .and_then(|v| v.parse().ok());
            if uac.is_some_and(|u| !uac_enabled(u)) {
                return false;
            }
        }
        if let Some((attr, value)) = &self.disable_attribute {
            if cur.get(attr).iter().any(|v| v.eq_ignore_ascii_case(value)) {
                return false;
            }
        }
        if self.schema == Schema::Inetorgperson && self.disable_attribute.is_none() {
            if let Some(t) = &self.disable_move_to {
                if let Ok(ou) = self.render_dn(t, user, "disable.move_to") {
                    return !dn::same(&dn::split_first(&cur.dn).1, &ou);
                }
            }
        }
        true
    }

    /// The step that enables or disables `cur` (nothing when it already is).
    fn enable_step(&self, cur: &Current, dn: &str, user: &User, enabled: bool) -> Option<Step> {
        if self.is_enabled(cur, user) == enabled {
            return None;
        }
        if self.schema == Schema::ActiveDirectory {
            let from = cur.get("userAccountControl").to_vec();
            let current = from.first().and_then(|v| v.parse().ok());
            return Some(Step::SetEnabled {
                dn: dn.to_owned(),
                enabled,
                attribute: "userAccountControl".into(),
                from,
                to: vec![uac_with_enabled(current, enabled).to_string()],
            });
        }
        let (attr, value) = self.disable_attribute.as_ref()?;
        Some(Step::SetEnabled {
            dn: dn.to_owned(),
            enabled,
            attribute: attr.clone(),
            from: cur.get(attr).to_vec(),
            to: if enabled { vec![] } else { vec![value.clone()] },
        })
    }

    /// `CreateOu` steps for the missing containers above `dn` (top-down).
    pub(crate) async fn ensure_parents(
        &self,
        s: &mut Session,
        parent: &str,
        steps: &mut Vec<Step>,
    ) -> Result<(), TargetError> {
        let mut missing = Vec::new();
        let mut dn = parent.to_owned();
        while !dn.is_empty() && !self.known.exists(&dn) {
            if s.read(&dn, &["1.1"]).await?.is_some() {
                self.known.saw(&dn);
                break;
            }
            if dn::same(&dn, &self.base_dn) || !dn::is_within(&dn, &self.base_dn) {
                return Err(TargetError::permanent(format!(
                    "the base {} does not exist",
                    self.base_dn
                )));
            }
            let (rdn, up) = dn::split_first(&dn);
            if !self.create_ous {
                return Err(TargetError::permanent(format!(
                    "{dn} does not exist (create_ous = false)"
                )));
            }
            if !dn::rdn_parts(&rdn).0.eq_ignore_ascii_case("ou") {
                return Err(TargetError::permanent(format!(
                    "{dn} does not exist, and only ou= containers are created on demand"
                )));
            }
            missing.push(dn.clone());
            dn = up;
        }
        for dn in missing.into_iter().rev() {
            if !steps
                .iter()
                .any(|s| matches!(s, Step::CreateOu { dn: d } if dn::same(d, &dn)))
            {
                steps.push(Step::CreateOu { dn });
            }
        }
        Ok(())
    }

    /// Whether the password must be set: `false` when the account can already bind with it.
    async fn password_differs(
        &self,
        dn: &str,
        req: &OperationRequest,
    ) -> Result<bool, TargetError> {
        let Some(pw) = &req.password else {
            return Ok(false);
        };
        self.check_password_transport()?;
        Ok(!self.endpoint.can_bind(dn, expose(pw)).await?)
    }

    /// The steps that bring the target in line with `req`. In a dry run (`dry_run`) nothing is
    /// written and nothing is tried that the directory would record against the account: a
    /// `reset_password` reports that it would set the password, without test-binding (a
    /// failed bind counts towards the account's lockout).
    pub(crate) async fn plan_steps(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        dry_run: bool,
    ) -> Result<Plan, TargetError> {
        let current = self.locate(s, req).await?;
        let mut plan = Plan {
            current: current.clone(),
            steps: Vec::new(),
            account_id: current.as_ref().map(|c| c.dn.clone()),
            skipped_groups: Vec::new(),
        };
        let user = &req.user;
        match req.operation {
            Operation::Provision | Operation::Update => {
                let enabled = req.operation == Operation::Provision
                    || !matches!(
                        user.status,
                        UserStatus::Suspended | UserStatus::Deprovisioned
                    );
                self.plan_converge(s, req, current.as_ref(), enabled, &mut plan)
                    .await?;
            }
            Operation::Suspend => {
                let Some(cur) = &current else {
                    return Ok(plan);
                };
                let mut dn = cur.dn.clone();
                if let Some(t) = &self.disable_move_to {
                    let ou = self.render_dn(t, user, "disable.move_to")?;
                    dn = self.plan_move(s, cur, &ou, &mut plan.steps).await?;
                }
                plan.steps.extend(self.enable_step(cur, &dn, user, false));
                plan.account_id = Some(dn);
            }
            Operation::ResetPassword => {
                let Some(cur) = &current else {
                    return Err(TargetError::permanent(format!(
                        "no account for {} on {}: provision it first",
                        user.username, self.name
                    )));
                };
                if dry_run {
                    plan.steps.push(Step::SetPassword { dn: cur.dn.clone() });
                    return Ok(plan);
                }
                if req.password.is_none() {
                    return Err(TargetError::permanent(
                        "reset_password needs a password to set",
                    ));
                }
                if self.password_differs(&cur.dn, req).await? {
                    plan.steps.push(Step::SetPassword { dn: cur.dn.clone() });
                }
            }
            Operation::Deprovision => {
                let Some(cur) = &current else {
                    return Ok(plan);
                };
                self.group_steps(s, req, Some(&cur.dn), &cur.dn, &[], &mut plan)
                    .await?;
                match (self.deprovision, &self.graveyard) {
                    (DeprovisionMode::Move, Some(t)) => {
                        let ou = self.render_dn(t, user, "deprovision.graveyard_ou")?;
                        let dn = self.plan_move(s, cur, &ou, &mut plan.steps).await?;
                        plan.steps.extend(self.enable_step(cur, &dn, user, false));
                        plan.account_id = Some(dn);
                    }
                    _ => {
                        plan.steps.push(Step::Delete { dn: cur.dn.clone() });
                        plan.account_id = None;
                    }
                }
            }
        }
        if let (true, Some(cur)) = (self.remove_empty_ous, &current) {
            self.plan_ou_cleanup(s, cur, dry_run, &mut plan).await?;
        }
        Ok(plan)
    }

    /// With `remove_empty_ous`: when the plan moves or deletes the account, a last step
    /// removes the OU it leaves if that is then empty. Only an `ou=` entry strictly below
    /// `base_dn` qualifies, never the search base or the groups' base. The real run always
    /// tries (the directory refuses a non-empty OU, which is fine: the last of several jobs
    /// emptying it at once removes it); a dry run reports it only when nothing else is there.
    async fn plan_ou_cleanup(
        &self,
        s: &mut Session,
        cur: &Current,
        dry_run: bool,
        plan: &mut Plan,
    ) -> Result<(), TargetError> {
        let (_, old_parent) = dn::split_first(&cur.dn);
        let leaves = plan.steps.iter().any(|step| match step {
            Step::Rename { from, parent, .. } => {
                dn::same(from, &cur.dn) && !dn::same(parent, &old_parent)
            }
            Step::Delete { dn } => dn::same(dn, &cur.dn),
            _ => false,
        });
        if !leaves || !self.removable_ou(&old_parent) {
            return Ok(());
        }
        if dry_run && s.has_other_children(&old_parent, &cur.dn).await? {
            return Ok(());
        }
        plan.steps.push(Step::RemoveEmptyOu { dn: old_parent });
        Ok(())
    }

    /// Whether `remove_empty_ous` may remove `ou`: an `ou=` entry strictly below `base_dn`
    /// that is neither the search base nor the groups' base (nor above them).
    pub(crate) fn removable_ou(&self, ou: &str) -> bool {
        let (rdn, _) = dn::split_first(ou);
        let kept = std::iter::once(self.search_base.as_str())
            .chain(self.groups.as_ref().map(|g| g.base.as_str()));
        dn::rdn_parts(&rdn).0.eq_ignore_ascii_case("ou")
            && dn::is_within(ou, &self.base_dn)
            && !dn::same(ou, &self.base_dn)
            && kept.into_iter().all(|k| !dn::is_within(k, ou))
    }

    /// A move of `cur` (keeping its RDN) under `parent`, when it is elsewhere; returns the
    /// DN it ends up with.
    async fn plan_move(
        &self,
        s: &mut Session,
        cur: &Current,
        parent: &str,
        steps: &mut Vec<Step>,
    ) -> Result<String, TargetError> {
        let (rdn, current_parent) = dn::split_first(&cur.dn);
        if dn::same(&current_parent, parent) {
            return Ok(cur.dn.clone());
        }
        self.ensure_parents(s, parent, steps).await?;
        steps.push(Step::Rename {
            from: cur.dn.clone(),
            rdn: rdn.clone(),
            parent: parent.to_owned(),
        });
        Ok(format!("{rdn},{parent}"))
    }

    /// Provision/update: create or bring the entry in line, enabled as asked.
    async fn plan_converge(
        &self,
        s: &mut Session,
        req: &OperationRequest,
        current: Option<&Current>,
        enabled: bool,
        plan: &mut Plan,
    ) -> Result<(), TargetError> {
        let user = &req.user;
        let desired = self.desired(user, enabled)?;
        let target_dn = desired.dn();
        let Some(cur) = current else {
            self.ensure_parents(s, &desired.parent, &mut plan.steps)
                .await?;
            let password = req.password.is_some() && req.operation.takes_password();
            if password {
                self.check_password_transport()?;
            }
            let ad = self.schema == Schema::ActiveDirectory;
            // On Active Directory it is created disabled unless its password comes in the
            // same request: AD refuses an enabled account without one under the usual
            // password policy.
            let attrs = self.new_account_attributes(desired.attrs.clone(), enabled, password);
            plan.steps.push(Step::Add {
                dn: target_dn.clone(),
                attrs,
                with_password: ad && password,
            });
            if password && !ad {
                plan.steps.push(Step::SetPassword {
                    dn: target_dn.clone(),
                });
            }
            if ad && enabled && !password {
                plan.steps.push(Step::SetEnabled {
                    dn: target_dn.clone(),
                    enabled: true,
                    attribute: "userAccountControl".into(),
                    from: vec![uac_with_enabled(None, false).to_string()],
                    to: vec![uac_with_enabled(None, true).to_string()],
                });
            }
            self.group_steps(s, req, None, &target_dn, &user.groups, plan)
                .await?;
            plan.account_id = Some(target_dn);
            return Ok(());
        };

        let (cur_rdn, cur_parent) = dn::split_first(&cur.dn);
        let mut dn = cur.dn.clone();
        if !dn::same(&cur_rdn, &desired.rdn) || !dn::same(&cur_parent, &desired.parent) {
            if !dn::same(&cur_parent, &desired.parent) {
                self.ensure_parents(s, &desired.parent, &mut plan.steps)
                    .await?;
            }
            plan.steps.push(Step::Rename {
                from: cur.dn.clone(),
                rdn: desired.rdn.clone(),
                parent: desired.parent.clone(),
            });
            dn = target_dn.clone();
        }
        for (attr, from, to) in self.attribute_diff(cur, &desired) {
            plan.steps.push(Step::Modify {
                dn: dn.clone(),
                attribute: attr,
                from,
                to,
            });
        }
        plan.steps.extend(self.enable_step(cur, &dn, user, enabled));
        if req.operation == Operation::Provision && self.password_differs(&cur.dn, req).await? {
            plan.steps.push(Step::SetPassword { dn: dn.clone() });
        }
        self.group_steps(s, req, Some(&cur.dn), &dn, &user.groups, plan)
            .await?;
        plan.account_id = Some(dn);
        Ok(())
    }

    /// Mapped attributes whose values differ: (attribute, from, to). The naming attribute is
    /// left to the rename.
    fn attribute_diff(
        &self,
        cur: &Current,
        desired: &Desired,
    ) -> Vec<(String, Vec<String>, Vec<String>)> {
        let mut diff = Vec::new();
        for (attr, _) in &self.attributes {
            if attr.eq_ignore_ascii_case(&self.rdn_attribute) {
                continue;
            }
            let want = desired
                .attrs
                .iter()
                .find(|(a, _)| a == attr)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let have = cur.get(attr).to_vec();
            let mut a = have.clone();
            let mut b = want.clone();
            a.sort();
            b.sort();
            if a != b {
                diff.push((attr.clone(), have, want));
            }
        }
        diff
    }
}
