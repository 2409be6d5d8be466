//! Login throttling. Failures are counted in the database (so every replica sees them) for
//! three subjects of each attempt:
//!
//! - the **name** (kept as a digest): after a few failures each further attempt must wait
//!   longer (1 s, 2 s, 4 s … up to a minute). A name is never locked, so nobody can lock an
//!   operator out by guessing, and the wait does not apply from an address the operator
//!   logged in from successfully in the last [`KNOWN_ADDRESS_DAYS`] days;
//! - the **name from one client address** (an IPv6 client's /64): locked for a period after
//!   more failures, refusing even the right password from there — the operator can still log
//!   in from anywhere else;
//! - the **client address**, whatever the name: slowed down, then locked.
//!
//! An attempt is checked and counted in one transaction before the password is verified (the
//! rows are locked while it runs), so parallel attempts are admitted one after the other and
//! exactly as often as a sequential run; a successful login gives its count back. Locks and
//! their end are audited, a lock of an admin's name is logged as a warning, every lock is
//! counted in `cc_login_lockouts_total{role}`, and a lock of a name is an
//! `operator.locked_out` notification when a channel subscribes to it.

use std::net::IpAddr;

use cc_domain::client::client_block;
use cc_domain::{NewAuditEvent, OperatorRole};
use cc_store::auth::Throttle;
use cc_store::Tx;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{digest, Auth, AuthError};
use crate::ServiceError;

/// Thresholds and periods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures for one name before attempts for it are slowed down.
    pub name_throttle_after: i32,
    /// Failures for one name from one client address that lock the name there.
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

/// How long a successful login exempts its (name, address) from the name's slow-down.
pub const KNOWN_ADDRESS_DAYS: i64 = 30;

/// Describes `cc_login_lockouts_total` and exports it at 0 for every role, so that an alert on
/// its increase sees the first lockout (a series that appears at 1 shows no increase).
pub fn describe_metrics() {
    metrics::describe_counter!(
        "cc_login_lockouts_total",
        "Login locks after repeated failures, by the role of the operator named (none: no such operator)."
    );
    for role in ["admin", "operator", "auditor", "none"] {
        metrics::counter!("cc_login_lockouts_total", "role" => role).increment(0);
    }
}

/// One throttled subject of a login attempt.
pub(super) struct Subject {
    pub key: String,
    pub label: String,
    /// Failures before attempts must wait; `None`: never slowed down.
    slow_after: Option<i32>,
    /// Failures that lock; `None`: never locked.
    lock_after: Option<i32>,
    /// The per-name subject, whose wait a known address skips.
    is_name: bool,
}

/// The subjects of one attempt, and what its audit events say about it.
pub(super) struct Attempt {
    pub subjects: Vec<Subject>,
    /// Marks the (name, address) pair as known after a success.
    known_key: String,
    label: String,
    /// The role of the named operator, when it exists (for the lockout alert).
    role: Option<OperatorRole>,
    addr: Option<IpAddr>,
}

impl Auth {
    /// The subjects of a login attempt. The name is kept only as a digest.
    pub(super) fn attempt(
        &self,
        username: &str,
        role: Option<OperatorRole>,
        addr: Option<IpAddr>,
    ) -> Attempt {
        let p = &self.settings.throttle;
        let lower = username.to_lowercase();
        let name = digest(&lower);
        let block = addr.map_or_else(|| "-".to_owned(), client_block);
        let label = if role.is_some() {
            format!("operator:{lower}")
        } else {
            format!("unknown:{name}")
        };
        let mut subjects = vec![
            Subject {
                key: format!("name:{name}"),
                label: label.clone(),
                slow_after: Some(p.name_throttle_after),
                lock_after: None,
                is_name: true,
            },
            Subject {
                key: format!("pair:{name}:{block}"),
                label: label.clone(),
                slow_after: None,
                lock_after: Some(p.name_lockout_after),
                is_name: false,
            },
        ];
        if addr.is_some() {
            subjects.push(Subject {
                key: format!("addr:{block}"),
                label: format!("address:{block}"),
                slow_after: Some(p.address_throttle_after),
                lock_after: Some(p.address_lockout_after),
                is_name: false,
            });
        }
        Attempt {
            subjects,
            known_key: format!("known:{name}:{block}"),
            label,
            role,
            addr,
        }
    }

    /// Checks the attempt against every subject and, when it may go ahead, counts it as a
    /// failure right away (given back by [`Auth::record_success`]). Ends expired locks.
    pub(super) async fn reserve_attempt(
        &self,
        attempt: &Attempt,
        request_id: Option<&String>,
    ) -> Result<(), AuthError> {
        let now = cc_domain::now();
        let window = Duration::seconds(self.settings.throttle.window_secs);
        let mut tx = self.store.begin().await?;
        let known = tx
            .auth()
            .get_throttle(&attempt.known_key)
            .await?
            .is_some_and(|k| k.last_failure_at > now - Duration::days(KNOWN_ADDRESS_DAYS));
        let mut rows = Vec::with_capacity(attempt.subjects.len());
        // A lock is reported over a wait: waiting would not help.
        let (mut locked, mut throttled) = (None, None);
        for s in &attempt.subjects {
            let mut t = tx.auth().lock_throttle(&s.key, &s.label, now).await?;
            if let Some(until) = t.locked_until {
                if until > now {
                    locked = locked.or(Some(AuthError::Locked {
                        retry_after_secs: secs_until(now, until),
                    }));
                    continue;
                }
                end_lock(tx.as_mut(), &t, request_id).await?;
                t.locked_until = None;
                t.failures = 0;
            }
            if t.failures > 0 && t.last_failure_at <= now - window {
                t.failures = 0;
            }
            let waits = s.slow_after.filter(|_| !(s.is_name && known));
            if let Some(after) = waits.filter(|a| t.failures >= *a) {
                let next = t.last_failure_at + backoff(t.failures - after);
                if next > now {
                    throttled = throttled.or(Some(AuthError::Throttled {
                        retry_after_secs: secs_until(now, next),
                    }));
                }
            }
            // In-flight attempts already fill the quota: wait for their outcome.
            if s.lock_after.is_some_and(|l| t.failures >= l) {
                throttled = throttled.or(Some(AuthError::Throttled {
                    retry_after_secs: 1,
                }));
            }
            rows.push(t);
        }
        let refusal = locked.or(throttled);
        if refusal.is_none() {
            for t in &mut rows {
                if t.failures == 0 {
                    t.first_failure_at = now;
                }
                t.failures += 1;
                t.last_failure_at = now;
                tx.auth().put_throttle(t).await?;
            }
        }
        tx.commit().await?;
        refusal.map_or(Ok(()), Err)
    }

    /// After a wrong password: locks the subjects whose (already counted) failures reached
    /// their threshold.
    pub(super) async fn record_failure(
        &self,
        tx: &mut dyn Tx,
        attempt: &Attempt,
        request_id: Option<&String>,
    ) -> Result<(), ServiceError> {
        let now = cc_domain::now();
        for s in &attempt.subjects {
            let Some(lock_after) = s.lock_after else {
                continue;
            };
            let Some(mut t) = tx.auth().get_throttle(&s.key).await? else {
                continue;
            };
            if t.locked_until.is_some() || t.failures < lock_after {
                continue;
            }
            let until = now + Duration::seconds(self.settings.throttle.lockout_secs);
            t.locked_until = Some(until);
            tx.auth().put_throttle(&t).await?;
            let role = attempt.role.map_or("none", OperatorRole::as_str);
            let client = attempt.addr.map(|a| a.to_string());
            tx.append_audit(NewAuditEvent {
                actor: "system:auth".into(),
                action: "auth.lockout".into(),
                target_type: "login".into(),
                target_id: Some(s.label.clone()),
                request_id: request_id.cloned(),
                before: None,
                after: Some(json!({
                    "failures": t.failures,
                    "locked_until": until,
                    "scope": if s.key.starts_with("addr:") { "address" } else { "name_and_address" },
                    "role": role,
                    "client_addr": client,
                })),
            })
            .await?;
            // Operators are told of a lockout of a name (someone is being locked out), not
            // of an address locked for trying many names.
            if !s.key.starts_with("addr:") {
                let event = cc_domain::NotificationEvent::new(
                    cc_domain::EventKind::OperatorLockedOut,
                    format!("login {}", s.label),
                    format!(
                        "Login {} locked until {} after {} failed attempts",
                        s.label,
                        until.format("%H:%M UTC"),
                        t.failures
                    ),
                )
                .with_link("/audit?action=auth.lockout");
                if let Some(job) = self.notifications.dispatch_job(&event) {
                    tx.enqueue(&job).await?;
                }
            }
            metrics::counter!("cc_login_lockouts_total", "role" => role).increment(1);
            if attempt.role == Some(OperatorRole::Admin) && !s.key.starts_with("addr:") {
                tracing::warn!(
                    subject = %s.label, client = ?client, %until,
                    "an admin account is being targeted: login locked from this address after repeated failures"
                );
            } else {
                tracing::warn!(subject = %s.label, client = ?client, %until, "login locked after repeated failures");
            }
        }
        Ok(())
    }

    /// After a successful login: forgets the name's failures and its failures from this
    /// address, gives back the address's reserved attempt, and remembers the address as one
    /// this operator uses.
    pub(super) async fn record_success(
        tx: &mut dyn Tx,
        attempt: &Attempt,
    ) -> Result<(), ServiceError> {
        let now = cc_domain::now();
        for s in &attempt.subjects {
            if s.lock_after.is_some() && !s.key.starts_with("pair:") {
                if let Some(mut t) = tx.auth().get_throttle(&s.key).await? {
                    if t.locked_until.is_none() && t.failures > 0 {
                        t.failures -= 1;
                        tx.auth().put_throttle(&t).await?;
                    }
                }
            } else {
                tx.auth().delete_throttle(&s.key).await?;
            }
        }
        tx.auth()
            .put_throttle(&Throttle {
                key: attempt.known_key.clone(),
                label: attempt.label.clone(),
                failures: 0,
                first_failure_at: now,
                last_failure_at: now,
                locked_until: None,
            })
            .await?;
        Ok(())
    }

    /// Forgets the failures and locks of an operator name, from every address (after an admin
    /// reset its password), auditing the end of each lock.
    pub(super) async fn lift_name_lock(
        tx: &mut dyn Tx,
        username: &str,
        actor: &cc_domain::Actor,
    ) -> Result<(), ServiceError> {
        let name = digest(&username.to_lowercase());
        tx.auth().delete_throttle(&format!("name:{name}")).await?;
        let pairs = tx
            .auth()
            .delete_throttles_with_prefix(&format!("pair:{name}:"))
            .await?;
        for t in pairs.into_iter().filter(|t| t.locked_until.is_some()) {
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

    /// Forgets throttle rows that no longer affect a login: failures older than the window
    /// (with no lock) and addresses an operator has not logged in from for
    /// [`KNOWN_ADDRESS_DAYS`] days. Locked rows stay until [`Auth::end_expired_lockouts`] ends
    /// them. Runs with that sweeper, so the table holds only recent activity however many
    /// names and addresses are tried. Returns how many rows were deleted.
    ///
    /// # Errors
    /// The store failed.
    pub async fn prune_throttles(&self) -> Result<u64, ServiceError> {
        let now = cc_domain::now();
        let window = Duration::seconds(self.settings.throttle.window_secs.max(MAX_BACKOFF_SECS));
        let pruned = self
            .store
            .auth()
            .prune_throttles(now - window, now - Duration::days(KNOWN_ADDRESS_DAYS))
            .await?;
        if pruned > 0 {
            tracing::debug!(pruned, "forgot stale login throttle rows");
        }
        Ok(pruned)
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
