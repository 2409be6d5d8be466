//! Console sessions: the browser console's cookie credential and its CSRF token.
//!
//! A console sign-in is an ordinary login (same throttle, lockout and audit) whose session the
//! browser holds through a credential that names the session, when it was signed in and when
//! it was last used, MAC'd with a key derived from the access-token signing keys (so every
//! replica agrees and rotating the keys signs everyone out). It is never an access token, and
//! it is only ever kept in an `HttpOnly` cookie. Every use re-reads the session and operator
//! (through the same cache as bearer tokens), so logout, a revoked session or a disabled
//! operator end it at once; the idle and absolute timeouts are checked against the signed
//! times, and an idle session is revoked when next presented.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use uuid::Uuid;

use super::{Auth, AuthError, Principal};
use crate::ServiceError;

type HmacSha256 = Hmac<sha2::Sha256>;

const VERSION: &str = "v1";
const SESSION_PURPOSE: &str = "console.session";
const CSRF_PURPOSE: &str = "console.csrf";
/// A credential is re-issued (sliding the idle timer) at most this often.
const RENEW_AFTER_SECS: i64 = 60;

/// Console session timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsolePolicy {
    /// A console session unused this long ends.
    pub idle_timeout_secs: i64,
    /// A console session ends this long after sign-in, however much it is used.
    pub absolute_timeout_secs: i64,
}

impl Default for ConsolePolicy {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 30 * 60,
            absolute_timeout_secs: 12 * 3600,
        }
    }
}

/// A valid console credential.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    pub principal: Principal,
    pub session_id: Uuid,
    /// A fresh credential with the idle timer slid forward, when one is due (set it as the
    /// cookie); `None` when the presented one is recent enough.
    pub renewed: Option<String>,
    /// Seconds until the absolute timeout (the cookie's `Max-Age`).
    pub remaining_secs: i64,
}

/// The parts of a credential, once its MAC checks out.
struct Claims {
    session_id: Uuid,
    operator_id: Uuid,
    issued: i64,
    seen: i64,
}

impl Auth {
    /// A console credential for a session just opened by [`Auth::login`].
    ///
    /// # Errors
    /// The signing keys could not be loaded.
    pub async fn console_credential(
        &self,
        session_id: Uuid,
        operator_id: Uuid,
    ) -> Result<String, ServiceError> {
        let now = Utc::now().timestamp();
        self.sign_console(&Claims {
            session_id,
            operator_id,
            issued: now,
            seen: now,
        })
        .await
    }

    /// The console's timeouts.
    #[must_use]
    pub fn console_policy(&self) -> ConsolePolicy {
        self.settings.console
    }

    /// Checks a console credential. `activity` says whether the request is the operator's own
    /// (it slides the idle timer) or a background refresh (it does not).
    ///
    /// # Errors
    /// [`AuthError::InvalidToken`] for a forged, idle, too old or revoked credential (or a
    /// disabled operator); a store failure.
    pub async fn authenticate_console(
        &self,
        credential: &str,
        generation: Option<u64>,
        activity: bool,
    ) -> Result<ConsoleSession, AuthError> {
        let claims = self.open_console(credential).await?;
        let policy = self.settings.console;
        let now = Utc::now().timestamp();
        let remaining_secs = claims.issued + policy.absolute_timeout_secs - now;
        if remaining_secs <= 0 || claims.issued > now + 60 {
            return Err(AuthError::InvalidToken);
        }
        if now - claims.seen > policy.idle_timeout_secs {
            self.end_idle_session(claims.session_id).await;
            return Err(AuthError::InvalidToken);
        }
        let principal = self
            .session_principal(claims.session_id, claims.operator_id, generation)
            .await?;
        let renewed = if activity && now - claims.seen >= RENEW_AFTER_SECS {
            Some(
                self.sign_console(&Claims {
                    seen: now,
                    ..claims
                })
                .await?,
            )
        } else {
            None
        };
        Ok(ConsoleSession {
            principal,
            session_id: claims.session_id,
            renewed,
            remaining_secs,
        })
    }

    /// The CSRF token of a console session: the same for every form of the session, useless
    /// without the session's cookie, and unguessable without the server's key.
    ///
    /// # Errors
    /// The signing keys could not be loaded.
    pub async fn csrf_token(&self, session_id: Uuid) -> Result<String, ServiceError> {
        let keys = self.keys.get(self.store.as_ref()).await?;
        let (_, key) = keys
            .derived(CSRF_PURPOSE)
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("no signing key".into()))?;
        Ok(mac_hex(&key, session_id.as_bytes()))
    }

    /// Whether `token` is the session's CSRF token (under any accepted key).
    ///
    /// # Errors
    /// The signing keys could not be loaded.
    pub async fn verify_csrf(&self, session_id: Uuid, token: &str) -> Result<bool, ServiceError> {
        let keys = self.keys.get(self.store.as_ref()).await?;
        Ok(keys.derived(CSRF_PURPOSE).into_iter().any(|(_, key)| {
            cc_auth::secret::constant_time_eq(
                mac_hex(&key, session_id.as_bytes()).as_bytes(),
                token.as_bytes(),
            )
        }))
    }

    async fn sign_console(&self, c: &Claims) -> Result<String, ServiceError> {
        let keys = self.keys.get(self.store.as_ref()).await?;
        let (_, key) = keys
            .derived(SESSION_PURPOSE)
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Internal("no signing key".into()))?;
        let body = format!(
            "{VERSION}.{}.{}.{}.{}",
            c.session_id.simple(),
            c.operator_id.simple(),
            c.issued,
            c.seen
        );
        let mac = mac_hex(&key, body.as_bytes());
        Ok(format!("{body}.{mac}"))
    }

    async fn open_console(&self, credential: &str) -> Result<Claims, AuthError> {
        if credential.len() > 256 {
            return Err(AuthError::InvalidToken);
        }
        let (body, mac) = credential.rsplit_once('.').ok_or(AuthError::InvalidToken)?;
        let keys = self.keys.get(self.store.as_ref()).await?;
        let genuine = keys.derived(SESSION_PURPOSE).into_iter().any(|(_, key)| {
            cc_auth::secret::constant_time_eq(
                mac_hex(&key, body.as_bytes()).as_bytes(),
                mac.as_bytes(),
            )
        });
        if !genuine {
            return Err(AuthError::InvalidToken);
        }
        let mut parts = body.split('.');
        let (Some(VERSION), Some(sid), Some(oid), Some(issued), Some(seen), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(AuthError::InvalidToken);
        };
        let parse = || -> Option<Claims> {
            Some(Claims {
                session_id: Uuid::parse_str(sid).ok()?,
                operator_id: Uuid::parse_str(oid).ok()?,
                issued: issued.parse().ok()?,
                seen: seen.parse().ok()?,
            })
        };
        parse().ok_or(AuthError::InvalidToken)
    }

    /// Revokes a session whose console credential went idle (best effort: it is refused
    /// either way).
    async fn end_idle_session(&self, session_id: Uuid) {
        let result: Result<(), ServiceError> = async {
            let mut tx = self.store.begin().await?;
            let now: DateTime<Utc> = cc_domain::now();
            if tx
                .auth()
                .revoke_session(session_id, "console_idle_timeout", now)
                .await?
            {
                tx.append_audit(cc_domain::NewAuditEvent {
                    actor: "system:auth".into(),
                    action: "auth.session_idle".into(),
                    target_type: "session".into(),
                    target_id: Some(session_id.to_string()),
                    request_id: None,
                    before: None,
                    after: Some(serde_json::json!({
                        "idle_timeout_secs": self.settings.console.idle_timeout_secs
                    })),
                })
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not revoke an idle console session");
        }
    }
}

fn mac_hex(key: &[u8; 32], data: &[u8]) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
        return String::new();
    };
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}
