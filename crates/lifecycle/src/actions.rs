//! Lifecycle actions as every front end asks for them (the API, the console, the CLI through
//! the API): the dry run of one person's operation, the request with its one-time password,
//! and the bulk request and its preview. Handlers parse and render; the decisions are here
//! and in the directory service (`cc_service::lifecycle`).

use cc_auth::PasswordPolicy;
use cc_domain::{Actor, Job, LifecycleOperation, User, UserStatus};
use cc_service::lifecycle::{BulkPreview, BulkSkip};
use cc_service::{Directory, ServiceError};
use serde::Serialize;
use uuid::Uuid;

use crate::{Engine, PlannedTarget};

/// A dry run: what each target would change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionPlan {
    pub operation: LifecycleOperation,
    pub user: User,
    /// The status the person would have after the request.
    pub next_status: UserStatus,
    pub targets: Vec<PlannedTarget>,
}

/// An accepted request: the job that carries it out (as stored right after the request),
/// the person after it, and the temporary password to show once.
pub struct ActionOutcome {
    pub job: Job,
    pub user: User,
    pub temporary_password: Option<String>,
    /// The request's one-time key was used before: this is the first request's job, and
    /// nothing was requested now (no password either).
    pub replayed: bool,
}

impl std::fmt::Debug for ActionOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionOutcome")
            .field("job", &self.job.id)
            .field("user", &self.user.id)
            .field(
                "temporary_password",
                &self.temporary_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// One person's job in an accepted bulk request.
pub struct BulkOutcomeJob {
    pub user: User,
    pub job_id: i64,
    pub temporary_password: Option<String>,
}

/// An accepted bulk request: one batch.
pub struct BulkOutcome {
    pub batch_id: Uuid,
    pub jobs: Vec<BulkOutcomeJob>,
    pub skipped: Vec<BulkSkip>,
}

/// The lifecycle actions over a directory and the configured targets. Cheap to build and
/// clone.
#[derive(Clone)]
pub struct Actions {
    directory: Directory,
    engine: Engine,
    passwords: PasswordPolicy,
}

impl Actions {
    #[must_use]
    pub fn new(directory: Directory, engine: Engine, passwords: PasswordPolicy) -> Self {
        Self {
            directory,
            engine,
            passwords,
        }
    }

    /// What `op` would change for the person at every target that handles it, and the
    /// status they would have. Changes nothing anywhere.
    ///
    /// # Errors
    /// No such person; an operation their status does not allow; a store failure.
    pub async fn dry_run(
        &self,
        id: Uuid,
        op: LifecycleOperation,
    ) -> Result<ActionPlan, ServiceError> {
        let user = self
            .directory
            .store()
            .get_user(id)
            .await?
            .ok_or(ServiceError::NotFound("user"))?;
        let next_status = op
            .transition(user.status)
            .map_err(ServiceError::InvalidOperation)?;
        let targets = self.engine.plan(&user, op).await;
        Ok(ActionPlan {
            operation: op,
            user,
            next_status,
            targets,
        })
    }

    /// Requests `op` on one person, based on `if_match` (the version read, when given): a
    /// temporary password is generated and sealed when a target that handles `op` keeps
    /// passwords, and the job is read back as stored. With a `request_key` (a one-time form
    /// token) the request is made at most once: a repeat answers the first job, `replayed`.
    ///
    /// # Errors
    /// As [`Directory::request_operation`]; the sealing keys cannot be read.
    pub async fn request(
        &self,
        actor: &Actor,
        id: Uuid,
        op: LifecycleOperation,
        if_match: Option<i64>,
        request_key: Option<&str>,
    ) -> Result<ActionOutcome, ServiceError> {
        let mut password = self.passwords_for(op, &[id]).await?.remove(&id);
        let requested = self
            .directory
            .request_operation(
                actor,
                id,
                op,
                password.as_ref().map(|p| p.sealed.clone()),
                if_match,
                request_key,
            )
            .await?;
        if requested.replayed {
            password = None;
        }
        let job = self
            .directory
            .store()
            .get_job(requested.job_id)
            .await?
            .ok_or_else(|| ServiceError::Internal("the job just enqueued is gone".into()))?;
        Ok(ActionOutcome {
            job,
            user: requested.user,
            temporary_password: password.take().map(|p| p.clear),
            replayed: requested.replayed,
        })
    }

    /// Who a bulk request for `op` would include and skip. Changes nothing.
    ///
    /// # Errors
    /// As [`Directory::preview_bulk`].
    pub async fn preview_bulk(
        &self,
        ids: &[Uuid],
        op: LifecycleOperation,
    ) -> Result<BulkPreview, ServiceError> {
        self.directory.preview_bulk(ids, op).await
    }

    /// Requests `op` on many people as one batch, with a temporary password per person when
    /// a target keeps passwords.
    ///
    /// # Errors
    /// As [`Directory::request_bulk`]; the sealing keys cannot be read.
    pub async fn request_bulk(
        &self,
        actor: &Actor,
        ids: &[Uuid],
        op: LifecycleOperation,
    ) -> Result<BulkOutcome, ServiceError> {
        let mut passwords = self.passwords_for(op, ids).await?;
        let sealed = passwords
            .iter()
            .map(|(id, p)| (*id, p.sealed.clone()))
            .collect();
        let out = self.directory.request_bulk(actor, ids, op, &sealed).await?;
        let jobs = out
            .jobs
            .into_iter()
            .map(|(user, job_id)| BulkOutcomeJob {
                temporary_password: passwords.remove(&user.id).map(|p| p.clear),
                user,
                job_id,
            })
            .collect();
        Ok(BulkOutcome {
            batch_id: out.batch_id,
            jobs,
            skipped: out.skipped,
        })
    }

    async fn passwords_for(
        &self,
        op: LifecycleOperation,
        ids: &[Uuid],
    ) -> Result<std::collections::HashMap<Uuid, cc_service::lifecycle::OneTimePassword>, ServiceError>
    {
        if !self.engine.sets_passwords(op) {
            return Ok(std::collections::HashMap::new());
        }
        self.engine
            .auth()
            .issue_passwords(&self.passwords, op, ids)
            .await
    }
}
