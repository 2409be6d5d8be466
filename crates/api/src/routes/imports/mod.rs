//! `/api/v1/imports`: upload a roster export, preview its plan, apply it.
//!
//! `POST /imports` stores the upload as an import run and plans it in the background; the
//! request waits up to `import.sync_wait_ms` and answers 201 with the finished run, or 202
//! with the run still `planning`/`applying` (poll `GET /imports/{id}`). With `dry_run=false`
//! a plan that no guard refuses is applied at once; otherwise `POST /imports/{id}/apply`
//! applies the previewed plan, after checking the stored file's hash and that a fresh plan
//! is identical to the previewed one.

mod tasks;

use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cc_domain::{FieldError, ImportRun, ImportStatus, Page};
use cc_roster::{FormatChoice, Overrides};
use cc_service::imports::{self, ImportOptions, Spool, SpoolError, Upload};
use futures::StreamExt;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub use tasks::ImportTasks;
use tasks::Outcome;

use super::CommonErrors;
use crate::error::{ApiError, ApiResult, ProblemType};
use crate::extract::{ApiPath, ApiQuery, CurrentActor};
use crate::AppState;

/// The import routes; uploads are limited by `import.max_upload_bytes`, not the API's body limit.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get))
        .routes(routes!(errors_csv))
        .routes(routes!(apply))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// Guard overrides, as query parameters.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApplyParams {
    /// Allow suspending more than `import.max_suspend_percent` / `max_suspend_count` people.
    #[serde(default)]
    pub allow_mass_suspend: bool,
    /// Allow a complete file much smaller than the directory.
    #[serde(default)]
    pub allow_shrink: bool,
    /// Allow a file that looks truncated.
    #[serde(default)]
    pub allow_truncated: bool,
    /// Allow an export lacking files its manifest declares.
    #[serde(default)]
    pub allow_missing_files: bool,
    /// Allow a complete file without rows.
    #[serde(default)]
    pub allow_empty: bool,
}

/// Parameters of `POST /api/v1/imports`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CreateParams {
    /// `auto` (default), `csv`, `oneroster` (also `oneroster-1.1`, `oneroster-1.2`) or `sds`.
    #[param(pattern = "^(auto|csv|oneroster|oneroster-1\\.1|oneroster-1\\.2|sds)$")]
    pub format: Option<String>,
    /// `true` (default): plan only. `false`: apply at once unless a guard refuses.
    pub dry_run: Option<bool>,
    /// Reject the whole file when any row has an error.
    #[serde(default)]
    pub strict: bool,
    /// The file's name, for a raw upload (multipart uploads carry their own): 1 to 255
    /// characters besides surrounding blanks, no path separator, control character or
    /// bidirectional control (`cc_domain::validation::file_name`, refused with 422).
    #[param(
        max_length = 255,
        pattern = "^[^/\\\\\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*[^\\s/\\\\\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069][^/\\\\\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$"
    )]
    pub file_name: Option<String>,
    #[serde(default)]
    pub allow_mass_suspend: bool,
    #[serde(default)]
    pub allow_shrink: bool,
    #[serde(default)]
    pub allow_truncated: bool,
    #[serde(default)]
    pub allow_missing_files: bool,
    #[serde(default)]
    pub allow_empty: bool,
}

fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ProblemType::PayloadTooLarge,
        format!("The upload is larger than the import limit of {limit} bytes (import.max_upload_bytes)."),
    )
}

/// A JSON body is a client calling the wrong route (or sending an import's parameters as JSON),
/// never a roster export: it is refused with 415 before anything is stored.
fn refuse_json(req: &Request) -> Result<(), ApiError> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if essence == "application/json" || essence.ends_with("+json") {
        return Err(ApiError::new(
            ProblemType::UnsupportedMediaType,
            "Upload the roster export itself (CSV or zip), raw or as the `file` part of a multipart form; JSON is not an export format.",
        ));
    }
    Ok(())
}

fn spool_error(e: SpoolError) -> ApiError {
    match e {
        SpoolError::TooLarge { limit } => too_large(limit),
        SpoolError::Io(e) => {
            tracing::error!(error = %e, "cannot spool an upload to disk");
            ApiError::internal()
        }
    }
}

fn file_name_of(name: Option<&str>) -> Result<String, ApiError> {
    cc_domain::validation::file_name(name.unwrap_or("upload")).map_err(ApiError::validation)
}

fn multipart_error(e: &axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(ProblemType::InvalidMultipart, e.body_text())
}

/// Reads the upload into a temporary file: the `file` part of a multipart form (exactly
/// one), or the raw body. Memory holds one chunk at a time.
async fn read_upload(app: &AppState, req: Request, name: Option<&str>) -> Result<Upload, ApiError> {
    read_form(app, req, name, false).await.map(|(u, _)| u)
}

/// The longest text field of an upload form that is kept (the other fields of a form, such
/// as the console's format choice, are short).
const FORM_FIELD_LIMIT: usize = 1024;

/// Like reading an upload for `POST /api/v1/imports`, also returning the form's other text
/// fields (name, value) when the upload is a multipart form (the console's upload form sends
/// its options that way). Fields longer than [`FORM_FIELD_LIMIT`] are refused.
///
/// # Errors
/// The problems `POST /api/v1/imports` answers for a bad upload.
pub async fn read_upload_form(
    app: &AppState,
    req: Request,
    name: Option<&str>,
) -> Result<(Upload, Vec<(String, String)>), ApiError> {
    read_form(app, req, name, true).await
}

/// Reads the upload; with `keep_fields`, also the form's other text fields (the API skips
/// them unread, as it always has).
async fn read_form(
    app: &AppState,
    req: Request,
    name: Option<&str>,
    keep_fields: bool,
) -> Result<(Upload, Vec<(String, String)>), ApiError> {
    let limit = app.config.import.max_upload_bytes as u64;
    refuse_json(&req)?;
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let mut spool = Spool::new(&file_name_of(name)?, limit).map_err(spool_error)?;
        let mut body = req.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::new(
                    ProblemType::InvalidBody,
                    "The upload was cut off before its end.",
                )
            })?;
            spool.write(&chunk).await.map_err(spool_error)?;
        }
        return Ok((spool.finish().await.map_err(spool_error)?, Vec::new()));
    }
    let mut form = axum::extract::Multipart::from_request(req, app)
        .await
        .map_err(|e| ApiError::new(ProblemType::InvalidMultipart, e.body_text()))?;
    let mut upload: Option<Upload> = None;
    let mut fields = Vec::new();
    while let Some(mut field) = form.next_field().await.map_err(|e| multipart_error(&e))? {
        if field.name() != Some("file") {
            if !keep_fields {
                continue;
            }
            let key = field.name().unwrap_or("").to_owned();
            let mut value = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
                value.extend_from_slice(&chunk);
                if value.len() > FORM_FIELD_LIMIT {
                    return Err(ApiError::new(
                        ProblemType::ValidationFailed,
                        format!("The form field `{key}` is too long."),
                    )
                    .with_field(&key, "is too long"));
                }
            }
            fields.push((key, String::from_utf8_lossy(&value).into_owned()));
            continue;
        }
        if upload.is_some() {
            return Err(ApiError::new(
                ProblemType::DuplicatePart,
                "The form has more than one `file` part; send one export per upload.",
            )
            .with_field("file", "must appear once"));
        }
        let file_name = file_name_of(field.file_name().or(name))?;
        let mut spool = Spool::new(&file_name, limit).map_err(spool_error)?;
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e))? {
            spool.write(&chunk).await.map_err(spool_error)?;
        }
        upload = Some(spool.finish().await.map_err(spool_error)?);
    }
    let upload = upload.ok_or_else(|| {
        let mut e = ApiError::new(
            ProblemType::ValidationFailed,
            "The form has no `file` part.",
        );
        e.errors.push(FieldError {
            field: "file".into(),
            message: "is required".into(),
        });
        e
    })?;
    Ok((upload, fields))
}

fn overrides(strict: bool, p: &ApplyParams) -> Overrides {
    Overrides {
        allow_mass_suspend: p.allow_mass_suspend,
        allow_shrink: p.allow_shrink,
        allow_truncated: p.allow_truncated,
        allow_missing_files: p.allow_missing_files,
        allow_empty: p.allow_empty,
        strict,
    }
}

fn location(id: Uuid) -> String {
    format!("/api/v1/imports/{id}")
}

fn with_location(status: StatusCode, run: &ImportRun) -> Response {
    let mut res = (status, Json(run)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location(run.id)) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// Where a background step stands when the request stops waiting for it.
#[derive(Debug)]
pub enum Submitted {
    /// Planned, applied, refused (a plan) or failed: the run as it ended.
    Finished(Box<ImportRun>),
    /// Still planning or applying after `import.sync_wait_ms`: the run as it stands.
    Pending(Box<ImportRun>),
}

impl Submitted {
    fn respond(self, done: StatusCode) -> Response {
        match self {
            Submitted::Finished(run) => with_location(done, &run),
            Submitted::Pending(run) => with_location(StatusCode::ACCEPTED, &run),
        }
    }

    /// The run, finished or not.
    #[must_use]
    pub fn run(&self) -> &ImportRun {
        match self {
            Submitted::Finished(run) | Submitted::Pending(run) => run,
        }
    }
}

/// Waits for a background step; its result, or the run as it stands.
async fn wait(
    app: &AppState,
    id: Uuid,
    handle: tokio::task::JoinHandle<Outcome>,
    applying: bool,
) -> ApiResult<Submitted> {
    let wait = app.config.import.sync_wait;
    match tokio::time::timeout(wait, handle).await {
        Ok(Ok(Outcome::Done(run))) => Ok(Submitted::Finished(run)),
        Ok(Ok(Outcome::Refused(run))) if applying => {
            let refusals: Vec<cc_roster::Refusal> =
                serde_json::from_value(run.refusals.clone()).unwrap_or_default();
            Err(crate::error::import_refused(refusals))
        }
        Ok(Ok(Outcome::Refused(run) | Outcome::Failed(run))) => Ok(Submitted::Finished(run)),
        Ok(Ok(Outcome::Unreadable(run, code))) => {
            let why = run.failure.as_deref().unwrap_or("The file cannot be read.");
            Err(ApiError::new(
                ProblemType::UnreadableUpload(code),
                format!("The upload cannot be imported: {why}. Nothing was changed; import run {} records the attempt.", run.id),
            ))
        }
        Ok(Ok(Outcome::Stale)) => Err(crate::error::plan_stale()),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "import task panicked");
            Err(ApiError::internal())
        }
        Err(_) => {
            let mut run = fetch(app, id).await?;
            run.progress = app.import_tasks.progress(id);
            Ok(Submitted::Pending(Box::new(run)))
        }
    }
}

async fn fetch(app: &AppState, id: Uuid) -> ApiResult<ImportRun> {
    let s = app.store.imports().ok_or_else(ApiError::internal)?;
    s.get_import_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No import run with that id."))
}

/// Upload a roster export and plan it.
///
/// The body is a CSV file or a zip archive (OneRoster, SDS), raw or as the `file` part of a
/// multipart form. The run is planned in the background; the answer is 201 with the run when
/// the plan (and, with `dry_run=false`, the apply) finished within `import.sync_wait_ms`,
/// otherwise 202 with the run, to be polled at `Location`.
#[utoipa::path(post, path = "/imports", tag = "imports", params(CreateParams),
    request_body(content = Vec<u8>, description = "A CSV file or a zip archive", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Planned (or applied, or refused: see `status` and `refusals`)", body = ImportRun),
        (status = 202, description = "Still planning or applying; poll `Location`", body = ImportRun),
        (status = 413, description = "Larger than `import.max_upload_bytes`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 415, description = "A JSON body (`unsupported_media_type`): send the export itself", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameters (`validation_failed`: `format`, `file_name`), an empty upload (`empty_upload`), a second `file` part (`duplicate_part`), or an upload that cannot be read, with the reader's code (`missing_columns`, `file_empty`, `not_utf8`, `not_csv`, `duplicate_column`, `duplicate_entry`, `duplicate_key`, `compression_ratio`, `row_too_long`, `file_too_large`, `too_many_rows`, `unrecognized_format`, `invalid_export`, `unreadable_file`); the attempt is recorded as a `failed` run", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<CreateParams>,
    req: Request,
) -> ApiResult<Response> {
    let format: FormatChoice = match p.format.as_deref() {
        None => FormatChoice::Auto,
        Some(f) => f.parse().map_err(|m: String| {
            let mut e = ApiError::new(ProblemType::ValidationFailed, m.clone());
            e.errors.push(FieldError {
                field: "format".into(),
                message: m,
            });
            e
        })?,
    };
    let upload = read_upload(&app, req, p.file_name.as_deref()).await?;
    let dry_run = p.dry_run.unwrap_or(true);
    let flags = ApplyParams {
        allow_mass_suspend: p.allow_mass_suspend,
        allow_shrink: p.allow_shrink,
        allow_truncated: p.allow_truncated,
        allow_missing_files: p.allow_missing_files,
        allow_empty: p.allow_empty,
    };
    let overrides = overrides(p.strict, &flags);
    submit_upload(&app, actor, upload, format, dry_run, overrides)
        .await
        .map(|s| s.respond(StatusCode::CREATED))
}

/// Stores an upload as an import run and plans it (and with `dry_run` false, applies a plan
/// no guard refuses) in the background, waiting up to `import.sync_wait_ms`: what
/// `POST /api/v1/imports` does after reading the upload, for every front end.
///
/// # Errors
/// An empty upload (422 `empty_upload`), one that cannot be read (422 with the reader's
/// code; the attempt is recorded as a failed run), a store failure.
pub async fn submit_upload(
    app: &AppState,
    actor: cc_domain::Actor,
    upload: Upload,
    format: FormatChoice,
    dry_run: bool,
    overrides: Overrides,
) -> ApiResult<Submitted> {
    if upload.size == 0 {
        return Err(ApiError::new(
            ProblemType::EmptyUpload,
            "The upload is empty.",
        ));
    }
    let run = imports::new_run_for_upload(
        &actor,
        &upload,
        dry_run,
        &ImportOptions { format, overrides },
    );
    imports::insert_upload(app.store.as_ref(), &run, &upload).await?;
    let id = run.id;
    let progress = app.import_tasks.start(id);
    let task_app = app.clone();
    let handle = tokio::spawn(async move {
        let tasks = task_app.import_tasks.clone();
        let out =
            tasks::plan_then_maybe_apply(task_app, actor, run, upload, format, overrides, progress)
                .await;
        tasks.end(id);
        out
    });
    wait(app, id, handle, false).await
}

/// Apply a previewed import run.
///
/// Checks that the stored file still matches its SHA-256, plans it again inside the write
/// transaction and refuses (409 `plan_stale`, run `failed`) when the plan differs from the
/// preview — the directory changed in between. Guards apply again; pass the `allow_*`
/// parameters to override a refusal.
#[utoipa::path(post, path = "/imports/{id}/apply", tag = "imports", params(("id" = Uuid, Path), ApplyParams),
    responses(
        (status = 200, description = "Applied (or refused again: see `status`)", body = ImportRun),
        (status = 202, description = "Applying; poll `Location`", body = ImportRun),
        (status = 404, description = "No such run", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is not `planned`/`refused` (`import_not_applicable`), a guard refused it (`import_refused`; `errors` name the parameter that overrides each refusal), or the plan is stale (`plan_stale`)", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn apply(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(p): ApiQuery<ApplyParams>,
) -> ApiResult<Response> {
    submit_apply(&app, actor, id, &p)
        .await
        .map(|s| s.respond(StatusCode::OK))
}

/// Applies a previewed run with the given guard overrides in the background, waiting up to
/// `import.sync_wait_ms`: what `POST /api/v1/imports/{id}/apply` does, for every front end.
///
/// # Errors
/// No such run (404), a run that is not `planned`/`refused` (409 `import_not_applicable`),
/// a guard that refuses the plan without its override (409 `import_refused`), a stale plan
/// (409 `plan_stale`), a store failure.
pub async fn submit_apply(
    app: &AppState,
    actor: cc_domain::Actor,
    id: Uuid,
    p: &ApplyParams,
) -> ApiResult<Submitted> {
    let store = app.store.imports().ok_or_else(ApiError::internal)?;
    let mut tx = store.begin_import().await?;
    let mut run = tx
        .lock_import_run(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No import run with that id."))?;
    if !matches!(run.status, ImportStatus::Planned | ImportStatus::Refused) {
        return Err(ApiError::new(
            ProblemType::ImportNotApplicable,
            format!(
                "The run is {}; only planned or refused runs can be applied.",
                run.status.as_str()
            ),
        ));
    }
    let strict = run
        .options
        .pointer("/overrides/strict")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let overrides = overrides(strict, p);
    run.status = ImportStatus::Applying;
    run.updated_at = cc_domain::now();
    tx.update_import_run(&run, None).await?;
    tx.commit().await?;
    let progress = app.import_tasks.start(id);
    let task_app = app.clone();
    let handle = tokio::spawn(async move {
        let tasks = task_app.import_tasks.clone();
        let out = tasks::apply_stored(task_app, actor, run, overrides, progress).await;
        tasks.end(id);
        out
    });
    wait(app, id, handle, true).await
}

/// Paging for `GET /api/v1/imports`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

/// List import runs, newest first.
#[utoipa::path(get, path = "/imports", tag = "imports", params(ListParams),
    responses((status = 200, description = "One page of import runs (without plans)", body = Page<ImportRun>), CommonErrors))]
pub async fn list(
    State(app): State<AppState>,
    ApiQuery(p): ApiQuery<ListParams>,
) -> ApiResult<Json<Page<ImportRun>>> {
    let limit = cc_domain::page::parse_limit(p.limit)
        .map_err(|m| ApiError::new(ProblemType::InvalidQuery, m))?;
    let before = p
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<Uuid>().map_err(|_| {
                ApiError::new(
                    ProblemType::InvalidCursor,
                    "The cursor is not one this server issued.",
                )
            })
        })
        .transpose()?;
    let s = app.store.imports().ok_or_else(ApiError::internal)?;
    let mut items = s.list_import_runs(limit + 1, before).await?;
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    for r in &mut items {
        r.plan = None;
        r.progress = app.import_tasks.progress(r.id);
    }
    let next_cursor = if more {
        items.last().map(|r| r.id.to_string())
    } else {
        None
    };
    Ok(Json(Page { items, next_cursor }))
}

/// Get an import run: status, progress, counts, refusals, the plan and the first row errors.
#[utoipa::path(get, path = "/imports/{id}", tag = "imports", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The run", body = ImportRun),
        (status = 404, description = "No such run", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn get(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<ImportRun>> {
    load_run(&app, id).await.map(Json)
}

/// An import run as `GET /api/v1/imports/{id}` shows it: with its live progress and its
/// first 100 row errors.
///
/// # Errors
/// No such run (404), a store failure.
pub async fn load_run(app: &AppState, id: Uuid) -> ApiResult<ImportRun> {
    let mut run = fetch(app, id).await?;
    run.progress = app.import_tasks.progress(id);
    if let Some(errors) = app
        .store
        .imports()
        .ok_or_else(ApiError::internal)?
        .import_row_errors(id)
        .await?
    {
        run.errors = serde_json::Value::Array(
            errors
                .as_array()
                .map(|a| a.iter().take(100).cloned().collect())
                .unwrap_or_default(),
        );
    }
    Ok(run)
}

/// Every row error of a run as CSV: `file,line,field,message`.
#[utoipa::path(get, path = "/imports/{id}/errors.csv", tag = "imports", params(("id" = Uuid, Path)),
    responses((status = 200, description = "The row errors", body = String, content_type = "text/csv"),
        (status = 404, description = "No such run", body = crate::error::Problem, content_type = "application/problem+json"),
        CommonErrors))]
pub async fn errors_csv(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Response> {
    errors_csv_response(&app, id).await
}

/// Every row error of a run as a CSV answer (`file,line,field,message`), for every front end.
///
/// # Errors
/// No such run (404), a store failure.
pub async fn errors_csv_response(app: &AppState, id: Uuid) -> ApiResult<Response> {
    let errors = app
        .store
        .imports()
        .ok_or_else(ApiError::internal)?
        .import_row_errors(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No import run with that id."))?;
    let rows: Vec<cc_roster::RowError> = serde_json::from_value(errors).unwrap_or_default();
    let mut out = Vec::new();
    cc_roster::render::errors_csv(rows.iter(), &mut out).map_err(|_| ApiError::internal())?;
    let mut res = (StatusCode::OK, out).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    Ok(res)
}
