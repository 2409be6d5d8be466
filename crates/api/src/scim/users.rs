//! `/scim/v2/Users`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use cc_domain::{LifecycleOperation, NewUser, Role, User, UserPatch, UserQuery, UserStatus};
use cc_scim::patch::PatchOp;
use cc_scim::{ScimError, USER_SCHEMA};
use cc_service::sources::{Origin, ScimIdentity};
use serde_json::Value;
use uuid::Uuid;

use super::list::{ListParams, ListRequest, ProjectionParams, MAX_SCAN};
use super::map::{self, UserInput};
use super::{base_url, if_match, read_body, resource, scim_json, Fail, ScimResult};
use crate::extract::CurrentActor;
use crate::AppState;

/// A person the endpoint shows: deprovisioned people are gone as far as SCIM is concerned.
async fn find(app: &AppState, id: &str) -> ScimResult<User> {
    let missing = || Fail(ScimError::not_found(format!("No User `{id}`.")));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    match app
        .store
        .get_user(id)
        .await
        .map_err(cc_service::ServiceError::from)?
    {
        Some(u) if u.status != UserStatus::Deprovisioned => Ok(u),
        _ => Err(missing()),
    }
}

/// People in SCIM form (their sources read in one query per 500).
async fn render(app: &AppState, users: &[User], base: &str) -> ScimResult<Vec<Value>> {
    let ids: Vec<Uuid> = users.iter().map(|u| u.id).collect();
    let sources = app
        .store
        .user_sources(&ids)
        .await
        .map_err(cc_service::ServiceError::from)?;
    Ok(users
        .iter()
        .map(|u| map::user_to_scim(u, sources.get(&u.id), base))
        .collect())
}

async fn render_one(app: &AppState, user: &User, base: &str) -> ScimResult<Value> {
    Ok(render(app, std::slice::from_ref(user), base)
        .await?
        .pop()
        .unwrap_or(Value::Null))
}

/// Everyone the endpoint shows, up to [`MAX_SCAN`].
async fn everyone(app: &AppState) -> ScimResult<Vec<User>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = UserQuery {
            limit: 500,
            cursor,
            ..UserQuery::default()
        };
        let page = app
            .store
            .list_users(&q)
            .await
            .map_err(cc_service::ServiceError::from)?;
        out.extend(
            page.items
                .into_iter()
                .filter(|u| u.status != UserStatus::Deprovisioned),
        );
        if out.len() > MAX_SCAN {
            return Err(Fail(ScimError::bad(
                cc_scim::ScimType::TooMany,
                "Too many people to filter: narrow the filter to userName, id or externalId.",
            )));
        }
        match page.next_cursor {
            Some(c) => {
                cursor = Some(
                    cc_domain::Cursor::decode(&c, "username")
                        .map_err(cc_service::ServiceError::Internal)?,
                );
            }
            None => return Ok(out),
        }
    }
}

/// The people a list must look at: one, when the filter names a `userName` or `id`.
async fn candidates(app: &AppState, req: &ListRequest) -> ScimResult<Vec<User>> {
    if let Some(name) = req.equality("userName", USER_SCHEMA) {
        let by_scim = app
            .store
            .user_id_by_scim_name(name)
            .await
            .map_err(cc_service::ServiceError::from)?;
        let user = match by_scim {
            Some(id) => app.store.get_user(id).await,
            None => {
                app.store
                    .get_user_by_username(&map::derive_username(name))
                    .await
            }
        }
        .map_err(cc_service::ServiceError::from)?;
        return Ok(user
            .into_iter()
            .filter(|u| u.status != UserStatus::Deprovisioned)
            .collect());
    }
    if let Some(id) = req.equality("id", USER_SCHEMA) {
        return Ok(find(app, id).await.map(|u| vec![u]).unwrap_or_default());
    }
    everyone(app).await
}

/// The people a list request may answer with, in SCIM form (before filter and paging).
pub(super) async fn listable(
    app: &AppState,
    req: &ListRequest,
    base: &str,
) -> ScimResult<Vec<Value>> {
    let users = candidates(app, req).await?;
    render(app, &users, base).await
}

pub(super) async fn list(
    State(app): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<ListParams>, QueryRejection>,
) -> ScimResult {
    let req = ListRequest::parse(query)?;
    let rendered = listable(&app, &req, &base_url(&headers)).await?;
    Ok(scim_json(
        StatusCode::OK,
        &req.answer(rendered, USER_SCHEMA)?,
    ))
}

/// `POST /Users/.search`: a list whose parameters come in the body.
pub(super) async fn search(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let req = ListRequest::from_params(ListParams::from_search(&read_body(&headers, &body)?)?)?;
    let rendered = listable(&app, &req, &base_url(&headers)).await?;
    Ok(scim_json(
        StatusCode::OK,
        &req.answer(rendered, USER_SCHEMA)?,
    ))
}

pub(super) async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<ProjectionParams>, QueryRejection>,
) -> ScimResult {
    let projection = ProjectionParams::parse(query)?;
    let user = find(&app, &id).await?;
    let body = render_one(&app, &user, &base_url(&headers)).await?;
    Ok(resource(
        StatusCode::OK,
        &projection.apply(body, USER_SCHEMA),
        user.version,
    ))
}

fn origin(input: &UserInput) -> Origin {
    Origin::scim(ScimIdentity {
        user_name: input.user_name.clone(),
        attributes: input.kept_attributes(),
    })
}

pub(super) async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let input = map::user_from_scim(read_body(&headers, &body)?)?;
    if app
        .store
        .user_id_by_scim_name(&input.user_name)
        .await
        .map_err(cc_service::ServiceError::from)?
        .is_some()
    {
        return Err(Fail(ScimError::new(
            409,
            Some(cc_scim::ScimType::Uniqueness),
            "A User with this userName exists.",
        )));
    }
    let new = NewUser {
        external_id: input.external_id.clone(),
        username: input.username.clone(),
        given_name: input.given_name.clone(),
        family_name: input.family_name.clone(),
        email: input.email.clone(),
        role: input.role.unwrap_or(Role::Staff),
        grade: None,
        school: input.school.clone().flatten(),
        status: Some(if input.active == Some(false) {
            UserStatus::Suspended
        } else {
            UserStatus::Active
        }),
        groups: Vec::new(),
    };
    let user = app
        .directory
        .create_user_from(&actor, new, &origin(&input))
        .await?;
    let body = render_one(&app, &user, &base_url(&headers)).await?;
    Ok(resource(StatusCode::CREATED, &body, user.version))
}

/// The directory change a full SCIM representation asks for.
fn patch_for(current: &User, input: &UserInput) -> UserPatch {
    let status = match input.active {
        Some(true) if current.status != UserStatus::Active => Some(UserStatus::Active),
        Some(false) if current.status == UserStatus::Active => Some(UserStatus::Suspended),
        _ => None,
    };
    let role = input.role.filter(|r| *r != current.role);
    // Only students have a grade: a move to another role clears it.
    let grade = role
        .filter(|r| *r != Role::Student && current.grade.is_some())
        .map(|_| None);
    UserPatch {
        external_id: Some(input.external_id.clone()),
        username: Some(input.username.clone()),
        given_name: Some(input.given_name.clone()),
        family_name: Some(input.family_name.clone()),
        email: Some(input.email.clone()),
        role,
        grade,
        school: input.school.clone(),
        status,
        ..UserPatch::default()
    }
}

async fn write(
    app: &AppState,
    actor: &cc_domain::Actor,
    headers: &HeaderMap,
    current: &User,
    input: &UserInput,
) -> ScimResult {
    let expected = if_match(headers)?;
    let updated = app
        .directory
        .update_user_from(
            actor,
            current.id,
            patch_for(current, input),
            expected,
            &origin(input),
        )
        .await?;
    let body = render_one(app, &updated.user, &base_url(headers)).await?;
    Ok(resource(StatusCode::OK, &body, updated.user.version))
}

pub(super) async fn replace(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult {
    let current = find(&app, &id).await?;
    let mut value = read_body(&headers, &body)?;
    if let Some(body_id) = value.get("id").and_then(Value::as_str) {
        if body_id != current.id.to_string() {
            return Err(Fail(ScimError::bad(
                cc_scim::ScimType::Mutability,
                "id cannot change.",
            )));
        }
    }
    if let Some(o) = value.as_object_mut() {
        o.remove("id");
        o.remove("meta");
    }
    let input = map::user_from_scim(value)?;
    write(&app, &actor, &headers, &current, &input).await
}

pub(super) async fn patch(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ScimResult {
    let op: PatchOp = serde_json::from_value(read_body(&headers, &body)?).map_err(|e| {
        Fail(ScimError::invalid_syntax(format!(
            "The body is not a PatchOp: {e}"
        )))
    })?;
    let current = find(&app, &id).await?;
    let mut rendered = render_one(&app, &current, &base_url(&headers)).await?;
    op.apply(&mut rendered, USER_SCHEMA)?;
    let mut input = map::user_from_scim(rendered)?;
    // The whole resource is read back: a directory extension the PATCH removed clears the
    // school.
    input.school.get_or_insert(None);
    write(&app, &actor, &headers, &current, &input).await
}

/// Deprovisions the person (the lifecycle job removes their accounts); the record stays for
/// the audit trail, and SCIM no longer shows it.
pub(super) async fn delete(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    let current = find(&app, &id).await?;
    app.directory
        .request_operation(
            &actor,
            current.id,
            LifecycleOperation::Deprovision,
            None,
            if_match(&headers)?,
            None,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
