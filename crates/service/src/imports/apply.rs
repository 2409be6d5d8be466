//! Applying a plan: every change, its audit event, the run record and the lifecycle jobs in
//! one transaction, with bulk statements (chunks of [`CHUNK`] people).
//!
//! The plan is made again inside the transaction, against the directory as the transaction
//! sees it; when the caller previewed a plan, its fingerprint must match, so what is applied
//! is exactly what was shown.

use std::collections::HashMap;

use cc_domain::{
    Actor, FieldConflict, Group, ImportRun, ImportStatus, LifecycleIntent, NewAuditEvent,
    RecordSource, User,
};
use cc_roster::plan::{ChangeKind, PlanCounts, UserChange};
use cc_roster::{guards, plan, DirectoryView, Overrides, Plan, Roster};
use cc_store::{ImportTx, LifecycleBatch, Store};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::runs::{run_event, STORED_CHANGES};
use super::{import_store, view_of, ImportError, ImportSettings, Preview, Progress};
use crate::audit::change_event;

/// People written per round of bulk statements.
pub const CHUNK: usize = 10_000;

/// People an import into an empty directory must create for the store to set the directory's
/// indexes and foreign keys aside and build them after the rows (`ImportTx::begin_first_load`):
/// below this, maintaining them row by row is cheap and the tables need not be locked.
pub const FIRST_LOAD_MIN: u64 = CHUNK as u64;

/// What an apply did.
#[derive(Debug, Clone)]
pub struct ApplyOutcome {
    pub run: ImportRun,
    pub counts: PlanCounts,
    /// The lifecycle jobs the changes ask for (handed to the queue seam).
    pub intents: Vec<LifecycleIntent>,
    /// How many jobs the queue accepted (see `ImportTx::enqueue_lifecycle`).
    pub jobs_enqueued: u64,
    /// Seconds spent per step: snapshot, plan, prepare (records and audit events), users,
    /// memberships, audit, indexes (after a first load), jobs (the lifecycle jobs), run (the run
    /// record), commit. Each chunk but the first is prepared while the previous chunk's people
    /// are written, so that time is in both `prepare` and `users`.
    pub timings: Vec<(&'static str, f64)>,
}

/// What [`apply`] applies, and how.
pub struct ApplyRequest<'a> {
    pub actor: &'a Actor,
    pub roster: &'a Roster,
    pub settings: &'a ImportSettings,
    pub overrides: &'a Overrides,
    /// The fingerprint of the previewed plan: the apply is `Stale` when the plan made inside
    /// the transaction differs.
    pub expected: Option<&'a str>,
    /// Whether the run record is stored already (the API) or stored by this transaction (the
    /// CLI).
    pub stored: bool,
    pub progress: &'a Progress,
}

/// Applies a roster; `run` is the run record (see [`ApplyRequest::stored`]).
///
/// # Errors
/// `Refused` when a guard refuses (nothing written), `Stale` when the plan differs from the
/// previewed one, or a store failure (the transaction rolls back).
pub async fn apply(
    store: &dyn Store,
    req: ApplyRequest<'_>,
    mut run: ImportRun,
) -> Result<ApplyOutcome, ImportError> {
    let mut clock = Clock::default();
    clock.lap("start");
    let mut tx = import_store(store)?.begin_import().await?;
    let (view, p, fingerprint) = plan_checked(&mut *tx, &req, &mut clock).await?;
    req.progress.phase("applying");
    let first_load = view.users.is_empty()
        && p.counts.created >= FIRST_LOAD_MIN
        && tx.begin_first_load().await?;
    let now = cc_domain::now();
    req.progress.set_total(p.changes.len() as u64);
    // Groups first, so memberships can refer to them.
    let group_ids = create_groups(&mut *tx, req.actor, &view, &p, now).await?;
    let changes = Changes {
        req: &req,
        view: &view,
        plan: &p,
        group_ids,
        now,
    };
    let (intents, conflicts) = changes.write(&mut *tx, &mut clock).await?;
    if first_load {
        req.progress.phase("building indexes");
        tx.finish_first_load().await?;
        clock.lap("indexes");
    }
    let jobs = enqueue(&mut *tx, run.id, req.actor, &intents).await?;
    clock.lap("jobs");
    let outcome = RunOutcome {
        fingerprint,
        jobs,
        conflicts,
    };
    record_run(&mut *tx, &req, &mut run, &changes, outcome).await?;
    clock.lap("run");
    req.progress.phase("committing");
    tx.commit().await?;
    clock.lap("commit");
    req.progress.phase("done");
    Ok(ApplyOutcome {
        run,
        counts: p.counts,
        intents,
        jobs_enqueued: jobs,
        timings: clock.laps,
    })
}

/// Plans the roster against the directory as the transaction sees it; refuses a plan that
/// differs from the preview or that a guard refuses.
async fn plan_checked(
    tx: &mut dyn ImportTx,
    req: &ApplyRequest<'_>,
    clock: &mut Clock,
) -> Result<(DirectoryView, Plan, String), ImportError> {
    req.progress.phase("loading the directory");
    let view = view_of(tx.directory_snapshot().await?);
    clock.lap("snapshot");
    req.progress.phase("planning");
    let p = plan(req.roster, &view, req.settings.plan);
    let fingerprint = p.fingerprint(req.roster, &view);
    if req.expected.is_some_and(|e| e != fingerprint) {
        return Err(ImportError::Stale);
    }
    let refusals = guards::check(req.roster, &p, &view, &req.settings.guards, req.overrides);
    if !refusals.is_empty() {
        return Err(ImportError::Refused(refusals));
    }
    clock.lap("plan");
    Ok((view, p, fingerprint))
}

/// Creates the plan's new groups (with their audit events); the ids of every group by name.
async fn create_groups(
    tx: &mut dyn ImportTx,
    actor: &Actor,
    view: &DirectoryView,
    p: &Plan,
    now: DateTime<Utc>,
) -> Result<HashMap<String, Uuid>, ImportError> {
    let mut group_ids: HashMap<String, Uuid> =
        view.groups.iter().map(|g| (g.name.clone(), g.id)).collect();
    let new_groups: Vec<Group> = p
        .new_groups
        .iter()
        .map(|g| Group {
            id: cc_domain::new_id(),
            name: g.name.clone(),
            display_name: g.display_name.clone(),
            kind: g.kind,
            school: g.school.clone(),
            external_id: g.external_id.clone(),
            description: Some("Created by a roster import".into()),
            member_count: 0,
            version: 1,
            created_at: now,
            updated_at: now,
        })
        .collect();
    if !new_groups.is_empty() {
        tx.insert_groups_bulk(&new_groups).await?;
        let events = new_groups
            .iter()
            .map(|g| {
                change_event(
                    actor,
                    "group.create",
                    "group",
                    g.id.to_string(),
                    None,
                    Some(g),
                )
            })
            .collect();
        tx.append_audit_bulk(events).await?;
    }
    for g in new_groups {
        group_ids.insert(g.name, g.id);
    }
    Ok(group_ids)
}

/// The people changes of a checked plan, written chunk by chunk.
struct Changes<'a> {
    req: &'a ApplyRequest<'a>,
    view: &'a DirectoryView,
    plan: &'a Plan,
    group_ids: HashMap<String, Uuid>,
    now: DateTime<Utc>,
}

impl Changes<'_> {
    /// Writes every chunk: people, memberships and audit events. Returns the lifecycle jobs
    /// the changes ask for.
    async fn write(
        &self,
        tx: &mut dyn ImportTx,
        clock: &mut Clock,
    ) -> Result<(Vec<LifecycleIntent>, ConflictCounts), ImportError> {
        let mut intents = Vec::new();
        let mut conflicts = ConflictCounts::default();
        let mut chunks = self.plan.changes.chunks(CHUNK);
        let mut next = chunks
            .next()
            .map(|c| self.prepare(c, &mut intents))
            .transpose()?;
        clock.lap("prepare");
        while let Some(w) = next.take() {
            // The next chunk is prepared while the database stores this chunk's people: the
            // store hands its first statement over on the first poll.
            let prepared = {
                let mut users = std::pin::pin!(write_users(&mut *tx, &w.updates, &w.inserts));
                let started = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(std::future::Future::poll(users.as_mut(), cx))
                })
                .await;
                let t = std::time::Instant::now();
                let prepared = chunks
                    .next()
                    .map(|c| self.prepare(c, &mut intents))
                    .transpose();
                clock.add("prepare", t.elapsed().as_secs_f64());
                match started {
                    std::task::Poll::Ready(done) => done?,
                    std::task::Poll::Pending => users.await?,
                }
                prepared
            };
            tx.insert_user_sources_bulk(&w.sources, RecordSource::Roster, self.now)
                .await?;
            clock.lap("users");
            next = prepared?;
            tx.remove_members_bulk(&w.remove).await?;
            tx.add_members_bulk(&w.add).await?;
            tx.add_new_members_bulk(&w.add_new).await?;
            clock.lap("memberships");
            tx.append_audit_bulk(w.events).await?;
            clock.lap("audit");
            conflicts.add(&w.conflicts);
            self.req.progress.add_written(w.people);
        }
        Ok((intents, conflicts))
    }

    /// One chunk's writes, made from the plan.
    fn prepare(
        &self,
        chunk: &[UserChange],
        intents: &mut Vec<LifecycleIntent>,
    ) -> Result<ChunkWrites, ImportError> {
        let actor = self.req.actor;
        let mut w = ChunkWrites {
            people: chunk.len() as u64,
            events: Vec::with_capacity(chunk.len()),
            ..ChunkWrites::default()
        };
        for c in chunk {
            if c.kind == ChangeKind::Blocked {
                continue;
            }
            let before = c.existing.map(|i| &self.view.users[i as usize]);
            let mut after =
                self.plan
                    .target(c, self.req.roster, self.view, cc_domain::new_id(), self.now);
            // Fields another source owns stay as they are (reported, as for API writes).
            let conflicts = before.map_or_else(Vec::new, |b| {
                self.req
                    .settings
                    .owners
                    .restrict_user(RecordSource::Roster, b, &mut after)
            });
            let kept = |field: &str| conflicts.iter().any(|f| f.field == field);
            if let Some(b) = before.filter(|_| !conflicts.is_empty()) {
                w.conflicts.record(&conflicts);
                w.events.push(conflict_event(actor, b.id, &conflicts));
            }
            let adds = if before.is_none() {
                &mut w.add_new
            } else {
                &mut w.add
            };
            if !kept("groups") {
                for g in &c.groups_add {
                    adds.push((self.group_id(*g)?, after.id));
                }
                for g in &c.groups_remove {
                    w.remove.push((self.group_id(*g)?, after.id));
                }
            }
            let unchanged = before.is_some_and(|b| same_fields(b, &after));
            let status_kept =
                kept("status") && matches!(c.kind, ChangeKind::Suspend | ChangeKind::Reactivate);
            if !unchanged && !status_kept {
                if let Some(op) = c.operation(before.map(|b| b.status).or(c.status)) {
                    intents.push(LifecycleIntent {
                        user_id: after.id,
                        operation: op,
                    });
                }
            }
            match before {
                None => {
                    w.events.push(change_event(
                        actor,
                        "user.create",
                        "user",
                        after.id.to_string(),
                        None,
                        Some(&after),
                    ));
                    w.sources.push(after.id);
                    w.inserts.push(after);
                }
                Some(_) if unchanged => {}
                Some(b) => {
                    w.events.push(change_event(
                        actor,
                        "user.update",
                        "user",
                        after.id.to_string(),
                        Some(b),
                        Some(&after),
                    ));
                    w.updates.push(after);
                }
            }
        }
        Ok(w)
    }

    /// The id of the group a change names (by index into [`Plan::group_names`]).
    fn group_id(&self, i: u32) -> Result<Uuid, ImportError> {
        let name = self.plan.group_names[i as usize].as_str();
        self.group_ids.get(name).copied().ok_or_else(|| {
            ImportError::Service(crate::ServiceError::Internal(format!(
                "group `{name}` vanished during the import"
            )))
        })
    }
}

/// Completes the run record (counts, the stored preview, status and times) and stores it
/// with its audit event.
async fn record_run(
    tx: &mut dyn ImportTx,
    req: &ApplyRequest<'_>,
    run: &mut ImportRun,
    changes: &Changes<'_>,
    outcome: RunOutcome,
) -> Result<(), ImportError> {
    let RunOutcome {
        fingerprint,
        jobs,
        conflicts,
    } = outcome;
    let p = changes.plan;
    let done = cc_domain::now();
    let preview_doc = serde_json::to_value(cc_roster::render::PlanDocument {
        plan: p,
        roster: req.roster,
        dir: changes.view,
        refusals: &[],
        limit: Some(STORED_CHANGES),
    })
    .unwrap_or(serde_json::Value::Null);
    run.format = req.roster.format.map(|f| f.as_str().to_owned());
    let mut counts = serde_json::to_value(p.counts).unwrap_or(serde_json::Value::Null);
    if let Some(m) = counts.as_object_mut() {
        m.insert("jobs_enqueued".into(), jobs.into());
        m.insert("source_conflicts".into(), conflicts.people.into());
        m.insert(
            "source_conflict_fields".into(),
            serde_json::to_value(&conflicts.fields).unwrap_or_default(),
        );
    }
    run.counts = counts;
    run.refusals = serde_json::json!([]);
    run.error_count = i64::try_from(p.counts.errors).unwrap_or(i64::MAX);
    run.plan = Some(preview_doc);
    run.fingerprint = Some(fingerprint);
    run.status = ImportStatus::Applied;
    run.planned_at = run.planned_at.or(Some(changes.now));
    run.applied_at = Some(done);
    run.updated_at = done;
    if req.stored {
        tx.update_import_run(run, None).await?;
    } else {
        let errors: Vec<&cc_roster::RowError> = req
            .roster
            .errors
            .iter()
            .chain(p.errors.iter())
            .take(super::runs::STORED_ERRORS)
            .collect();
        tx.insert_import_run(run, &[], &serde_json::to_value(errors).unwrap_or_default())
            .await?;
    }
    tx.append_audit(run_event(req.actor, "import.apply", run))
        .await?;
    if let Some(n) = super::runs::outcome_notice(run) {
        tx.append_notice(&n).await?;
    }
    Ok(())
}

/// What [`record_run`] records besides the plan.
struct RunOutcome {
    fingerprint: String,
    jobs: u64,
    conflicts: ConflictCounts,
}

/// Changes an import did not apply because another source owns the field: how many people,
/// and how many per field (the run's `counts.source_conflicts` and
/// `counts.source_conflict_fields`).
#[derive(Debug, Default)]
struct ConflictCounts {
    people: u64,
    fields: std::collections::BTreeMap<String, u64>,
}

impl ConflictCounts {
    fn record(&mut self, conflicts: &[FieldConflict]) {
        self.people += 1;
        for c in conflicts {
            *self.fields.entry(c.field.clone()).or_default() += 1;
        }
    }

    fn add(&mut self, other: &ConflictCounts) {
        self.people += other.people;
        for (f, n) in &other.fields {
            *self.fields.entry(f.clone()).or_default() += n;
        }
    }
}

/// Whether an import's next state of a person changes none of their fields.
fn same_fields(before: &User, after: &User) -> bool {
    let mut a = after.clone();
    a.version = before.version;
    a.updated_at = before.updated_at;
    a == *before
}

/// `user.source_conflict`, as an API or SCIM write records it (field names only).
fn conflict_event(actor: &Actor, user_id: Uuid, conflicts: &[FieldConflict]) -> NewAuditEvent {
    for c in conflicts {
        tracing::warn!(
            user_id = %user_id, field = %c.field, owner = %c.owner, attempted_by = %c.attempted_by,
            actor = %actor.name, "change to a field another source owns was not applied"
        );
    }
    NewAuditEvent {
        actor: actor.name.clone(),
        action: "user.source_conflict".into(),
        target_type: "user".into(),
        target_id: Some(user_id.to_string()),
        request_id: actor.request_id.clone(),
        before: None,
        after: Some(serde_json::json!({ "conflicts": conflicts })),
    }
}

/// The writes of one chunk of changes.
#[derive(Default)]
struct ChunkWrites {
    /// Changes in the chunk (blocked ones included), for the progress count.
    people: u64,
    inserts: Vec<User>,
    /// The people this chunk creates, whose source (`roster`) is recorded.
    sources: Vec<Uuid>,
    updates: Vec<User>,
    /// Changes not applied because another source owns the field.
    conflicts: ConflictCounts,
    /// Memberships of existing people, and of people this chunk creates.
    add: Vec<(Uuid, Uuid)>,
    add_new: Vec<(Uuid, Uuid)>,
    remove: Vec<(Uuid, Uuid)>,
    events: Vec<NewAuditEvent>,
}

async fn write_users(
    tx: &mut dyn ImportTx,
    updates: &[User],
    inserts: &[User],
) -> Result<(), ImportError> {
    tx.update_users_bulk(updates).await?;
    tx.insert_users_bulk(inserts).await?;
    Ok(())
}

async fn enqueue(
    tx: &mut dyn ImportTx,
    batch_id: Uuid,
    actor: &Actor,
    intents: &[LifecycleIntent],
) -> Result<u64, ImportError> {
    if intents.is_empty() {
        return Ok(0);
    }
    Ok(tx
        .enqueue_lifecycle(LifecycleBatch {
            batch_id,
            actor: &actor.name,
            request_id: actor.request_id.as_deref(),
            intents,
        })
        .await?)
}

/// Applies a preview made earlier (the CLI): the same plan, or `Stale`.
///
/// # Errors
/// See [`apply`].
pub async fn apply_preview(
    store: &dyn Store,
    actor: &Actor,
    preview: &Preview,
    settings: &ImportSettings,
    overrides: &Overrides,
    run: ImportRun,
    progress: &Progress,
) -> Result<ApplyOutcome, ImportError> {
    let req = ApplyRequest {
        actor,
        roster: &preview.roster,
        settings,
        overrides,
        expected: Some(&preview.fingerprint),
        stored: false,
        progress,
    };
    apply(store, req, run).await
}

/// Accumulates time per named step.
#[derive(Default)]
struct Clock {
    last: Option<std::time::Instant>,
    laps: Vec<(&'static str, f64)>,
}

impl Clock {
    /// Adds the time since the previous lap to `name`.
    fn lap(&mut self, name: &'static str) {
        let now = std::time::Instant::now();
        let secs = self.last.map_or(0.0, |l| (now - l).as_secs_f64());
        self.last = Some(now);
        self.add(name, secs);
    }

    /// Adds time measured inside another step (which counts it too).
    fn add(&mut self, name: &'static str, secs: f64) {
        match self.laps.iter_mut().find(|(n, _)| *n == name) {
            Some((_, t)) => *t += secs,
            None => self.laps.push((name, secs)),
        }
    }
}
