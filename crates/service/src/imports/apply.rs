//! Applying a plan: every change, its audit event, the run record and the lifecycle jobs in
//! one transaction, with bulk statements (chunks of [`CHUNK`] people).
//!
//! The plan is made again inside the transaction, against the directory as the transaction
//! sees it; when the caller previewed a plan, its fingerprint must match, so what is applied
//! is exactly what was shown.

use std::collections::HashMap;

use cc_domain::{Actor, Group, ImportRun, ImportStatus, LifecycleIntent, NewAuditEvent, User};
use cc_roster::plan::{ChangeKind, PlanCounts, UserChange};
use cc_roster::{guards, plan, Overrides, Roster};
use cc_store::{ImportTx, LifecycleBatch, Store};
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
    /// How many jobs the queue accepted (0 until the queue is wired; see `ImportTx::enqueue_lifecycle`).
    pub jobs_enqueued: u64,
    /// Seconds spent per step: snapshot, plan, prepare (records and audit events), users,
    /// memberships, audit, indexes (after a first load), jobs (the lifecycle jobs), run (the run
    /// record), commit. Each chunk but the first is prepared while the previous chunk's people
    /// are written, so that time is in both `prepare` and `users`.
    pub timings: Vec<(&'static str, f64)>,
}

/// Applies a roster. `run` is the run record: stored already (`stored = true`, the API) or
/// stored by this transaction (the CLI). `expected` is the fingerprint of the previewed plan.
///
/// # Errors
/// `Refused` when a guard refuses (nothing written), `Stale` when the plan differs from the
/// previewed one, or a store failure (the transaction rolls back).
#[allow(clippy::too_many_arguments, clippy::too_many_lines)]
pub async fn apply(
    store: &dyn Store,
    actor: &Actor,
    roster: &Roster,
    settings: &ImportSettings,
    overrides: &Overrides,
    expected: Option<&str>,
    mut run: ImportRun,
    stored: bool,
    progress: &Progress,
) -> Result<ApplyOutcome, ImportError> {
    let mut clock = Clock::default();
    clock.lap("start");
    let mut tx = import_store(store)?.begin_import().await?;
    progress.phase("loading the directory");
    let view = view_of(tx.directory_snapshot().await?);
    clock.lap("snapshot");
    progress.phase("planning");
    let p = plan(roster, &view, settings.plan);
    let fingerprint = p.fingerprint(roster, &view);
    if expected.is_some_and(|e| e != fingerprint) {
        return Err(ImportError::Stale);
    }
    let refusals = guards::check(roster, &p, &view, &settings.guards, overrides);
    if !refusals.is_empty() {
        return Err(ImportError::Refused(refusals));
    }
    clock.lap("plan");
    progress.phase("applying");
    let first_load = view.users.is_empty()
        && p.counts.created >= FIRST_LOAD_MIN
        && tx.begin_first_load().await?;
    let now = cc_domain::now();
    progress.set_total(p.changes.len() as u64);

    // Groups first, so memberships can refer to them.
    let mut group_ids: HashMap<&str, Uuid> = view
        .groups
        .iter()
        .map(|g| (g.name.as_str(), g.id))
        .collect();
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
    for g in &new_groups {
        group_ids.insert(g.name.as_str(), g.id);
    }
    let gid = |i: &u32| -> Result<Uuid, ImportError> {
        let name = p.group_names[*i as usize].as_str();
        group_ids.get(name).copied().ok_or_else(|| {
            ImportError::Service(crate::ServiceError::Internal(format!(
                "group `{name}` vanished during the import"
            )))
        })
    };

    // One chunk's writes, made from the plan.
    let prepare = |chunk: &[UserChange],
                   intents: &mut Vec<LifecycleIntent>|
     -> Result<ChunkWrites, ImportError> {
        let mut w = ChunkWrites {
            people: chunk.len() as u64,
            events: Vec::with_capacity(chunk.len()),
            ..ChunkWrites::default()
        };
        for c in chunk {
            if c.kind == ChangeKind::Blocked {
                continue;
            }
            let before = c.existing.map(|i| &view.users[i as usize]);
            let after = p.target(c, roster, &view, cc_domain::new_id(), now);
            let adds = if before.is_none() {
                &mut w.add_new
            } else {
                &mut w.add
            };
            for g in &c.groups_add {
                adds.push((gid(g)?, after.id));
            }
            for g in &c.groups_remove {
                w.remove.push((gid(g)?, after.id));
            }
            if let Some(op) = c.operation(before.map(|b| b.status).or(c.status)) {
                intents.push(LifecycleIntent {
                    user_id: after.id,
                    operation: op,
                });
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
                    w.inserts.push(after);
                }
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
    };

    let mut intents = Vec::new();
    let mut chunks = p.changes.chunks(CHUNK);
    let mut next = chunks
        .next()
        .map(|c| prepare(c, &mut intents))
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
            let prepared = chunks.next().map(|c| prepare(c, &mut intents)).transpose();
            clock.add("prepare", t.elapsed().as_secs_f64());
            match started {
                std::task::Poll::Ready(done) => done?,
                std::task::Poll::Pending => users.await?,
            }
            prepared
        };
        clock.lap("users");
        next = prepared?;
        tx.remove_members_bulk(&w.remove).await?;
        tx.add_members_bulk(&w.add).await?;
        tx.add_new_members_bulk(&w.add_new).await?;
        clock.lap("memberships");
        tx.append_audit_bulk(w.events).await?;
        clock.lap("audit");
        progress.add_written(w.people);
    }
    if first_load {
        progress.phase("building indexes");
        tx.finish_first_load().await?;
        clock.lap("indexes");
    }

    let jobs = enqueue(&mut *tx, run.id, actor, &intents).await?;
    clock.lap("jobs");
    let done = cc_domain::now();
    let preview_doc = serde_json::to_value(cc_roster::render::PlanDocument {
        plan: &p,
        roster,
        dir: &view,
        refusals: &[],
        limit: Some(STORED_CHANGES),
    })
    .unwrap_or(serde_json::Value::Null);
    run.format = roster.format.map(|f| f.as_str().to_owned());
    let mut counts = serde_json::to_value(p.counts).unwrap_or(serde_json::Value::Null);
    if let Some(m) = counts.as_object_mut() {
        m.insert("jobs_enqueued".into(), jobs.into());
    }
    run.counts = counts;
    run.refusals = serde_json::json!([]);
    run.error_count = i64::try_from(p.counts.errors).unwrap_or(i64::MAX);
    run.plan = Some(preview_doc);
    run.fingerprint = Some(fingerprint);
    run.status = ImportStatus::Applied;
    run.planned_at = run.planned_at.or(Some(now));
    run.applied_at = Some(done);
    run.updated_at = done;
    if stored {
        tx.update_import_run(&run, None).await?;
    } else {
        let errors: Vec<&cc_roster::RowError> = roster
            .errors
            .iter()
            .chain(p.errors.iter())
            .take(super::runs::STORED_ERRORS)
            .collect();
        tx.insert_import_run(&run, &[], &serde_json::to_value(errors).unwrap_or_default())
            .await?;
    }
    tx.append_audit(run_event(actor, "import.apply", &run))
        .await?;
    clock.lap("run");
    progress.phase("committing");
    tx.commit().await?;
    clock.lap("commit");
    progress.phase("done");
    Ok(ApplyOutcome {
        run,
        counts: p.counts,
        intents,
        jobs_enqueued: jobs,
        timings: clock.laps,
    })
}

/// The writes of one chunk of changes.
#[derive(Default)]
struct ChunkWrites {
    /// Changes in the chunk (blocked ones included), for the progress count.
    people: u64,
    inserts: Vec<User>,
    updates: Vec<User>,
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
    apply(
        store,
        actor,
        &preview.roster,
        settings,
        overrides,
        Some(&preview.fingerprint),
        run,
        false,
        progress,
    )
    .await
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
