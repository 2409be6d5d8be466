//! Who a verified ID token signs in as: the role its claim maps to, and the operator linked
//! to its issuer and subject (created at the first sign-in).

use std::net::IpAddr;

use cc_auth::oidc::IdClaims;
use cc_domain::{NewAuditEvent, Operator, OperatorRole};
use cc_store::auth::{OperatorIdentity, Session};
use chrono::Duration;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::config::OidcProviderConfig;
use super::OidcError;
use crate::auth::{Auth, LoginOutcome};

/// Stored as the password hash of operators created by a provider: not a hash, so no
/// password ever matches it.
const NO_PASSWORD: &str = "!oidc";

/// The role the claims map to: the highest of the roles mapped from the claim's values.
pub(super) fn mapped_role(config: &OidcProviderConfig, claims: &IdClaims) -> Option<OperatorRole> {
    let mut parts = config.role_claim.split('.');
    let first = parts.next()?;
    let mut value = claims.other.get(first)?;
    for part in parts {
        value = value.get(part)?;
    }
    let values: Vec<&str> = match value {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => Vec::new(),
    };
    values
        .iter()
        .filter_map(|v| config.roles.get(*v).copied())
        .max()
}

/// A valid operator name made from the first usable claim (the local part of an email).
fn proposed_username(config: &OidcProviderConfig, claims: &IdClaims) -> String {
    for claim in &config.username_claims {
        let Some(raw) = claims.other.get(claim).and_then(|v| v.as_str()) else {
            continue;
        };
        let raw = raw.split('@').next().unwrap_or_default().to_lowercase();
        let cleaned: String = raw
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .take(56)
            .collect();
        let cleaned = cleaned.trim_start_matches(['.', '_', '-']).to_owned();
        if cc_domain::validation::is_valid_username(&cleaned) {
            return cleaned;
        }
    }
    format!("sso-{}", &subject_tag(claims)[..8])
}

fn subject_tag(claims: &IdClaims) -> String {
    hex::encode(Sha256::digest(
        format!("{}\n{}", claims.iss, claims.sub).as_bytes(),
    ))
}

impl Auth {
    /// Signs in the person the claims describe: refused when no role maps; otherwise the
    /// linked operator (its role brought in line with the mapping) or a new one, and a new
    /// session. True when the operator was created.
    pub(super) async fn sign_in_identity(
        &self,
        config: &OidcProviderConfig,
        claims: &IdClaims,
        addr: Option<IpAddr>,
        request_id: Option<String>,
    ) -> Result<(LoginOutcome, bool), OidcError> {
        let role = mapped_role(config, claims).ok_or(OidcError::Unmapped)?;
        let now = cc_domain::now();
        let linked = self
            .store
            .auth()
            .get_identity(&claims.iss, &claims.sub)
            .await?;
        let mut tx = self.store.begin().await?;
        let actor = format!("oidc:{}", config.name);
        let (operator, created) = match linked {
            Some(link) => {
                let current = tx
                    .auth()
                    .get_operator(link.operator_id)
                    .await?
                    .ok_or(OidcError::StateInvalid)?;
                if current.disabled {
                    return Err(OidcError::Disabled);
                }
                let op = if current.role == role {
                    current
                } else {
                    let mut next = current.clone();
                    next.role = role;
                    next.version += 1;
                    next.updated_at = now;
                    tx.auth().update_operator(&next).await?;
                    tx.append_audit(NewAuditEvent {
                        actor: actor.clone(),
                        action: "operator.update".into(),
                        target_type: "operator".into(),
                        target_id: Some(next.id.to_string()),
                        request_id: request_id.clone(),
                        before: Some(json!({"role": current.role, "version": current.version})),
                        after: Some(json!({"role": next.role, "version": next.version, "reason": "role claim"})),
                    })
                    .await?;
                    next
                };
                tx.auth()
                    .touch_identity(&claims.iss, &claims.sub, now)
                    .await?;
                (op, false)
            }
            None => {
                let mut username = proposed_username(config, claims);
                if self
                    .store
                    .auth()
                    .get_operator_by_name(&username)
                    .await?
                    .is_some()
                {
                    let base: String = username.chars().take(55).collect();
                    username = format!("{base}-{}", &subject_tag(claims)[..8]);
                }
                let op = Operator {
                    id: cc_domain::new_id(),
                    username,
                    role,
                    disabled: false,
                    last_login_at: None,
                    password_changed_at: now,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                };
                tx.auth().insert_operator(&op, NO_PASSWORD).await?;
                tx.auth()
                    .insert_identity(&OperatorIdentity {
                        issuer: claims.iss.clone(),
                        subject: claims.sub.clone(),
                        operator_id: op.id,
                        provider: config.name.clone(),
                        created_at: now,
                        last_login_at: Some(now),
                    })
                    .await?;
                tx.append_audit(NewAuditEvent {
                    actor: actor.clone(),
                    action: "operator.create".into(),
                    target_type: "operator".into(),
                    target_id: Some(op.id.to_string()),
                    request_id: request_id.clone(),
                    before: None,
                    after: Some(json!({
                        "username": op.username, "role": op.role, "disabled": false,
                        "version": op.version, "provider": config.name,
                        "issuer": claims.iss, "subject": claims.sub,
                    })),
                })
                .await?;
                (op, true)
            }
        };
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
            after: Some(json!({
                "session_id": session.id, "provider": config.name,
                "client_addr": addr.map(|a| a.to_string()),
            })),
        })
        .await?;
        tx.commit().await?;
        let access_token = self.sign_access(&operator, session.id).await?;
        tracing::info!(operator = %operator.username, provider = %config.name, created, "signed in through an OpenID provider");
        Ok((
            LoginOutcome {
                tokens: self.pair(access_token, refresh_token),
                operator,
                session_id: session.id,
            },
            created,
        ))
    }
}
