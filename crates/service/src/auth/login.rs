//! Logging in, refreshing, logging out, and authenticating bearer tokens.

use std::net::IpAddr;

use cc_auth::{hash_secret, new_secret, AccessClaims, SecretKind};
use cc_domain::{NewAuditEvent, Operator, OperatorRole};
use cc_store::auth::{RefreshToken, Session};
use chrono::Duration;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::principal::{Principal, PrincipalKind};
use super::{name_tag, Auth, AuthError, CachedPrincipal, PrincipalKey};
use crate::ServiceError;

/// How often an API token's `last_used_at` is written at most.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// What a login or refresh answers.
#[derive(Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("access_token", &"***")
            .field("refresh_token", &"***")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub tokens: TokenPair,
    pub operator: Operator,
    /// The login session the tokens belong to.
    pub session_id: Uuid,
}

impl Auth {
    /// Checks a name and password and opens a session.
    ///
    /// Unknown names, wrong passwords and disabled operators get the same error after the same
    /// work (a dummy hash is verified for unknown names). Throttled or locked attempts are
    /// refused before the password is looked at; an admitted attempt is counted before its
    /// password is verified (see [`super::throttle`]).
    ///
    /// # Errors
    /// [`AuthError::InvalidCredentials`], [`AuthError::Throttled`], [`AuthError::Locked`], or a
    /// store failure.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        addr: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<LoginOutcome, AuthError> {
        if !self.settings.oidc.local_passwords {
            return Err(AuthError::LocalPasswordsDisabled);
        }
        let username = username.trim();
        let creds = if username.is_empty() || username.len() > 64 {
            None
        } else {
            self.store.auth().operator_credentials(username).await?
        };
        let attempt = self.attempt(username, creds.as_ref().map(|(op, _)| op.role), addr);
        self.reserve_attempt(&attempt, request_id.as_ref()).await?;

        let (operator, stored) = match creds {
            Some((op, hash)) => (Some(op), Some(hash)),
            None => (None, None),
        };
        let ok = self.verify_password(password, stored).await;
        let now = cc_domain::now();
        let mut tx = self.store.begin().await?;
        let operator = match operator {
            Some(op) if ok && !op.disabled => op,
            other => {
                self.record_failure(tx.as_mut(), &attempt, request_id.as_ref())
                    .await?;
                let (actor, target, reason) = match &other {
                    Some(op) if op.disabled => (
                        format!("operator:{}", op.username),
                        op.id.to_string(),
                        "disabled",
                    ),
                    Some(op) => (
                        format!("operator:{}", op.username),
                        op.id.to_string(),
                        "wrong_password",
                    ),
                    None => (
                        "anonymous".to_owned(),
                        format!(
                            "unknown:{}",
                            name_tag(self.keys.get(self.store.as_ref()).await?, username)
                        ),
                        "unknown_operator",
                    ),
                };
                tx.append_audit(NewAuditEvent {
                    actor,
                    action: "auth.login_failed".into(),
                    target_type: "operator".into(),
                    target_id: Some(target),
                    request_id: request_id.clone(),
                    before: None,
                    after: Some(
                        json!({"reason": reason, "client_addr": addr.map(|a| a.to_string())}),
                    ),
                })
                .await?;
                tx.commit().await?;
                tracing::info!(reason, "login failed");
                return Err(AuthError::InvalidCredentials);
            }
        };
        Self::record_success(tx.as_mut(), &attempt).await?;
        tx.auth().record_login(operator.id, now).await?;
        let session = Session {
            id: cc_domain::new_id(),
            operator_id: operator.id,
            created_at: now,
            expires_at: now + Duration::seconds(self.settings.session_max_age_secs),
            revoked_at: None,
        };
        tx.auth().insert_session(&session).await?;
        let refresh_token = self.issue_refresh(tx.as_mut(), &session, now).await?;
        tx.append_audit(NewAuditEvent {
            actor: format!("operator:{}", operator.username),
            action: "auth.login".into(),
            target_type: "operator".into(),
            target_id: Some(operator.id.to_string()),
            request_id,
            before: None,
            after: Some(
                json!({"session_id": session.id, "client_addr": addr.map(|a| a.to_string())}),
            ),
        })
        .await?;
        tx.commit().await?;
        let access_token = self.sign_access(&operator, session.id).await?;
        tracing::info!(operator = %operator.username, "login");
        Ok(LoginOutcome {
            tokens: self.pair(access_token, refresh_token),
            operator,
            session_id: session.id,
        })
    }

    /// Exchanges a refresh token for a new pair. A refresh token works once: presenting a used
    /// one again means it was copied, so the whole session (every token of the family) is
    /// revoked and the reuse audited.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for unknown, used, expired or revoked tokens.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        request_id: Option<String>,
    ) -> Result<TokenPair, AuthError> {
        let hash = hash_secret(refresh_token);
        let now = cc_domain::now();
        let mut tx = self.store.begin().await?;
        let Some(stored) = tx.auth().get_refresh_token(&hash).await? else {
            return Err(AuthError::InvalidToken);
        };
        let session = self
            .store
            .auth()
            .get_session(stored.session_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let operator = tx
            .auth()
            .get_operator(session.operator_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if stored.used_at.is_some() || !tx.auth().use_refresh_token(&hash, now).await? {
            if tx
                .auth()
                .revoke_session(session.id, "refresh_token_reuse", now)
                .await?
            {
                tx.append_audit(NewAuditEvent {
                    actor: format!("operator:{}", operator.username),
                    action: "auth.refresh_reuse".into(),
                    target_type: "session".into(),
                    target_id: Some(session.id.to_string()),
                    request_id,
                    before: None,
                    after: Some(json!({"revoked": "session"})),
                })
                .await?;
                tracing::warn!(operator = %operator.username, session = %session.id, "refresh token reused; session revoked");
            }
            tx.commit().await?;
            return Err(AuthError::InvalidToken);
        }
        if stored.expires_at <= now || !session.is_active(now) || operator.disabled {
            return Err(AuthError::InvalidToken);
        }
        let refresh_token = self.issue_refresh(tx.as_mut(), &session, now).await?;
        tx.commit().await?;
        let access_token = self.sign_access(&operator, session.id).await?;
        Ok(self.pair(access_token, refresh_token))
    }

    /// Ends the caller's session: its refresh tokens and access tokens stop working.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for API tokens (revoke those at `/api/v1/tokens`).
    pub async fn logout(
        &self,
        principal: &Principal,
        request_id: Option<String>,
    ) -> Result<(), AuthError> {
        let PrincipalKind::Session { session_id } = principal.kind else {
            return Err(AuthError::InvalidToken);
        };
        let mut tx = self.store.begin().await?;
        if tx
            .auth()
            .revoke_session(session_id, "logout", cc_domain::now())
            .await?
        {
            tx.append_audit(NewAuditEvent {
                actor: principal.name.clone(),
                action: "auth.logout".into(),
                target_type: "session".into(),
                target_id: Some(session_id.to_string()),
                request_id,
                before: None,
                after: None,
            })
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Who a bearer token belongs to, with the role it may act with now. Re-reads the operator
    /// and session (or token) on every call, so disabling an operator, lowering a role, logging
    /// out or revoking a token takes effect at once.
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`], or a store failure.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        self.authenticate_at(bearer, self.store.auth_generation())
            .await
    }

    /// [`Auth::authenticate`] with the store's auth generation
    /// ([`cc_store::Store::auth_generation`]) already taken by the caller, before it reads
    /// anything.
    ///
    /// # Errors
    /// As [`Auth::authenticate`].
    pub async fn authenticate_at(
        &self,
        bearer: &str,
        generation: Option<u64>,
    ) -> Result<Principal, AuthError> {
        if bearer.starts_with(SecretKind::ApiToken.prefix()) {
            return self.authenticate_api_token(bearer, generation).await;
        }
        let keys = self.keys.get(self.store.as_ref()).await?;
        let claims = keys.verify(bearer, chrono::Utc::now()).map_err(|e| {
            tracing::debug!(error = %e, "access token refused");
            AuthError::InvalidToken
        })?;
        self.session_principal(claims.sid, claims.sub, generation)
            .await
    }

    /// The principal of a login session, checked against the session and operator as they are
    /// now (the bearer and console paths share it).
    pub(super) async fn session_principal(
        &self,
        session_id: Uuid,
        operator_id: Uuid,
        generation: Option<u64>,
    ) -> Result<Principal, AuthError> {
        let now = cc_domain::now();
        // Sessions and operators change rarely; while the store reports no change, the
        // last lookup of this session stands (expiry is still checked every time).
        let key = PrincipalKey::Session(session_id, operator_id);
        if let Some(hit) = generation.and_then(|g| self.principals.get(&key, g)) {
            return if hit.expires_at > now {
                Ok(hit.principal)
            } else {
                Err(AuthError::InvalidToken)
            };
        }
        let op = self
            .store
            .auth()
            .get_operator(operator_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let session = self
            .store
            .auth()
            .get_session(session_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if op.disabled || session.operator_id != op.id || !session.is_active(now) {
            return Err(AuthError::InvalidToken);
        }
        let principal = Principal {
            name: format!("operator:{}", op.username),
            operator_id: op.id,
            username: op.username,
            role: op.role,
            kind: PrincipalKind::Session {
                session_id: session.id,
            },
        };
        if let Some(g) = generation {
            self.principals.insert(
                key,
                g,
                CachedPrincipal {
                    principal: principal.clone(),
                    expires_at: session.expires_at,
                    last_used_at: None,
                },
            );
        }
        Ok(principal)
    }

    async fn authenticate_api_token(
        &self,
        secret: &str,
        generation: Option<u64>,
    ) -> Result<Principal, AuthError> {
        let now = cc_domain::now();
        let key = PrincipalKey::ApiToken(hash_secret(secret));
        if let Some(hit) = generation.and_then(|g| self.principals.get(&key, g)) {
            if hit.expires_at <= now {
                return Err(AuthError::InvalidToken);
            }
            if let (PrincipalKind::ApiToken { token_id }, Some(g)) =
                (&hit.principal.kind, generation)
            {
                if self.touch_api_token(*token_id, hit.last_used_at, now) {
                    // Concurrent requests must not each write the same touch again.
                    let touched = CachedPrincipal {
                        last_used_at: Some(now),
                        ..hit.clone()
                    };
                    self.principals.insert(key, g, touched);
                }
            }
            return Ok(hit.principal);
        }
        let PrincipalKey::ApiToken(hash) = &key else {
            return Err(AuthError::InvalidToken);
        };
        let (token, creator) = self
            .store
            .auth()
            .api_token_by_hash(hash)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if !token.is_active(now) || creator.disabled {
            return Err(AuthError::InvalidToken);
        }
        let role = token_role(token.role, creator.role).ok_or(AuthError::InvalidToken)?;
        self.touch_api_token(token.id, token.last_used_at, now);
        let principal = Principal {
            name: format!("token:{}", token.name),
            operator_id: creator.id,
            username: creator.username,
            role,
            kind: PrincipalKind::ApiToken { token_id: token.id },
        };
        if let Some(g) = generation {
            self.principals.insert(
                key,
                g,
                CachedPrincipal {
                    principal: principal.clone(),
                    expires_at: token.expires_at,
                    last_used_at: Some(token.last_used_at.unwrap_or(now)),
                },
            );
        }
        Ok(principal)
    }

    /// Records the token's use, at most every [`TOUCH_INTERVAL_SECS`] (in the background: a
    /// request does not wait for it). True when it does.
    fn touch_api_token(
        &self,
        id: Uuid,
        last_used_at: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let due = last_used_at.is_none_or(|t| now - t > Duration::seconds(TOUCH_INTERVAL_SECS));
        if due {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(e) = store.auth().touch_api_token(id, now).await {
                    tracing::warn!(error = %e, "could not record API token use");
                }
            });
        }
        due
    }

    pub(super) async fn issue_refresh(
        &self,
        tx: &mut dyn cc_store::Tx,
        session: &Session,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, ServiceError> {
        let secret = new_secret(SecretKind::RefreshToken);
        let expires_at =
            (now + Duration::seconds(self.settings.refresh_token_ttl_secs)).min(session.expires_at);
        tx.auth()
            .insert_refresh_token(
                &hash_secret(&secret),
                &RefreshToken {
                    session_id: session.id,
                    created_at: now,
                    expires_at,
                    used_at: None,
                },
            )
            .await?;
        Ok(secret)
    }

    pub(super) async fn sign_access(
        &self,
        op: &Operator,
        session: Uuid,
    ) -> Result<String, ServiceError> {
        let keys = self.keys.get(self.store.as_ref()).await?;
        let claims = AccessClaims::new(
            op.id,
            session,
            &op.username,
            chrono::Utc::now(),
            self.settings.access_token_ttl_secs,
        );
        keys.sign(&claims)
            .map_err(|e| ServiceError::Internal(format!("signing an access token: {e}")))
    }

    pub(super) fn pair(&self, access_token: String, refresh_token: String) -> TokenPair {
        TokenPair {
            access_token,
            refresh_token,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl_secs,
        }
    }
}

/// What an API token may do now: its role, never more than its creator could grant today. A
/// token's role is capped by its creator's current role; a `scim` token (which only an admin
/// may grant, and which no other role includes) has no role left while its creator is not an
/// admin, and is refused until they are again.
fn token_role(token: OperatorRole, creator: OperatorRole) -> Option<OperatorRole> {
    if token == OperatorRole::Scim {
        return creator
            .can_grant(OperatorRole::Scim)
            .then_some(OperatorRole::Scim);
    }
    Some(token.min(creator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_roles_follow_the_creator() {
        use OperatorRole::{Admin, Auditor, Operator, Scim};
        assert_eq!(token_role(Admin, Operator), Some(Operator));
        assert_eq!(token_role(Auditor, Admin), Some(Auditor));
        assert_eq!(token_role(Scim, Admin), Some(Scim));
        assert_eq!(token_role(Scim, Operator), None);
        assert_eq!(token_role(Scim, Auditor), None);
    }
}
