//! Managing operators: bootstrap, create, change role, disable/enable, reset password.

use cc_auth::password::{check_policy, PasswordError};
use cc_domain::operator::validate_operator_name;
use cc_domain::{
    Actor, NewAuditEvent, NewOperator, Operator, OperatorPatch, OperatorRole, ValidationErrors,
};
use serde_json::json;
use uuid::Uuid;

use super::Auth;
use crate::{check_version, ServiceError};

/// What the first start did about the first operator.
#[derive(Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Operators exist already; nothing was done.
    NotNeeded,
    /// `admin` was created with the configured password.
    Configured,
    /// `admin` was created with this generated password, to be shown once.
    Generated(String),
}

impl std::fmt::Debug for Bootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bootstrap::NotNeeded => "NotNeeded",
            Bootstrap::Configured => "Configured",
            Bootstrap::Generated(_) => "Generated(***)",
        })
    }
}

/// The name of the first operator.
pub const BOOTSTRAP_ADMIN: &str = "admin";

fn password_error(e: &PasswordError) -> ServiceError {
    ServiceError::Validation(ValidationErrors::single("password", e.to_string()))
}

/// The audit view of an operator: never the password hash (which `Operator` does not hold).
fn audit_view(op: &Operator) -> serde_json::Value {
    json!({"username": op.username, "role": op.role, "disabled": op.disabled, "version": op.version})
}

impl Auth {
    /// Creates the first operator, `admin`, when there is none: with `password` when given,
    /// otherwise with a generated one that the caller must show once.
    ///
    /// # Errors
    /// The configured password breaks the policy, or the store failed.
    pub async fn bootstrap_admin(&self, password: Option<&str>) -> Result<Bootstrap, ServiceError> {
        if self.store.auth().count_operators().await? > 0 {
            return Ok(Bootstrap::NotNeeded);
        }
        let (password, outcome) = match password.filter(|p| !p.is_empty()) {
            Some(p) => (p.to_owned(), Bootstrap::Configured),
            None => {
                let p = cc_auth::secret::random_b64(18);
                (p.clone(), Bootstrap::Generated(p))
            }
        };
        let input = NewOperator {
            username: BOOTSTRAP_ADMIN.into(),
            password,
            role: OperatorRole::Admin,
        };
        match self
            .create_operator(&Actor::system("bootstrap"), input)
            .await
        {
            Ok(_) => Ok(outcome),
            // Another replica bootstrapped at the same moment.
            Err(ServiceError::Conflict { .. }) => Ok(Bootstrap::NotNeeded),
            Err(ServiceError::Validation(v)) => {
                Err(ServiceError::Validation(ValidationErrors::single(
                    "bootstrap_admin_password",
                    v.0.first().map_or_else(String::new, |e| e.message.clone()),
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// # Errors
    /// Invalid name or password, a taken name, or a store failure.
    pub async fn create_operator(
        &self,
        actor: &Actor,
        input: NewOperator,
    ) -> Result<Operator, ServiceError> {
        let username = input.username.trim().to_owned();
        validate_operator_name(&username)?;
        refuse_token_only_role(input.role)?;
        check_policy(&input.password, &username).map_err(|e| password_error(&e))?;
        let hash = self.hash_password(&input.password).await?;
        let now = cc_domain::now();
        let op = Operator {
            id: cc_domain::new_id(),
            username,
            role: input.role,
            disabled: false,
            last_login_at: None,
            password_changed_at: now,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.auth().insert_operator(&op, &hash).await?;
        tx.append_audit(event(
            actor,
            "operator.create",
            &op,
            None,
            Some(audit_view(&op)),
        ))
        .await?;
        tx.commit().await?;
        Ok(op)
    }

    /// Lists every operator, by name.
    ///
    /// # Errors
    /// A store failure.
    pub async fn list_operators(&self) -> Result<Vec<Operator>, ServiceError> {
        Ok(self.store.auth().list_operators().await?)
    }

    /// # Errors
    /// A store failure.
    pub async fn find_operator(&self, name: &str) -> Result<Option<Operator>, ServiceError> {
        Ok(self.store.auth().get_operator_by_name(name).await?)
    }

    /// Changes the role and/or enables or disables. Disabling ends the operator's sessions.
    /// The last enabled admin can be neither demoted nor disabled.
    ///
    /// # Errors
    /// Not found, a stale version, the last-admin rule, a store failure.
    pub async fn update_operator(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: OperatorPatch,
        if_match: Option<i64>,
    ) -> Result<Operator, ServiceError> {
        let now = cc_domain::now();
        let mut tx = self.store.begin().await?;
        // Lock the enabled admins before the target (always in this order), so concurrent
        // changes of two admins are decided one after the other.
        let enabled_admins = tx.auth().count_enabled_admins().await?;
        let current = tx
            .auth()
            .get_operator(id)
            .await?
            .ok_or(ServiceError::NotFound("operator"))?;
        check_version(if_match, current.version)?;
        let mut next = current.clone();
        if let Some(role) = patch.role {
            refuse_token_only_role(role)?;
            next.role = role;
        }
        if let Some(disabled) = patch.disabled {
            next.disabled = disabled;
        }
        if next == current {
            return Ok(current);
        }
        let was_admin = current.role == OperatorRole::Admin && !current.disabled;
        let is_admin = next.role == OperatorRole::Admin && !next.disabled;
        if was_admin && !is_admin && enabled_admins <= 1 {
            return Err(ServiceError::Validation(ValidationErrors::single(
                "role",
                "this is the last enabled admin; create or enable another admin first",
            )));
        }
        next.version += 1;
        next.updated_at = now;
        tx.auth().update_operator(&next).await?;
        if next.role != current.role {
            tx.append_audit(event(
                actor,
                "operator.role_change",
                &next,
                Some(json!({"role": current.role})),
                Some(json!({"role": next.role})),
            ))
            .await?;
        }
        if next.disabled != current.disabled {
            let action = if next.disabled {
                "operator.disable"
            } else {
                "operator.enable"
            };
            tx.append_audit(event(
                actor,
                action,
                &next,
                Some(json!({"disabled": current.disabled})),
                Some(json!({"disabled": next.disabled})),
            ))
            .await?;
            if next.disabled {
                // For good: enabling the operator again does not revive them.
                tx.auth()
                    .revoke_operator_sessions(id, "operator_disabled", now)
                    .await?;
                tx.auth().revoke_operator_api_tokens(id, now).await?;
            }
        }
        tx.commit().await?;
        Ok(next)
    }

    /// Sets a new password, ends the operator's sessions, and lifts a login lock on its name.
    ///
    /// # Errors
    /// Not found, a password that breaks the policy, a store failure.
    pub async fn reset_password(
        &self,
        actor: &Actor,
        id: Uuid,
        password: &str,
    ) -> Result<Operator, ServiceError> {
        let op = self
            .store
            .auth()
            .get_operator(id)
            .await?
            .ok_or(ServiceError::NotFound("operator"))?;
        check_policy(password, &op.username).map_err(|e| password_error(&e))?;
        let hash = self.hash_password(password).await?;
        let now = cc_domain::now();
        let mut tx = self.store.begin().await?;
        tx.auth().set_password(id, &hash, now).await?;
        let ended = tx
            .auth()
            .revoke_operator_sessions(id, "password_reset", now)
            .await?;
        Self::lift_name_lock(tx.as_mut(), &op.username, actor).await?;
        let op = tx
            .auth()
            .get_operator(id)
            .await?
            .ok_or(ServiceError::NotFound("operator"))?;
        tx.append_audit(event(
            actor,
            "operator.password_reset",
            &op,
            None,
            Some(json!({"sessions_ended": ended, "version": op.version})),
        ))
        .await?;
        tx.commit().await?;
        Ok(op)
    }
}

fn event(
    actor: &Actor,
    action: &str,
    op: &Operator,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> NewAuditEvent {
    NewAuditEvent {
        actor: actor.name.clone(),
        action: action.to_owned(),
        target_type: "operator".into(),
        target_id: Some(op.id.to_string()),
        request_id: actor.request_id.clone(),
        before,
        after,
    }
}

/// The `scim` role belongs to API tokens of SCIM clients, never to an operator.
fn refuse_token_only_role(role: OperatorRole) -> Result<(), ServiceError> {
    if role == OperatorRole::Scim {
        return Err(ValidationErrors::single(
            "role",
            "the scim role is for API tokens only (admin, operator or auditor)",
        )
        .into());
    }
    Ok(())
}
