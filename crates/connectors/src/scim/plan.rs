//! Finding the account, working out what differs, and carrying it out.

use cc_domain::{User, UserStatus};
use serde_json::{json, Value};

use super::http::{eq_filter, Created};
use super::mapping::{AttrPath, CoreAttr};
use super::{MatchBy, ScimDeprovision, ScimTarget};
use crate::config::expose;
use crate::ldap::template::{raw, Vars};
use crate::{Change, ChangeKind, Operation, OperationRequest, TargetError, TargetOutcome};
use cc_scim::patch::{PatchOp, PatchOperation};
use cc_scim::wire;
use cc_scim::{ENTERPRISE_USER_SCHEMA, USER_SCHEMA};

/// The mapped attributes for one person: `None` where a template's variable has no value
/// (the attribute is then removed from the account).
type Desired = Vec<(AttrPath, Option<String>)>;

/// What to send.
pub(super) enum Action {
    Nothing,
    /// `POST /Users` with this body (the password is added when it is sent).
    Create(Box<wire::User>),
    /// `PATCH /Users/{id}` with these operations (and the password, when `set_password`).
    Patch(String, Vec<PatchOperation>),
    Delete(String),
}

/// The account as found, and what `apply` would send.
pub(super) struct Plan {
    pub current: Option<wire::User>,
    /// How the account was found: `link`, `externalId`, `userName`, `previous userName`.
    pub found_by: Option<&'static str>,
    pub account_id: Option<String>,
    pub action: Action,
    pub set_password: bool,
    pub changes: Vec<Change>,
    /// Why a password that came with the request is not sent.
    pub password_note: Option<&'static str>,
}

impl Plan {
    pub fn detail(&self) -> Value {
        let mut d = json!({ "found_by": self.found_by });
        if let Some(note) = self.password_note {
            d["password"] = json!(note);
        }
        d
    }
}

impl ScimTarget {
    fn desired(&self, user: &User) -> Result<Desired, TargetError> {
        let vars = Vars::of(user, "");
        let desired: Desired = self
            .attributes
            .iter()
            .map(|(path, t)| (path.clone(), t.render(&vars, raw).ok()))
            .collect();
        if value_of(&desired, &AttrPath::Core(CoreAttr::UserName)).is_none() {
            return Err(TargetError::permanent(format!(
                "`attributes.userName` renders empty for {}",
                user.username
            )));
        }
        Ok(desired)
    }

    /// The account: by the link's id, else by each `match` filter in turn.
    async fn locate(
        &self,
        req: &OperationRequest,
        desired: &Desired,
    ) -> Result<(Option<wire::User>, Option<&'static str>), TargetError> {
        if let Some(link) = &req.link {
            if let Some(u) = self.api.get_user(&link.account_id).await? {
                return Ok((Some(u), Some("link")));
            }
        }
        for m in &self.match_by {
            let found = match m {
                MatchBy::ExternalId => {
                    match value_of(desired, &AttrPath::Core(CoreAttr::ExternalId)) {
                        Some(v) => self
                            .api
                            .find_user(&eq_filter("externalId", v))
                            .await?
                            .map(|u| (u, "externalId")),
                        None => None,
                    }
                }
                MatchBy::UserName => {
                    let current = value_of(desired, &AttrPath::Core(CoreAttr::UserName));
                    let previous = req
                        .previous
                        .as_ref()
                        .and_then(|p| self.desired(p).ok())
                        .and_then(|d| {
                            value_of(&d, &AttrPath::Core(CoreAttr::UserName)).map(str::to_owned)
                        })
                        .filter(|p| Some(p.as_str()) != current);
                    self.find_by_user_names(current, previous.as_deref())
                        .await?
                }
            };
            if let Some((u, how)) = found {
                return Ok((Some(u), Some(how)));
            }
        }
        Ok((None, None))
    }

    /// Matching by the current, then the previous username (a rename).
    async fn find_by_user_names(
        &self,
        current: Option<&str>,
        previous: Option<&str>,
    ) -> Result<Option<(wire::User, &'static str)>, TargetError> {
        for (value, how) in [(current, "userName"), (previous, "previous userName")] {
            let Some(value) = value else { continue };
            if let Some(u) = self.api.find_user(&eq_filter("userName", value)).await? {
                return Ok(Some((u, how)));
            }
        }
        Ok(None)
    }

    /// What `req` needs done. `dry_run` asks nothing of the provider beyond reads.
    pub(super) async fn plan_steps(
        &self,
        req: &OperationRequest,
        dry_run: bool,
    ) -> Result<Plan, TargetError> {
        let desired = self.desired(&req.user)?;
        let (current, found_by) = self.locate(req, &desired).await?;
        let mut plan = Plan {
            account_id: current.as_ref().and_then(|c| c.id.clone()),
            current,
            found_by,
            action: Action::Nothing,
            set_password: false,
            changes: Vec::new(),
            password_note: None,
        };
        let user = &req.user;
        match req.operation {
            Operation::Provision | Operation::Update => {
                let active = req.operation == Operation::Provision
                    || !matches!(
                        user.status,
                        UserStatus::Suspended | UserStatus::Deprovisioned
                    );
                match &plan.current {
                    None => self.plan_create(req, &desired, active, &mut plan),
                    Some(cur) => {
                        let id = remote_id(cur)?;
                        let ops = self.diff(cur, &desired, Some(active), &mut plan.changes, &id);
                        if req.password.is_some() && self.passwords {
                            plan.password_note =
                                Some("kept: the account already existed (use reset_password)");
                        }
                        plan.action = patch_or_nothing(id, ops);
                    }
                }
            }
            Operation::Suspend => {
                if let Some(cur) = &plan.current {
                    let id = remote_id(cur)?;
                    let ops = self.diff(cur, &[], Some(false), &mut plan.changes, &id);
                    plan.action = patch_or_nothing(id, ops);
                }
            }
            Operation::ResetPassword => {
                let Some(cur) = &plan.current else {
                    return Err(TargetError::permanent(format!(
                        "no account for {} on {}: provision it first",
                        user.username, self.name
                    )));
                };
                self.check_passwords_accepted().await?;
                if !dry_run && req.password.is_none() {
                    return Err(TargetError::permanent(
                        "reset_password needs a password to set",
                    ));
                }
                let id = remote_id(cur)?;
                plan.changes.push(Change::new(ChangeKind::SetPassword, &id));
                plan.set_password = true;
                plan.action = Action::Patch(id, Vec::new());
            }
            Operation::Deprovision => {
                if let Some(cur) = &plan.current {
                    let id = remote_id(cur)?;
                    match self.deprovision {
                        ScimDeprovision::Deactivate => {
                            let ops = self.diff(cur, &[], Some(false), &mut plan.changes, &id);
                            plan.action = patch_or_nothing(id, ops);
                        }
                        ScimDeprovision::Delete => {
                            plan.changes.push(Change::new(ChangeKind::Delete, &id));
                            plan.action = Action::Delete(id);
                            plan.account_id = None;
                        }
                    }
                }
            }
        }
        Ok(plan)
    }

    fn plan_create(
        &self,
        req: &OperationRequest,
        desired: &Desired,
        active: bool,
        plan: &mut Plan,
    ) {
        let mut body = wire::User {
            schemas: vec![USER_SCHEMA.to_owned()],
            active: Some(active),
            ..wire::User::default()
        };
        for (path, value) in desired {
            if let Some(v) = value {
                path.write(&mut body, v);
            }
        }
        if body.enterprise.is_some() {
            body.schemas.push(ENTERPRISE_USER_SCHEMA.to_owned());
        }
        let shown = body.user_name.clone().unwrap_or_default();
        let mut create = Change::new(ChangeKind::Create, &shown);
        create.to = serde_json::to_value(&body).ok();
        plan.changes.push(create);
        if req.password.is_some() && self.passwords {
            plan.set_password = true;
            plan.changes
                .push(Change::new(ChangeKind::SetPassword, &shown));
        }
        plan.action = Action::Create(Box::new(body));
    }

    /// The PATCH operations that bring `cur` to `desired` (and to `active`, when given),
    /// recording each as a change.
    fn diff(
        &self,
        cur: &wire::User,
        desired: &[(AttrPath, Option<String>)],
        active: Option<bool>,
        changes: &mut Vec<Change>,
        id: &str,
    ) -> Vec<PatchOperation> {
        let mut ops = Vec::new();
        for (path, value) in desired {
            if let Some(op) = path.patch(cur, value.as_deref()) {
                let mut change = Change::new(ChangeKind::Modify, id).attribute(path.patch_path());
                change.from = path.read(cur).map(|v| json!(v));
                change.to = value.as_ref().map(|v| json!(v));
                changes.push(change);
                ops.push(op);
            }
        }
        if let Some(active) = active {
            // An account that does not say is taken to be active (RFC 7643's usual default).
            if cur.active.unwrap_or(true) != active {
                let kind = if active {
                    ChangeKind::Enable
                } else {
                    ChangeKind::Disable
                };
                changes.push(Change::new(kind, id).attribute("active"));
                ops.push(PatchOperation::replace("active", json!(active)));
            }
        }
        ops
    }

    /// A permanent error unless this target sends passwords and the provider accepts them.
    async fn check_passwords_accepted(&self) -> Result<(), TargetError> {
        if !self.passwords {
            return Err(TargetError::permanent(format!(
                "target `{}` does not send passwords (passwords = false)",
                self.name
            )));
        }
        if !self.provider().await?.change_password.yes() {
            return Err(TargetError::permanent(format!(
                "{} does not accept password changes (changePassword.supported is not true)",
                self.api.shown
            )));
        }
        Ok(())
    }

    /// Plans and carries out `req`.
    pub(super) async fn converge(
        &self,
        req: &OperationRequest,
    ) -> Result<TargetOutcome, TargetError> {
        let plan = self.plan_steps(req, false).await?;
        let detail = plan.detail();
        let password = if plan.set_password {
            req.password.as_ref().map(|p| expose(p).to_owned())
        } else {
            None
        };
        match plan.action {
            Action::Nothing => Ok(outcome(plan.account_id, Vec::new(), detail)),
            Action::Patch(id, mut ops) => {
                if let Some(pw) = password {
                    ops.push(PatchOperation::replace("password", Value::String(pw)));
                }
                self.api.patch_user(&id, &PatchOp::new(ops)).await?;
                Ok(outcome(Some(id), plan.changes, detail))
            }
            Action::Delete(id) => {
                self.api.delete_user(&id).await?;
                Ok(outcome(None, plan.changes, detail))
            }
            Action::Create(body) => self.create(req, &body, password, plan.changes).await,
        }
    }

    async fn create(
        &self,
        req: &OperationRequest,
        body: &wire::User,
        password: Option<String>,
        changes: Vec<Change>,
    ) -> Result<TargetOutcome, TargetError> {
        let mut json = serde_json::to_value(body)
            .map_err(|e| TargetError::permanent(format!("cannot encode the account: {e}")))?;
        if let Some(pw) = password {
            json["password"] = Value::String(pw);
        }
        match self.api.create_user(&json).await? {
            Created::User(u) => {
                let id = remote_id(&u)?;
                Ok(outcome(
                    Some(id),
                    changes,
                    json!({ "found_by": null, "created": true }),
                ))
            }
            Created::Conflict => self.link_conflicting(req, body).await,
        }
    }

    /// After `409 uniqueness`: finds the account holding the values by `userName`, then
    /// `externalId` (whatever `match` says), links it and brings it up to date.
    async fn link_conflicting(
        &self,
        req: &OperationRequest,
        body: &wire::User,
    ) -> Result<TargetOutcome, TargetError> {
        let lookups = [
            ("userName", body.user_name.as_deref()),
            ("externalId", body.external_id.as_deref()),
        ];
        for (attribute, value) in lookups {
            let Some(value) = value else { continue };
            if let Some(cur) = self.api.find_user(&eq_filter(attribute, value)).await? {
                let id = remote_id(&cur)?;
                let desired = self.desired(&req.user)?;
                let mut changes = Vec::new();
                let ops = self.diff(&cur, &desired, body.active, &mut changes, &id);
                if !ops.is_empty() {
                    self.api.patch_user(&id, &PatchOp::new(ops)).await?;
                }
                let detail = json!({
                    "found_by": attribute,
                    "linked_existing": true,
                    "password": req.password.as_ref().map(|_| "kept: the account already existed (use reset_password)"),
                });
                return Ok(outcome(Some(id), changes, detail));
            }
        }
        Err(TargetError::permanent(format!(
            "POST {}/Users answered 409 (uniqueness), but no account with userName {:?} or \
             externalId {:?} was found to link",
            self.api.shown.trim_end_matches('/'),
            body.user_name.as_deref().unwrap_or_default(),
            body.external_id.as_deref().unwrap_or_default(),
        )))
    }
}

fn value_of<'d>(desired: &'d [(AttrPath, Option<String>)], path: &AttrPath) -> Option<&'d str> {
    desired
        .iter()
        .find(|(p, _)| p == path)
        .and_then(|(_, v)| v.as_deref())
}

fn remote_id(u: &wire::User) -> Result<String, TargetError> {
    u.id.clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| TargetError::permanent("the provider returned an account without an `id`"))
}

fn patch_or_nothing(id: String, ops: Vec<PatchOperation>) -> Action {
    if ops.is_empty() {
        Action::Nothing
    } else {
        Action::Patch(id, ops)
    }
}

fn outcome(account_id: Option<String>, changes: Vec<Change>, detail: Value) -> TargetOutcome {
    TargetOutcome {
        account_id,
        changes,
        detail,
    }
}
