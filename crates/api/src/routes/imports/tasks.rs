//! Planning and applying in the background, so a long import never holds a request open:
//! the request waits up to `import.sync_wait_ms` and otherwise answers 202 with the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{Semaphore, SemaphorePermit};

use cc_domain::{Actor, ImportRun, ImportStatus};
use cc_roster::{FormatChoice, Overrides};
use cc_service::imports::{self, ImportError, Progress, Upload};
use uuid::Uuid;

use crate::AppState;

/// Runs in progress in this process, with their progress (what `GET` shows while they run),
/// and the permits that bound how many uploads are read at once.
pub struct ImportTasks {
    running: Mutex<HashMap<Uuid, Arc<Progress>>>,
    reads: Semaphore,
}

impl ImportTasks {
    /// At most `parallel_reads` uploads are read and planned at once (at least one).
    #[must_use]
    pub fn new(parallel_reads: usize) -> Self {
        Self {
            running: Mutex::default(),
            reads: Semaphore::new(parallel_reads.max(1)),
        }
    }

    /// Waits for a turn to read an upload.
    async fn read_permit(&self, progress: &Progress) -> Option<SemaphorePermit<'_>> {
        progress.phase("waiting for other imports to be read");
        self.reads.acquire().await.ok()
    }

    pub(crate) fn start(&self, id: Uuid) -> Arc<Progress> {
        let p = Arc::new(Progress::default());
        if let Ok(mut m) = self.running.lock() {
            m.insert(id, p.clone());
        }
        p
    }

    pub(crate) fn end(&self, id: Uuid) {
        if let Ok(mut m) = self.running.lock() {
            m.remove(&id);
        }
    }

    /// The live progress of a run, if it runs here.
    #[must_use]
    pub fn progress(&self, id: Uuid) -> Option<serde_json::Value> {
        self.running.lock().ok()?.get(&id).map(|p| p.to_json())
    }
}

/// How often, at most, an import's progress is put on the event stream while it is read and
/// planned (only when it changed; an import done sooner sends only its outcome).
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Puts a run's progress on the event stream while it is read and planned; stopped (and
/// waited for) before the apply's transaction begins, so every notice precedes the outcome.
struct ProgressReporter {
    stop: tokio_util::sync::CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressReporter {
    fn start(app: &AppState, run: Uuid, progress: Arc<Progress>) -> Self {
        let stop = tokio_util::sync::CancellationToken::new();
        let token = stop.clone();
        let store = app.store.clone();
        let task = tokio::spawn(async move {
            let mut last = progress.to_json();
            loop {
                tokio::select! {
                    () = token.cancelled() => return,
                    () = tokio::time::sleep(PROGRESS_EVERY) => {}
                }
                let now = progress.to_json();
                if now == last {
                    continue;
                }
                last = now;
                if let Err(e) = imports::record_progress(store.as_ref(), run, &progress).await {
                    tracing::warn!(error = %e, %run, "could not report an import's progress");
                }
            }
        });
        Self { stop, task }
    }

    /// Stops reporting, once the last report is written.
    async fn stop(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

/// Says once, on the event stream, that a run is being applied (rows read, changes to
/// write): the apply is one transaction, so nothing more is heard until its outcome.
async fn announce_applying(app: &AppState, run: Uuid, progress: &Progress) {
    progress.phase("applying");
    if let Err(e) = imports::record_progress(app.store.as_ref(), run, progress).await {
        tracing::warn!(error = %e, %run, "could not report an import's progress");
    }
}

/// How a background step ended, for a request still waiting for it.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(Box<ImportRun>),
    Refused(Box<ImportRun>),
    Stale,
    Failed(Box<ImportRun>),
    /// The upload cannot be read (the run is recorded as failed): the request answers 422.
    Unreadable(Box<ImportRun>, &'static str),
}

async fn fail(app: &AppState, actor: &Actor, mut run: ImportRun, why: String) -> Outcome {
    run.status = ImportStatus::Failed;
    run.failure = Some(why);
    run.updated_at = cc_domain::now();
    if let Err(e) = imports::record_outcome(app.store.as_ref(), actor, &run, None).await {
        tracing::error!(error = %e, run = %run.id, "cannot record a failed import run");
    }
    Outcome::Failed(Box::new(run))
}

/// Reads and plans a stored upload; then, unless it is a dry run or refused, applies it.
pub(crate) async fn plan_then_maybe_apply(
    app: AppState,
    actor: Actor,
    mut run: ImportRun,
    upload: Upload,
    format: FormatChoice,
    overrides: Overrides,
    progress: Arc<Progress>,
) -> Outcome {
    let settings = app.config.import.settings.clone();
    let Some(permit) = app.import_tasks.read_permit(&progress).await else {
        return fail(&app, &actor, run, "the server is shutting down".into()).await;
    };
    let reporter = ProgressReporter::start(&app, run.id, progress.clone());
    let read = imports::preview_input(
        app.store.as_ref(),
        upload.input(),
        format,
        &settings,
        &overrides,
        progress.clone(),
    )
    .await;
    drop(upload);
    drop(permit);
    reporter.stop().await;
    let preview = match read {
        Ok(p) => p,
        Err(ImportError::Unreadable(e)) => {
            let code = e.code();
            return match fail(&app, &actor, run, format!("{e} ({code})")).await {
                Outcome::Failed(run) => Outcome::Unreadable(run, code),
                other => other,
            };
        }
        Err(e) => {
            tracing::error!(error = %e, run = %run.id, "planning an import failed");
            return fail(
                &app,
                &actor,
                run,
                "planning failed; see the server log".into(),
            )
            .await;
        }
    };
    imports::fill(&mut run, &preview);
    let errors = imports::row_errors(&preview);
    if let Err(e) = imports::record_outcome(app.store.as_ref(), &actor, &run, Some(&errors)).await {
        tracing::error!(error = %e, run = %run.id, "cannot record an import plan");
        return fail(
            &app,
            &actor,
            run,
            "storing the plan failed; see the server log".into(),
        )
        .await;
    }
    if run.dry_run || run.status == ImportStatus::Refused {
        return if run.status == ImportStatus::Refused {
            Outcome::Refused(Box::new(run))
        } else {
            Outcome::Done(Box::new(run))
        };
    }
    run.status = ImportStatus::Applying;
    announce_applying(&app, run.id, &progress).await;
    let fp = preview.fingerprint.clone();
    apply_roster(
        &app,
        &actor,
        run,
        &preview.roster,
        &overrides,
        &fp,
        &progress,
    )
    .await
}

/// Applies a run whose file is stored (status already `applying`).
pub(crate) async fn apply_stored(
    app: AppState,
    actor: Actor,
    run: ImportRun,
    overrides: Overrides,
    progress: Arc<Progress>,
) -> Outcome {
    let upload = match imports::restore_upload(app.store.as_ref(), run.id, &run.file_name).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return fail(
                &app,
                &actor,
                run,
                "the uploaded file is no longer stored (uploads are kept for import.retention_days); upload it again".into(),
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "reading a stored import file");
            return fail(
                &app,
                &actor,
                run,
                "reading the stored file failed; see the server log".into(),
            )
            .await;
        }
    };
    if upload.sha256 != run.sha256 {
        return fail(
            &app,
            &actor,
            run,
            "the stored file does not match its SHA-256; upload it again".into(),
        )
        .await;
    }
    let format: FormatChoice = run
        .options
        .get("format")
        .and_then(|f| serde_json::from_value(f.clone()).ok())
        .unwrap_or_default();
    let Some(permit) = app.import_tasks.read_permit(&progress).await else {
        return fail(&app, &actor, run, "the server is shutting down".into()).await;
    };
    let limits = app.config.import.settings.limits;
    let p = progress.clone();
    let reporter = ProgressReporter::start(&app, run.id, progress.clone());
    let read = tokio::task::spawn_blocking(move || {
        let out = imports::read(&upload.input(), format, limits, &p);
        drop(upload);
        out
    })
    .await;
    reporter.stop().await;
    let roster = match read {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return fail(&app, &actor, run, e.to_string()).await,
        Err(e) => return fail(&app, &actor, run, format!("reading the file stopped: {e}")).await,
    };
    drop(permit);
    let Some(fp) = run.fingerprint.clone() else {
        return fail(&app, &actor, run, "the run has no plan to apply".into()).await;
    };
    announce_applying(&app, run.id, &progress).await;
    apply_roster(&app, &actor, run, &roster, &overrides, &fp, &progress).await
}

async fn apply_roster(
    app: &AppState,
    actor: &Actor,
    run: ImportRun,
    roster: &cc_roster::Roster,
    overrides: &Overrides,
    fingerprint: &str,
    progress: &Progress,
) -> Outcome {
    let settings = app.config.import.settings.clone();
    let before = run.clone();
    let req = imports::ApplyRequest {
        actor,
        roster,
        settings: &settings,
        overrides,
        expected: Some(fingerprint),
        stored: true,
        progress,
    };
    match imports::apply(app.store.as_ref(), req, run).await {
        Ok(out) => Outcome::Done(Box::new(out.run)),
        Err(ImportError::Refused(r)) => {
            let mut run = before;
            run.status = ImportStatus::Refused;
            run.refusals = serde_json::to_value(&r).unwrap_or_default();
            run.updated_at = cc_domain::now();
            if let Err(e) = imports::record_outcome(app.store.as_ref(), actor, &run, None).await {
                tracing::error!(error = %e, "cannot record a refused import");
            }
            Outcome::Refused(Box::new(run))
        }
        Err(ImportError::Stale) => {
            let out = fail(
                app,
                actor,
                before,
                "the directory changed since the plan was made; upload the file again to re-plan"
                    .into(),
            )
            .await;
            match out {
                Outcome::Failed(_) => Outcome::Stale,
                other => other,
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "applying an import failed");
            fail(
                app,
                actor,
                before,
                "applying failed and nothing was written; see the server log".into(),
            )
            .await
        }
    }
}
