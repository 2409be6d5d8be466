//! Login throttling: after a few failures for one operator name (or one client address) each
//! further attempt must wait longer (1 s, 2 s, 4 s … up to a minute); after more, the name or
//! address is locked for a period. The state lives in the database, so every replica sees it,
//! and the lock and its end are audited. A locked name refuses even the right password.

use std::net::IpAddr;

use cc_domain::NewAuditEvent;
use cc_store::auth::Throttle;
use cc_store::Tx;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{digest, Auth, AuthError};
use crate::ServiceError;

/// Thresholds and periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures for one name before attempts are slowed down.
    pub name_throttle_after: i32,
    /// Failures for one name that lock it.
    pub name_lockout_after: i32,
    /// Failures from one address before attempts are slowed down.
    pub address_throttle_after: i32,
    /// Failures from one address that lock it.
    pub address_lockout_after: i32,
    /// How long a lock lasts.
    pub lockout_secs: i64,
    /// Failures older than this (with no lock) are forgotten.
    pub window_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            name_throttle_after: 3,
            name_lockout_after: 10,
            address_throttle_after: 10,
            address_lockout_after: 50,
            lockout_secs: 15 * 60,
            window_secs: 15 * 60,
        }
    }
}

/// The longest wait between slowed-down attempts.
const MAX_BACKOFF_SECS: i64 = 60;

/// One throttled subject of a login attempt.
pub(super) struct Subject {
    pub key: String,
    pub label: String,
    throttle_after: i32,
    lockout_after: i32,
}

impl Auth {
    /// The name and address subjects of a login attempt. The name is kept only as a digest.
    pub(super) fn subjects(
        &self,
        username: &str,
        known: bool,
        addr: Option<IpAddr>,
    ) -> Vec<Subject> {
        let p = &self.settings.throttle;
        let lower = username.to_lowercase();
        let mut out = vec![Subject {
            key: format!("name:{}", digest(&lower)),
            label: if known {
                format!("operator:{lower}")
            } else {
                format!("unknown:{}", digest(&lower))
            },
            throttle_after: p.name_throttle_after,
            lockout_after: p.name_lockout_after,
        }];
        if let Some(ip) = addr {
            out.push(Subject {
                key: format!("addr:{ip}"),
                label: format!("address:{ip}"),
                throttle_after: p.address_throttle_after,
                lockout_after: p.address_lockout_after,
            });
        }
        out
    }

    /// Refuses the attempt while a subject is locked or must still wait; ends expired locks.
    pub(super) async fn check_throttle(
        &self,
        subjects: &[Subject],
        request_id: Option<&String>,
    ) -> Result<(), AuthError> {
        let now = cc_domain::now();
        let mut tx = self.store.begin().await?;
        let mut refusal = None;
        for s in subjects {
            let Some(t) = tx.auth().get_throttle(&s.key).await? else {
                continue;
            };
            if let Some(until) = t.locked_until {
                if until > now {
                    refusal = refusal.or(Some(AuthError::Locked {
                        retry_after_secs: secs_until(now, until),
                    }));
                    continue;
                }
                end_lock(tx.as_mut(), &t, request_id).await?;
                continue;
            }
            if t.failures >= s.throttle_after {
                let wait = backoff(t.failures - s.throttle_after);
                let next = t.last_failure_at + wait;
                if next > now
                    && t.last_failure_at
                        > now - Duration::seconds(self.settings.throttle.window_secs)
                {
                    refusal = refusal.or(Some(AuthError::Throttled {
                        retry_after_secs: secs_until(now, next),
                    }));
                }
            }
        }
        tx.commit().await?;
        refusal.map_or(Ok(()), Err)
    }

    /// Counts a failure against each subject, locking those that reach their threshold.
    pub(super) async fn record_failure(
        &self,
        tx: &mut dyn Tx,
        subjects: &[Subject],
        request_id: Option<&String>,
    ) -> Result<(), ServiceError> {
        let now = cc_domain::now();
        let window = Duration::seconds(self.settings.throttle.window_secs);
        for s in subjects {
            let mut t = match tx.auth().get_throttle(&s.key).await? {
                Some(t) if t.last_failure_at > now - window || t.locked_until.is_some() => t,
                _ => Throttle {
                    key: s.key.clone(),
                    label: s.label.clone(),
                    failures: 0,
                    first_failure_at: now,
                    last_failure_at: now,
                    locked_until: None,
                },
            };
            t.failures += 1;
            t.last_failure_at = now;
            t.label.clone_from(&s.label);
            if t.locked_until.is_none() && t.failures >= s.lockout_after {
                let until = now + Duration::seconds(self.settings.throttle.lockout_secs);
                t.locked_until = Some(until);
                tx.append_audit(NewAuditEvent {
                    actor: "system:auth".into(),
                    action: "auth.lockout".into(),
                    target_type: "login".into(),
                    target_id: Some(s.label.clone()),
                    request_id: request_id.cloned(),
                    before: None,
                    after: Some(json!({"failures": t.failures, "locked_until": until})),
                })
                .await?;
                tracing::warn!(subject = %s.label, %until, "login locked after repeated failures");
            }
            tx.auth().put_throttle(&t).await?;
        }
        Ok(())
    }

    /// Forgets the name subject's failures after a successful login.
    pub(super) async fn clear_name_throttle(
        tx: &mut dyn Tx,
        subjects: &[Subject],
    ) -> Result<(), ServiceError> {
        if let Some(s) = subjects.first() {
            tx.auth().delete_throttle(&s.key).await?;
        }
        Ok(())
    }

    /// Forgets the failures and lock of an operator name (after an admin reset its password),
    /// auditing the end of a lock.
    pub(super) async fn lift_name_lock(
        tx: &mut dyn Tx,
        username: &str,
        actor: &cc_domain::Actor,
    ) -> Result<(), ServiceError> {
        let key = format!("name:{}", digest(&username.to_lowercase()));
        let Some(t) = tx.auth().get_throttle(&key).await? else {
            return Ok(());
        };
        tx.auth().delete_throttle(&key).await?;
        if t.locked_until.is_some() {
            tx.append_audit(NewAuditEvent {
                actor: actor.name.clone(),
                action: "auth.lockout_ended".into(),
                target_type: "login".into(),
                target_id: Some(t.label.clone()),
                request_id: actor.request_id.clone(),
                before: Some(json!({"failures": t.failures, "locked_until": t.locked_until})),
                after: Some(json!({"reason": "password_reset"})),
            })
            .await?;
        }
        Ok(())
    }

    /// Ends every lock whose period is over, auditing each end. Runs periodically in `serve`
    /// (and for a subject whenever it tries to log in), so the end is recorded even when nobody
    /// tries again. Returns how many locks ended.
    ///
    /// # Errors
    /// The store failed.
    pub async fn end_expired_lockouts(&self) -> Result<usize, ServiceError> {
        let now = cc_domain::now();
        let expired: Vec<Throttle> = self
            .store
            .auth()
            .locked_throttles()
            .await?
            .into_iter()
            .filter(|t| t.locked_until.is_some_and(|u| u <= now))
            .collect();
        let mut ended = 0;
        for t in expired {
            let mut tx = self.store.begin().await?;
            // Re-read under the lock: another replica may have ended it already.
            if let Some(current) = tx.auth().get_throttle(&t.key).await? {
                if current.locked_until.is_some_and(|u| u <= now) {
                    end_lock(tx.as_mut(), &current, None).await?;
                    ended += 1;
                }
            }
            tx.commit().await?;
        }
        Ok(ended)
    }
}

async fn end_lock(
    tx: &mut dyn Tx,
    t: &Throttle,
    request_id: Option<&String>,
) -> Result<(), ServiceError> {
    if tx.auth().delete_throttle(&t.key).await? {
        tx.append_audit(NewAuditEvent {
            actor: "system:auth".into(),
            action: "auth.lockout_ended".into(),
            target_type: "login".into(),
            target_id: Some(t.label.clone()),
            request_id: request_id.cloned(),
            before: Some(json!({"failures": t.failures, "locked_until": t.locked_until})),
            after: None,
        })
        .await?;
        tracing::info!(subject = %t.label, "login lock ended");
    }
    Ok(())
}

fn backoff(over: i32) -> Duration {
    let secs = 1_i64
        .checked_shl(u32::try_from(over.clamp(0, 16)).unwrap_or(16))
        .unwrap_or(MAX_BACKOFF_SECS);
    Duration::seconds(secs.min(MAX_BACKOFF_SECS))
}

fn secs_until(now: DateTime<Utc>, then: DateTime<Utc>) -> u64 {
    let ms = (then - now).num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_a_minute() {
        let s: Vec<i64> = (0..9).map(|n| super::backoff(n).num_seconds()).collect();
        assert_eq!(s, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
