//! Requesting lifecycle operations: the state machine is checked, the user's status changes,
//! the audit event is written and the job is enqueued, all in one transaction, so a request
//! either happened completely (and the job will carry it to every target) or not at all.
//!
//! The jobs themselves run in workers (`cc-lifecycle`); this module only decides and records.

use std::collections::HashMap;

use cc_domain::{Actor, LifecycleJobArgs, LifecycleOperation, NewAuditEvent, NewJob, User};
use cc_store::Tx;
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use crate::{check_version, Directory, Result, ServiceError};

/// How directory edits drive lifecycle jobs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// Edits through the API (a status change, a rename, a school or grade move, new group
    /// memberships) enqueue the matching operation for provisioned people.
    pub sync_on_change: bool,
    /// A person created through the API is provisioned at once (their status becomes
    /// `active` and a provision job is enqueued).
    pub auto_provision: bool,
}

/// The largest bulk request (more people: split the request, or use a roster import).
pub const MAX_BULK: usize = 10_000;

/// A request that was accepted.
#[derive(Debug, Clone)]
pub struct Requested {
    /// The user after the request (status already changed).
    pub user: User,
    pub job_id: i64,
    /// The request's one-time key was used before: nothing was requested now, and `job_id`
    /// is the job the first request made.
    pub replayed: bool,
}

/// A person a bulk request left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BulkSkip {
    pub user_id: Uuid,
    pub reason: String,
}

/// The outcome of a bulk request: one batch of jobs.
#[derive(Debug, Clone)]
pub struct BulkRequested {
    pub batch_id: Uuid,
    /// `(user, job id)` for every person an operation was enqueued for.
    pub jobs: Vec<(User, i64)>,
    pub skipped: Vec<BulkSkip>,
}

/// The context a sealed password is bound to: it opens only for this user and operation.
#[must_use]
pub fn seal_context(user_id: Uuid, operation: LifecycleOperation) -> String {
    format!("lifecycle/{user_id}/{}", operation.as_str())
}

impl Directory {
    /// Requests `operation` on one person. With a `request_key` (a one-time form token), a
    /// request is made at most once: repeating it answers the first request's job, marked
    /// `replayed`, and changes nothing.
    ///
    /// # Errors
    /// Not found, a stale version, an operation the user's status forbids (409), a store
    /// failure.
    pub async fn request_operation(
        &self,
        actor: &Actor,
        id: Uuid,
        operation: LifecycleOperation,
        sealed_password: Option<String>,
        if_match: Option<i64>,
        request_key: Option<&str>,
    ) -> Result<Requested> {
        let mut tx = self.store.begin().await?;
        let current = tx
            .get_user(id)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        if let Some(key) = request_key {
            if let Some(job_id) = tx.request_key_job(key).await? {
                return Ok(Requested {
                    user: current,
                    job_id,
                    replayed: true,
                });
            }
        }
        check_version(if_match, current.version)?;
        let (user, job_id) =
            request_in(&mut *tx, actor, current, operation, sealed_password, None).await?;
        if let Some(key) = request_key {
            if !tx.insert_request_key(key, job_id).await? {
                // A request with the same key committed meanwhile: this one must not.
                return Err(ServiceError::ConcurrentUpdate);
            }
        }
        tx.commit().await?;
        Ok(Requested {
            user,
            job_id,
            replayed: false,
        })
    }

    /// Requests `operation` on many people as one batch. People whose status does not allow
    /// it (or who do not exist) are skipped and reported, not failed. `passwords` holds the
    /// sealed password per person for `reset_password`.
    ///
    /// # Errors
    /// More than [`MAX_BULK`] ids, or a store failure (then nothing was requested).
    pub async fn request_bulk(
        &self,
        actor: &Actor,
        ids: &[Uuid],
        operation: LifecycleOperation,
        passwords: &HashMap<Uuid, String>,
    ) -> Result<BulkRequested> {
        check_bulk_size(ids)?;
        let batch_id = cc_domain::new_id();
        let mut tx = self.store.begin().await?;
        let mut jobs = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            let current = tx.get_user(id).await?;
            let current = match bulk_check(id, current, operation) {
                Ok(current) => current,
                Err(skip) => {
                    skipped.push(skip);
                    continue;
                }
            };
            let sealed = passwords.get(&id).cloned();
            let (user, job_id) =
                request_in(&mut *tx, actor, current, operation, sealed, Some(batch_id)).await?;
            jobs.push((user, job_id));
        }
        tx.commit().await?;
        Ok(BulkRequested {
            batch_id,
            jobs,
            skipped,
        })
    }
    /// What [`Directory::request_bulk`] would do, changing nothing: the people it would
    /// include (each once, in request order) and the ones it would skip, with the reason,
    /// by the same rules.
    ///
    /// # Errors
    /// More than [`MAX_BULK`] ids, or a store failure.
    pub async fn preview_bulk(
        &self,
        ids: &[Uuid],
        operation: LifecycleOperation,
    ) -> Result<BulkPreview> {
        check_bulk_size(ids)?;
        let mut included = Vec::new();
        let mut skipped = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            match bulk_check(id, self.store.get_user(id).await?, operation) {
                Ok(user) => included.push(user),
                Err(skip) => skipped.push(skip),
            }
        }
        Ok(BulkPreview { included, skipped })
    }
}

/// A bulk dry run: who would be included and who skipped.
#[derive(Debug, Clone)]
pub struct BulkPreview {
    pub included: Vec<User>,
    pub skipped: Vec<BulkSkip>,
}

fn check_bulk_size(ids: &[Uuid]) -> Result<()> {
    if ids.len() > MAX_BULK {
        return Err(ServiceError::Validation(
            cc_domain::ValidationErrors::single(
                "ids",
                format!("at most {MAX_BULK} people per request"),
            ),
        ));
    }
    Ok(())
}

/// Whether a bulk request includes the person with `id` (`current` as read): the one rule
/// both the request and its preview apply.
fn bulk_check(
    id: Uuid,
    current: Option<User>,
    operation: LifecycleOperation,
) -> std::result::Result<User, BulkSkip> {
    let Some(current) = current else {
        return Err(BulkSkip {
            user_id: id,
            reason: "no user with this id".into(),
        });
    };
    match operation.transition(current.status) {
        Ok(_) => Ok(current),
        Err(e) => Err(BulkSkip {
            user_id: id,
            reason: e.to_string(),
        }),
    }
}

/// A generated temporary password: the clear text to show once, and the sealed form the job
/// carries to the targets (it opens only for this person and operation).
#[derive(Clone)]
pub struct OneTimePassword {
    pub clear: String,
    pub sealed: String,
}

impl std::fmt::Debug for OneTimePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OneTimePassword(<redacted>)")
    }
}

impl crate::Auth {
    /// Generates a temporary password per person by `policy` and seals each for `operation`
    /// (see [`seal_context`]).
    ///
    /// # Errors
    /// The sealing keys cannot be read.
    pub async fn issue_passwords(
        &self,
        policy: &cc_auth::PasswordPolicy,
        operation: LifecycleOperation,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, OneTimePassword>> {
        let sealer = self.sealer().await?;
        Ok(ids
            .iter()
            .map(|&id| {
                let clear = cc_auth::generate_password(policy);
                let sealed = sealer.seal(&clear, &seal_context(id, operation));
                (id, OneTimePassword { clear, sealed })
            })
            .collect())
    }
}

/// Checks, changes the status, audits and enqueues, inside `tx`.
async fn request_in(
    tx: &mut dyn Tx,
    actor: &Actor,
    current: User,
    operation: LifecycleOperation,
    sealed_password: Option<String>,
    batch_id: Option<Uuid>,
) -> Result<(User, i64)> {
    let next_status = operation
        .transition(current.status)
        .map_err(ServiceError::InvalidOperation)?;
    let mut user = current.clone();
    if next_status != current.status {
        user.status = next_status;
        user.version = current.version + 1;
        user.updated_at = cc_domain::now();
        tx.update_user(&user).await?;
    }
    let mut args = LifecycleJobArgs::new(user.id, operation);
    // A deprovision keeps the last known record: the person may be deleted before it runs.
    if operation == LifecycleOperation::Deprovision {
        args.previous = Some(current.clone());
    }
    args.sealed_password = sealed_password;
    let job_id = enqueue(tx, actor, args, batch_id).await?;
    tx.append_audit(NewAuditEvent {
        actor: actor.name.clone(),
        action: format!("user.{}", operation.as_str()),
        target_type: "user".into(),
        target_id: Some(user.id.to_string()),
        request_id: actor.request_id.clone(),
        before: Some(json!({"status": current.status, "version": current.version})),
        after: Some(json!({"status": user.status, "version": user.version, "job_id": job_id})),
    })
    .await?;
    Ok((user, job_id))
}

/// Enqueues a lifecycle job stamped with the actor and request.
pub(crate) async fn enqueue(
    tx: &mut dyn Tx,
    actor: &Actor,
    args: LifecycleJobArgs,
    batch_id: Option<Uuid>,
) -> Result<i64> {
    let job = NewJob {
        batch_id,
        created_by: Some(actor.name.clone()),
        request_id: actor.request_id.clone(),
        ..args.into_job()
    };
    Ok(tx.enqueue(&job).await?.id)
}
