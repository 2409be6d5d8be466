//! API tokens for automation: created with a role no higher than the creator's, shown once,
//! stored as a SHA-256 digest, revocable.

use cc_auth::{hash_secret, new_secret, SecretKind};
use cc_domain::{ApiToken, NewApiToken, NewAuditEvent, OperatorRole, ValidationErrors};
use chrono::Duration;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::{Auth, Principal};
use crate::ServiceError;

/// Default lifetime of an API token, in days.
pub const DEFAULT_TOKEN_DAYS: u32 = 90;
/// Longest lifetime of an API token, in days.
pub const MAX_TOKEN_DAYS: u32 = 730;

/// A new token and its secret, which is never shown again.
#[derive(Clone, Serialize)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .field("secret", &"***")
            .finish()
    }
}

impl Auth {
    /// # Errors
    /// A bad name or lifetime, a role above the creator's, a name already in use, a store failure.
    pub async fn create_api_token(
        &self,
        creator: &Principal,
        input: NewApiToken,
        request_id: Option<String>,
    ) -> Result<CreatedToken, ServiceError> {
        let mut errors = ValidationErrors::default();
        let name = input.name.trim().to_owned();
        if !cc_domain::validation::is_valid_username(&name) {
            errors.add(
                "name",
                "must be 1-64 lowercase letters, digits, '.', '_' or '-'",
            );
        }
        if !creator.role.can_grant(input.role) {
            let why = if input.role == OperatorRole::Scim {
                "only an admin may create a token with the scim role".to_owned()
            } else {
                format!("cannot be above your own role ({})", creator.role)
            };
            errors.add("role", why);
        }
        let days = input.expires_in_days.unwrap_or(DEFAULT_TOKEN_DAYS);
        if !(1..=MAX_TOKEN_DAYS).contains(&days) {
            errors.add(
                "expires_in_days",
                format!("must be between 1 and {MAX_TOKEN_DAYS}"),
            );
        }
        if !errors.is_empty() {
            return Err(errors.into());
        }
        let now = cc_domain::now();
        let token = ApiToken {
            id: cc_domain::new_id(),
            name,
            role: input.role,
            created_by: creator.operator_id,
            created_at: now,
            expires_at: now + Duration::days(i64::from(days)),
            revoked_at: None,
            last_used_at: None,
        };
        let secret = new_secret(SecretKind::ApiToken);
        let mut tx = self.store.begin().await?;
        tx.auth()
            .insert_api_token(&token, &hash_secret(&secret))
            .await
            .map_err(|e| match e {
                cc_store::StoreError::Conflict { .. } => ServiceError::Conflict {
                    field: "name".into(),
                },
                other => other.into(),
            })?;
        tx.append_audit(NewAuditEvent {
            actor: creator.name.clone(),
            action: "token.create".into(),
            target_type: "api_token".into(),
            target_id: Some(token.id.to_string()),
            request_id,
            before: None,
            after: Some(
                json!({"name": token.name, "role": token.role, "expires_at": token.expires_at}),
            ),
        })
        .await?;
        tx.commit().await?;
        Ok(CreatedToken { token, secret })
    }

    /// # Errors
    /// A store failure.
    pub async fn list_api_tokens(&self) -> Result<Vec<ApiToken>, ServiceError> {
        Ok(self.store.auth().list_api_tokens().await?)
    }

    /// # Errors
    /// A store failure.
    pub async fn get_api_token(&self, id: Uuid) -> Result<Option<ApiToken>, ServiceError> {
        Ok(self.store.auth().get_api_token(id).await?)
    }

    /// Revokes a token; revoking a revoked token changes nothing.
    ///
    /// # Errors
    /// Not found, a store failure.
    pub async fn revoke_api_token(
        &self,
        actor: &Principal,
        id: Uuid,
        request_id: Option<String>,
    ) -> Result<ApiToken, ServiceError> {
        let mut tx = self.store.begin().await?;
        let now = cc_domain::now();
        if tx.auth().revoke_api_token(id, now).await? {
            let token = self.store.auth().get_api_token(id).await?;
            tx.append_audit(NewAuditEvent {
                actor: actor.name.clone(),
                action: "token.revoke".into(),
                target_type: "api_token".into(),
                target_id: Some(id.to_string()),
                request_id,
                before: None,
                after: Some(json!({"name": token.map(|t| t.name)})),
            })
            .await?;
            tx.commit().await?;
        }
        self.store
            .auth()
            .get_api_token(id)
            .await?
            .ok_or(ServiceError::NotFound("API token"))
    }
}
