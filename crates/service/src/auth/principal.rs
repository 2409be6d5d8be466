//! Who is calling: an operator with a login session, or an API token.

use cc_domain::{Actor, OperatorRole};
use uuid::Uuid;

/// How the caller authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalKind {
    /// An access token from a login; `session_id` names the refresh-token family.
    Session { session_id: Uuid },
    /// An API token.
    ApiToken { token_id: Uuid },
}

/// An authenticated caller with its effective role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `operator:<username>` or `token:<name>`: the audit actor.
    pub name: String,
    /// The operator, or the operator who created the token.
    pub operator_id: Uuid,
    pub username: String,
    pub role: OperatorRole,
    pub kind: PrincipalKind,
}

impl Principal {
    /// The audit actor for changes this principal makes in a request.
    #[must_use]
    pub fn actor(&self, request_id: Option<String>) -> Actor {
        Actor {
            name: self.name.clone(),
            request_id,
        }
    }
}

impl super::Auth {
    /// Audits a refused request: who, which route, which role it needed.
    ///
    /// # Errors
    /// A store failure.
    pub async fn record_denial(
        &self,
        principal: &Principal,
        route: &str,
        required: OperatorRole,
        request_id: Option<String>,
    ) -> Result<(), crate::ServiceError> {
        let mut tx = self.store.begin().await?;
        tx.append_audit(cc_domain::NewAuditEvent {
            actor: principal.name.clone(),
            action: "auth.denied".into(),
            target_type: "route".into(),
            target_id: Some(route.to_owned()),
            request_id,
            before: None,
            after: Some(serde_json::json!({"required_role": required, "role": principal.role})),
        })
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
