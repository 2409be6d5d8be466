//! Planning and applying in the background, so a long import never holds a request open:
//! the request waits up to `import.sync_wait_ms` and otherwise answers 202 with the run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cc_domain::{Actor, ImportRun, ImportStatus};
use cc_roster::{FormatChoice, Input, Overrides};
use cc_service::imports::{self, ImportError, Progress};
use uuid::Uuid;

use crate::AppState;

/// Runs in progress in this process, with their progress (what `GET` shows while they run).
#[derive(Default)]
pub struct ImportTasks {
    running: Mutex<HashMap<Uuid, Arc<Progress>>>,
}

impl ImportTasks {
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

/// How a background step ended, for a request still waiting for it.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done(Box<ImportRun>),
    Refused(Box<ImportRun>),
    Stale,
    Failed(Box<ImportRun>),
}

fn read_stored(
    content: Vec<u8>,
    file_name: &str,
    format: FormatChoice,
    app: &AppState,
    progress: &Progress,
) -> Result<cc_roster::Roster, cc_roster::RosterError> {
    let input = Input::Bytes {
        name: file_name.to_owned(),
        data: Arc::new(content),
    };
    imports::read(&input, format, app.config.import.settings.limits, progress)
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
    content: Vec<u8>,
    format: FormatChoice,
    overrides: Overrides,
    progress: Arc<Progress>,
) -> Outcome {
    let settings = app.config.import.settings;
    let input = Input::Bytes {
        name: run.file_name.clone(),
        data: Arc::new(content),
    };
    let preview = match imports::preview_input(
        app.store.as_ref(),
        input,
        format,
        &settings,
        &overrides,
        progress.clone(),
    )
    .await
    {
        Ok(p) => p,
        Err(ImportError::Unreadable(e)) => {
            return fail(&app, &actor, run, format!("{} ({})", e, e.code())).await
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
    let content = match app.store.imports().map(|s| s.import_file(run.id)) {
        Some(f) => match f.await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return fail(
                    &app,
                    &actor,
                    run,
                    "the uploaded file is no longer stored; upload it again".into(),
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
        },
        None => {
            return fail(
                &app,
                &actor,
                run,
                "this store does not support imports".into(),
            )
            .await
        }
    };
    if imports::sha256_hex(&content) != run.sha256 {
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
    let name = run.file_name.clone();
    let (a, p) = (app.clone(), progress.clone());
    let roster = match tokio::task::spawn_blocking(move || {
        read_stored(content, &name, format, &a, &p)
    })
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return fail(&app, &actor, run, e.to_string()).await,
        Err(e) => return fail(&app, &actor, run, format!("reading the file stopped: {e}")).await,
    };
    let Some(fp) = run.fingerprint.clone() else {
        return fail(&app, &actor, run, "the run has no plan to apply".into()).await;
    };
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
    let settings = app.config.import.settings;
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
