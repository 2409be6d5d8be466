//! `/scim/v2/Groups`.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use cc_domain::{Group, GroupKind, GroupPatch, GroupQuery, NewGroup};
use cc_scim::patch::PatchOp;
use cc_scim::{ScimError, GROUP_SCHEMA};
use cc_service::scim_groups::MemberChange;
use cc_service::ServiceError;
use serde_json::Value;
use uuid::Uuid;

use super::list::{ListParams, ListRequest, ProjectionParams, MAX_SCAN};
use super::map::{self, GroupInput};
use super::{base_url, if_match, read_body, resource, scim_json, Fail, ScimResult};
use crate::extract::CurrentActor;
use crate::AppState;

async fn find(app: &AppState, id: &str) -> ScimResult<Group> {
    let missing = || Fail(ScimError::not_found(format!("No Group `{id}`.")));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    app.store
        .get_group(id)
        .await
        .map_err(ServiceError::from)?
        .ok_or_else(missing)
}

/// A group in SCIM form, with its members when `with_members`.
async fn render(
    app: &AppState,
    group: &Group,
    with_members: bool,
    base: &str,
) -> ScimResult<Value> {
    let members = if with_members {
        Some(app.directory.all_group_members(group.id).await?)
    } else {
        None
    };
    Ok(map::group_to_scim(group, members.as_deref(), base))
}

async fn everyone(app: &AppState) -> ScimResult<Vec<Group>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let q = GroupQuery {
            limit: 500,
            cursor,
            ..GroupQuery::default()
        };
        let page = app
            .store
            .list_groups(&q)
            .await
            .map_err(ServiceError::from)?;
        out.extend(page.items);
        if out.len() > MAX_SCAN {
            return Err(Fail(ScimError::bad(
                cc_scim::ScimType::TooMany,
                "Too many groups to filter: narrow the filter to displayName or id.",
            )));
        }
        match page.next_cursor {
            Some(c) => {
                cursor = Some(cc_domain::Cursor::decode(&c, "id").map_err(ServiceError::Internal)?);
            }
            None => return Ok(out),
        }
    }
}

async fn candidates(app: &AppState, req: &ListRequest) -> ScimResult<Vec<Group>> {
    if let Some(name) = req.equality("displayName", GROUP_SCHEMA) {
        let found = app
            .store
            .get_group_by_name(&map::derive_group_name(name))
            .await
            .map_err(ServiceError::from)?;
        if let Some(g) = found {
            return Ok(vec![g]);
        }
    }
    if let Some(id) = req.equality("id", GROUP_SCHEMA) {
        return Ok(find(app, id).await.map(|g| vec![g]).unwrap_or_default());
    }
    everyone(app).await
}

/// The groups a list request may answer with, in SCIM form (before filter and paging).
pub(super) async fn listable(
    app: &AppState,
    req: &ListRequest,
    base: &str,
) -> ScimResult<Vec<Value>> {
    let groups = candidates(app, req).await?;
    // Members are read only when the answer shows them (or the filter or sort looks at them).
    let filter_members = req.filter.is_some() || req.sort_by.is_some();
    let with_members = req.projection.wants("members") || filter_members;
    let mut rendered = Vec::with_capacity(groups.len());
    for g in &groups {
        rendered.push(render(app, g, with_members, base).await?);
    }
    Ok(rendered)
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
        &req.answer(rendered, GROUP_SCHEMA)?,
    ))
}

/// `POST /Groups/.search`: a list whose parameters come in the body.
pub(super) async fn search(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let req = ListRequest::from_params(ListParams::from_search(&read_body(&headers, &body)?)?)?;
    let rendered = listable(&app, &req, &base_url(&headers)).await?;
    Ok(scim_json(
        StatusCode::OK,
        &req.answer(rendered, GROUP_SCHEMA)?,
    ))
}

pub(super) async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    query: Result<Query<ProjectionParams>, QueryRejection>,
) -> ScimResult {
    let projection = ProjectionParams::parse(query)?;
    let group = find(&app, &id).await?;
    let body = render(
        &app,
        &group,
        projection.wants("members"),
        &base_url(&headers),
    )
    .await?;
    Ok(resource(
        StatusCode::OK,
        &projection.apply(body, GROUP_SCHEMA),
        group.version,
    ))
}

pub(super) async fn create(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    let input = map::group_from_scim(read_body(&headers, &body)?)?;
    let new = NewGroup {
        name: map::derive_group_name(&input.display_name),
        display_name: Some(input.display_name.clone()),
        kind: GroupKind::Security,
        school: None,
        external_id: input.external_id.clone(),
        description: None,
    };
    let group = app
        .directory
        .create_group_with_members(&actor, new, &input.members)
        .await?;
    let body = render(&app, &group, true, &base_url(&headers)).await?;
    Ok(resource(StatusCode::CREATED, &body, group.version))
}

async fn write(
    app: &AppState,
    actor: &cc_domain::Actor,
    headers: &HeaderMap,
    current: &Group,
    input: GroupInput,
) -> ScimResult {
    let patch = GroupPatch {
        display_name: Some(input.display_name),
        external_id: Some(input.external_id),
        ..GroupPatch::default()
    };
    let group = app
        .directory
        .write_group_with_members(
            actor,
            current.id,
            patch,
            MemberChange::Set(input.members),
            if_match(headers)?,
        )
        .await?;
    let body = render(app, &group, true, &base_url(headers)).await?;
    Ok(resource(StatusCode::OK, &body, group.version))
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
    if let Some(o) = value.as_object_mut() {
        o.remove("id");
        o.remove("meta");
    }
    let input = map::group_from_scim(value)?;
    write(&app, &actor, &headers, &current, input).await
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
    let mut rendered = render(&app, &current, true, &base_url(&headers)).await?;
    op.apply(&mut rendered, GROUP_SCHEMA)?;
    let input = map::group_from_scim(rendered)?;
    write(&app, &actor, &headers, &current, input).await
}

pub(super) async fn delete(
    State(app): State<AppState>,
    CurrentActor(actor): CurrentActor,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    let current = find(&app, &id).await?;
    app.directory
        .delete_group(&actor, current.id, if_match(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
