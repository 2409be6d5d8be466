//! `/groups` (with members, added and removed on the group's page) and `/devices`
//! (compliance and the failing rules): plain GET filters with keyset paging, and create and
//! edit forms where the viewer's role may use them.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use cc_api::{ApiError, AppState};
use cc_domain::{
    Compliance, Device, DevicePatch, DeviceQuery, GroupKind, GroupPatch, GroupQuery, NewDevice,
    NewGroup, Platform, Policy, PolicyQuery, SortDir, UserQuery,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::csrf;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::list::{
    cursor, edit_field, filter_bar, new_field, non_empty, pager, parse_enum, see_other, select,
    table_or_empty, text_field, PAGE_SIZE,
};
use crate::pages::people::status;
use crate::viewer::Viewer;

// ---- Groups --------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct GroupSearch {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub school: String,
    #[serde(default)]
    pub cursor: String,
}

/// `GET /groups`.
pub async fn groups(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(s): Query<GroupSearch>,
) -> Result<Response, ApiError> {
    let page = app
        .store
        .list_groups(&GroupQuery {
            kind: parse_enum("kind", &s.kind)?,
            school: non_empty(&s.school),
            q: non_empty(&s.q),
            dir: SortDir::Asc,
            limit: PAGE_SIZE,
            cursor: cursor(&s.cursor, "id")?,
        })
        .await?;
    let pairs = [
        ("q", s.q.as_str()),
        ("kind", &s.kind),
        ("school", &s.school),
    ];
    let body = html! {
        h1 { "Groups" }
        (filter_bar("/groups", "Find groups", "Search", &html! {
            (text_field("q", "Name, display name or external id", &s.q, false))
            (select("kind", "Kind", &s.kind, &GroupKind::ALL.map(GroupKind::as_str), true))
            (text_field("school", "School", &s.school, false))
        }))
        (table_or_empty(page.items.len(), "No group matches.", &html! {
            table #groups {
                caption { "Groups" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Display name" } th scope="col" { "Kind" }
                    th scope="col" { "School" } th scope="col" { "Members" } } }
                tbody { @for g in &page.items { tr {
                    td { a href=(format!("/groups/{}", g.id)) { (g.name) } }
                    td { (g.display_name) }
                    td { (g.kind.as_str()) }
                    td { (g.school.as_deref().unwrap_or("–")) }
                    td.num { (g.member_count) }
                } } }
            }
        }))
        (pager("/groups", &pairs, &s.cursor, page.next_cursor.as_ref()))
        @if viewer.may(&Method::POST, "/groups") {
            section.card aria-labelledby="h-new-group" {
                h2 #h-new-group { "New group" }
                form method="post" action="/groups" {
                    (csrf::field(&viewer))
                    (new_field("name", "Name (letters, digits, '.', '_' or '-')", true))
                    (new_field("display_name", "Display name", false))
                    (select("kind", "Kind", "security", &GroupKind::ALL.map(GroupKind::as_str), false))
                    (new_field("school", "School", false))
                    (new_field("description", "Description", false))
                    div.actions { button.primary type="submit" { "Create group" } }
                }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Groups",
        Nav::Groups,
        &PageOptions::default(),
        body,
    ))
}

#[derive(Deserialize)]
pub struct GroupForm {
    pub name: String,
    #[serde(default)]
    pub display_name: String,
    pub kind: String,
    #[serde(default)]
    pub school: String,
    #[serde(default)]
    pub description: String,
}

/// `POST /groups`: creates a group, then shows it.
pub async fn create_group(
    State(app): State<AppState>,
    viewer: Viewer,
    Form(f): Form<GroupForm>,
) -> Result<Response, ApiError> {
    let input = NewGroup {
        name: f.name.trim().to_owned(),
        display_name: non_empty(&f.display_name),
        kind: parse_enum("kind", &f.kind)?.unwrap_or_default(),
        school: non_empty(&f.school),
        external_id: None,
        description: non_empty(&f.description),
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let g = app.directory.create_group(&actor, input).await?;
    Ok(see_other(&format!("/groups/{}", g.id)))
}

#[derive(Debug, Default, Deserialize)]
pub struct Members {
    #[serde(default)]
    pub cursor: String,
}

/// `GET /groups/{id}`: the group and its members.
pub async fn group(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Query(m): Query<Members>,
) -> Result<Response, ApiError> {
    let g = app
        .store
        .get_group(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No group with that id."))?;
    let cur = cursor(&m.cursor, "username")?;
    let members = app
        .store
        .group_members(
            id,
            &UserQuery {
                limit: PAGE_SIZE,
                cursor: cur,
                ..UserQuery::default()
            },
        )
        .await?;
    let body = html! {
        h1 { (g.display_name) }
        dl.fields {
            dt { "Name" } dd.mono { (g.name) }
            dt { "Kind" } dd { (g.kind.as_str()) }
            dt { "School" } dd { (g.school.as_deref().unwrap_or("–")) }
            dt { "External id" } dd.mono { (g.external_id.as_deref().unwrap_or("–")) }
            dt { "Description" } dd { (g.description.as_deref().unwrap_or("–")) }
            dt { "Members" } dd { (g.member_count) }
        }
        @if viewer.may(&Method::POST, "/groups/{id}") {
            details.card {
                summary { "Edit" }
                form method="post" action=(format!("/groups/{id}")) {
                    (csrf::field(&viewer))
                    input type="hidden" name="version" value=(g.version);
                    (edit_field("display_name", "Display name", &g.display_name))
                    (edit_field("school", "School", g.school.as_deref().unwrap_or("")))
                    (edit_field("description", "Description", g.description.as_deref().unwrap_or("")))
                    div.actions { button.primary type="submit" { "Save" } }
                }
            }
        }
        h2 #h-members { "Members" }
        @let may_change = viewer.may(&Method::POST, MEMBERS_ROUTE);
        (table_or_empty(members.items.len(), "No members.", &html! {
            table #members aria-labelledby="h-members" {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Username" } th scope="col" { "Role" } th scope="col" { "Status" }
                    @if may_change { th scope="col" { span.visually-hidden { "Actions" } } } } }
                tbody { @for u in &members.items { tr data-user=(u.username) {
                    td { a href=(format!("/people/{}", u.id)) { (u.given_name) " " (u.family_name) } }
                    td.mono { (u.username) }
                    td { (u.role.as_str()) }
                    td { (status(u.status)) }
                    @if may_change { td {
                        form.inline method="post" action=(format!("/groups/{id}/members/{}/remove", u.id))
                            data-confirm=(format!("Remove {} from {}?", u.username, g.name)) data-confirm-label="Remove" {
                            (csrf::field(&viewer))
                            button.danger type="submit" aria-label=(format!("Remove {}", u.username)) { "Remove" }
                        }
                    } }
                } } }
            }
        }))
        @if may_change {
            form.inline #add-member method="post" action=(format!("/groups/{id}/members")) {
                (csrf::field(&viewer))
                (new_field("username", "Add a member by username", true))
                div.actions { button.primary type="submit" { "Add member" } }
            }
        }
        (pager(&format!("/groups/{id}"), &[], &m.cursor, members.next_cursor.as_ref()))
    };
    Ok(layout::respond(
        &viewer,
        &g.display_name,
        Nav::Groups,
        &PageOptions::default(),
        body,
    ))
}

/// The route of the member forms, as in the permission table.
pub const MEMBERS_ROUTE: &str = "/groups/{id}/members";

#[derive(Deserialize)]
pub struct MemberAdd {
    pub username: String,
}

/// `POST /groups/{id}/members`: adds the person with this username (adding a member twice
/// changes nothing), then shows the group.
pub async fn add_member(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<MemberAdd>,
) -> Result<Response, ApiError> {
    let username = f.username.trim();
    let Some(user) = app.store.get_user_by_username(username).await? else {
        return Err(ApiError::new(
            cc_api::error::ProblemType::ValidationFailed,
            format!("No person has the username {username:?}."),
        )
        .with_field("username", "no person has this username"));
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.directory
        .set_membership(&actor, id, user.id, true)
        .await?;
    Ok(see_other(&format!("/groups/{id}")))
}

/// `POST /groups/{id}/members/{user_id}/remove`: removes a member, then shows the group.
pub async fn remove_member(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> Result<Response, ApiError> {
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.directory
        .set_membership(&actor, id, user_id, false)
        .await?;
    Ok(see_other(&format!("/groups/{id}")))
}

#[derive(Deserialize)]
pub struct GroupEdit {
    pub version: i64,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub school: String,
    #[serde(default)]
    pub description: String,
}

/// `POST /groups/{id}`: saves the edit form at the version it was read (a stale version is
/// refused), then shows the group.
pub async fn update_group(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<GroupEdit>,
) -> Result<Response, ApiError> {
    let patch = GroupPatch {
        display_name: non_empty(&f.display_name),
        school: Some(non_empty(&f.school)),
        description: Some(non_empty(&f.description)),
        ..GroupPatch::default()
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.directory
        .update_group(&actor, id, patch, Some(f.version))
        .await?;
    Ok(see_other(&format!("/groups/{id}")))
}

// ---- Devices -------------------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
pub struct DeviceSearch {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub compliance: String,
    #[serde(default)]
    pub cursor: String,
}

fn compliance(c: Compliance) -> Markup {
    match c {
        Compliance::Compliant => status_badge("ok", "compliant"),
        Compliance::Noncompliant => status_badge("bad", "noncompliant"),
        Compliance::Unknown => status_badge("idle", "unknown"),
    }
}

/// `GET /devices`.
pub async fn devices(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(s): Query<DeviceSearch>,
) -> Result<Response, ApiError> {
    let page = app
        .store
        .list_devices(&DeviceQuery {
            platform: parse_enum("platform", &s.platform)?,
            compliance: parse_enum("compliance", &s.compliance)?,
            assigned_user_id: None,
            q: non_empty(&s.q),
            dir: SortDir::Asc,
            limit: PAGE_SIZE,
            cursor: cursor(&s.cursor, "id")?,
        })
        .await?;
    let pairs = [
        ("q", s.q.as_str()),
        ("platform", &s.platform),
        ("compliance", &s.compliance),
    ];
    let body = html! {
        h1 { "Devices" }
        form.filters method="get" action="/devices" role="search" aria-label="Find devices" {
            (text_field("q", "Serial number, name or model", &s.q, false))
            (select("platform", "Platform", &s.platform, &Platform::ALL.map(Platform::as_str), true))
            (select("compliance", "Compliance", &s.compliance, &Compliance::ALL.map(Compliance::as_str), true))
            div.field { button.primary type="submit" { "Search" } }
        }
        @if page.items.is_empty() { p.empty { "No device matches." } } @else {
            div.table-wrap { table #devices {
                caption { "Devices" }
                thead { tr { th scope="col" { "Serial number" } th scope="col" { "Name" } th scope="col" { "Platform" }
                    th scope="col" { "Model" } th scope="col" { "Compliance" } th scope="col" { "Last check-in" } } }
                tbody { @for d in &page.items { tr {
                    td.mono { a href=(format!("/devices/{}", d.id)) { (d.serial_number) } }
                    td { (d.name.as_deref().unwrap_or("–")) }
                    td { (d.platform.as_str()) }
                    td { (d.model.as_deref().unwrap_or("–")) }
                    td { (compliance(d.compliance)) }
                    td { (d.last_check_in_at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())) }
                } } }
            } }
        }
        (pager("/devices", &pairs, &s.cursor, page.next_cursor.as_ref()))
        @if viewer.may(&Method::POST, "/devices") {
            section.card aria-labelledby="h-new-device" {
                h2 #h-new-device { "New device" }
                form method="post" action="/devices" {
                    (csrf::field(&viewer))
                    (new_field("serial_number", "Serial number", true))
                    (new_field("name", "Name or asset tag", false))
                    (select("platform", "Platform", "windows", &Platform::ALL.map(Platform::as_str), false))
                    (new_field("model", "Model", false))
                    (new_field("os_version", "OS version", false))
                    div.actions { button.primary type="submit" { "Create device" } }
                }
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Devices",
        Nav::Devices,
        &PageOptions::default(),
        body,
    ))
}

#[derive(Deserialize)]
pub struct DeviceForm {
    pub serial_number: String,
    #[serde(default)]
    pub name: String,
    pub platform: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub os_version: String,
}

/// `POST /devices`: registers a device, then shows it.
pub async fn create_device(
    State(app): State<AppState>,
    viewer: Viewer,
    Form(f): Form<DeviceForm>,
) -> Result<Response, ApiError> {
    let input = NewDevice {
        serial_number: f.serial_number.trim().to_owned(),
        name: non_empty(&f.name),
        platform: parse_enum("platform", &f.platform)?.unwrap_or_default(),
        model: non_empty(&f.model),
        os_version: non_empty(&f.os_version),
        ..NewDevice::default()
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let d = app.directory.create_device(&actor, input).await?;
    Ok(see_other(&format!("/devices/{}", d.id)))
}

#[derive(Deserialize)]
pub struct DeviceEdit {
    pub version: i64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub model: String,
    #[serde(default)]
    pub os_version: String,
}

/// `POST /devices/{id}`: saves the edit form at the version it was read, then shows the
/// device.
pub async fn update_device(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<DeviceEdit>,
) -> Result<Response, ApiError> {
    let patch = DevicePatch {
        name: Some(non_empty(&f.name)),
        model: Some(non_empty(&f.model)),
        os_version: Some(non_empty(&f.os_version)),
        ..DevicePatch::default()
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.directory
        .update_device(&actor, id, patch, Some(f.version))
        .await?;
    Ok(see_other(&format!("/devices/{id}")))
}

/// Every enabled policy that applies to the device's platform, with whether it passes.
async fn evaluate(app: &AppState, d: &Device) -> Result<Vec<(Policy, bool)>, ApiError> {
    let mut out = Vec::new();
    let mut q = PolicyQuery {
        enabled: Some(true),
        platform: Some(d.platform),
        limit: 500,
        ..PolicyQuery::default()
    };
    loop {
        let page = app.store.list_policies(&q).await?;
        for p in page.items {
            if p.applies_to(d.platform) {
                let pass = p.rule.evaluate(&d.facts);
                out.push((p, pass));
            }
        }
        match page.next_cursor {
            Some(c) => {
                q.cursor =
                    Some(cc_domain::Cursor::decode(&c, "id").map_err(|_| ApiError::internal())?)
            }
            None => break,
        }
    }
    out.sort_by_key(|(_, pass)| *pass);
    Ok(out)
}

/// `GET /devices/{id}`: the device, its compliance and the rules it fails.
pub async fn device(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let d = app
        .store
        .get_device(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No device with that id."))?;
    let results = evaluate(&app, &d).await?;
    let failing = results.iter().filter(|(_, pass)| !pass).count();
    let facts = serde_json::to_string_pretty(&d.facts).unwrap_or_default();
    let body = html! {
        h1 { (d.name.as_deref().unwrap_or(&d.serial_number)) }
        dl.fields {
            dt { "Serial number" } dd.mono { (d.serial_number) }
            dt { "Platform" } dd { (d.platform.as_str()) }
            dt { "Model" } dd { (d.model.as_deref().unwrap_or("–")) }
            dt { "OS version" } dd { (d.os_version.as_deref().unwrap_or("–")) }
            dt { "Assigned to" } dd {
                @if let Some(u) = d.assigned_user_id { a href=(format!("/people/{u}")) { "this person" } } @else { "no one" }
            }
            dt { "Compliance" } dd #device-compliance { (compliance(d.compliance)) }
            dt { "Last check-in" } dd { (d.last_check_in_at.map_or_else(|| "never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())) }
        }
        @if viewer.may(&Method::POST, "/devices/{id}") {
            details.card {
                summary { "Edit" }
                form method="post" action=(format!("/devices/{id}")) {
                    (csrf::field(&viewer))
                    input type="hidden" name="version" value=(d.version);
                    (edit_field("name", "Name or asset tag", d.name.as_deref().unwrap_or("")))
                    (edit_field("model", "Model", d.model.as_deref().unwrap_or("")))
                    (edit_field("os_version", "OS version", d.os_version.as_deref().unwrap_or("")))
                    div.actions { button.primary type="submit" { "Save" } }
                }
            }
        }
        section aria-labelledby="h-rules" {
            h2 #h-rules { "Policies (" (failing) " failing)" }
            @if results.is_empty() { p.empty { "No enabled policy applies to this platform." } } @else {
                div.table-wrap { table #device-policies {
                    thead { tr { th scope="col" { "Policy" } th scope="col" { "Result" } th scope="col" { "Severity" } th scope="col" { "Remediation" } } }
                    tbody { @for (p, pass) in &results { tr class=(if *pass { "row-ok" } else { "row-bad" }) {
                        th scope="row" { a href=(format!("/policies/{}", p.id)) { (p.name) } }
                        td { @if *pass { (status_badge("ok", "passes")) } @else { (status_badge("bad", "fails")) } }
                        td { (p.severity.as_str()) }
                        td { @if *pass { "–" } @else { (p.remediation.as_deref().unwrap_or("–")) } }
                    } } }
                } }
            }
        }
        section aria-labelledby="h-facts" {
            h2 #h-facts { "Reported facts" }
            pre.mono { (facts) }
        }
    };
    Ok(layout::respond(
        &viewer,
        &d.serial_number,
        Nav::Devices,
        &PageOptions::default(),
        body,
    ))
}
