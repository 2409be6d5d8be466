//! `/policies` (search, filter by platform, keyset paging; operators create policies below
//! the list) and `/policies/{id}` (the policy and its rule; operators edit it there, at the
//! version read). The rule is written in the API's grammar, as JSON: `all`, `any`, `not`, and
//! conditions `{"fact", "op", "value"}`; a rule the grammar refuses is shown with the path of
//! its first problem.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use cc_api::error::ProblemType;
use cc_api::{ApiError, AppState};
use cc_domain::{
    NewPolicy, Platform, Policy, PolicyCategory, PolicyPatch, PolicyQuery, PolicyRule, Severity,
};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::csrf;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::list::{
    cursor, filter_bar, non_empty, pager, parse_enum, see_other, select, select_with_id,
    table_or_empty, text_field, PAGE_SIZE,
};
use crate::viewer::Viewer;

/// Longest rule text a form may send (the grammar bounds the rule's size too).
pub const MAX_RULE_TEXT: usize = 16 * 1024;

const EXAMPLE_RULE: &str = r#"{"all": [{"fact": "disk_encryption", "op": "eq", "value": true}]}"#;

#[derive(Debug, Default, Deserialize)]
pub struct PolicySearch {
    #[serde(default)]
    pub q: String,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub cursor: String,
}

/// `GET /policies`.
pub async fn list(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(s): Query<PolicySearch>,
) -> Result<Response, ApiError> {
    let page = app
        .store
        .list_policies(&PolicyQuery {
            platform: parse_enum("platform", &s.platform)?,
            q: non_empty(&s.q),
            limit: PAGE_SIZE,
            cursor: cursor(&s.cursor, "id")?,
            ..PolicyQuery::default()
        })
        .await?;
    let pairs = [("q", s.q.as_str()), ("platform", &s.platform)];
    let body = html! {
        h1 { "Policies" }
        (filter_bar("/policies", "Find policies", "Search", &html! {
            (text_field("q", "Name or description", &s.q, false))
            (select("platform", "Platform", &s.platform, &Platform::ALL.map(Platform::as_str), true))
        }))
        (table_or_empty(page.items.len(), "No policy matches.", &html! {
            table #policies {
                caption { "Policies" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Category" } th scope="col" { "Severity" }
                    th scope="col" { "Platforms" } th scope="col" { "Enabled" } } }
                tbody { @for p in &page.items { tr {
                    td { a href=(format!("/policies/{}", p.id)) { (p.name) } }
                    td { (p.category.as_str()) }
                    td { (p.severity.as_str()) }
                    td { (platforms(&p.platforms)) }
                    td { (enabled_badge(p.enabled)) }
                } } }
            }
        }))
        (pager("/policies", &pairs, &s.cursor, page.next_cursor.as_ref()))
        @if viewer.may(&Method::POST, "/policies") {
            section.card aria-labelledby="h-new-policy" {
                h2 #h-new-policy { "New policy" }
                (policy_form(&viewer, "/policies", None, "Create policy"))
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Policies",
        Nav::Policies,
        &PageOptions::default(),
        body,
    ))
}

/// The platforms a policy applies to, in words.
#[must_use]
pub fn platforms(p: &[Platform]) -> String {
    if p.is_empty() {
        "all".into()
    } else {
        p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn enabled_badge(enabled: bool) -> Markup {
    if enabled {
        status_badge("ok", "enabled")
    } else {
        status_badge("idle", "disabled")
    }
}

/// The create form (`current: None`) or the edit form of a policy, at its version.
fn policy_form(viewer: &Viewer, action: &str, current: Option<&Policy>, submit: &str) -> Markup {
    let prefix = if current.is_some() { "edit" } else { "new" };
    let id = |name: &str| format!("{prefix}-{name}");
    let text = |p: Option<&Policy>, f: fn(&Policy) -> String| p.map(f).unwrap_or_default();
    let rule = current.map_or_else(
        || EXAMPLE_RULE.to_owned(),
        |p| serde_json::to_string_pretty(&p.rule.0).unwrap_or_default(),
    );
    html! {
        form.policy-form method="post" action=(action) {
            (csrf::field(viewer))
            @if let Some(p) = current {
                input type="hidden" name="version" value=(p.version);
            }
            div.field {
                label for=(id("name")) { "Name (letters, digits, '.', '_' or '-')" }
                input id=(id("name")) type="text" name="name" required value=(text(current, |p| p.name.clone()));
            }
            div.field {
                label for=(id("description")) { "Description" }
                input id=(id("description")) type="text" name="description"
                    value=(text(current, |p| p.description.clone().unwrap_or_default()));
            }
            (select_with_id(&id("category"), "category", "Category",
                current.map_or("security", |p| p.category.as_str()), &PolicyCategory::ALL.map(PolicyCategory::as_str), false))
            (select_with_id(&id("severity"), "severity", "Severity",
                current.map_or("medium", |p| p.severity.as_str()), &Severity::ALL.map(Severity::as_str), false))
            div.field {
                label for=(id("platforms")) { "Platforms (comma-separated; empty for all)" }
                input id=(id("platforms")) type="text" name="platforms"
                    value=(current.map(|p| p.platforms.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default());
            }
            div.field {
                label for=(id("remediation")) { "Remediation (what to do when a device fails)" }
                input id=(id("remediation")) type="text" name="remediation"
                    value=(text(current, |p| p.remediation.clone().unwrap_or_default()));
            }
            div.field.check {
                input id=(id("enabled")) type="checkbox" name="enabled" value="true" checked[current.is_none_or(|p| p.enabled)];
                label for=(id("enabled")) { "Enabled" }
            }
            div.field.wide {
                label for=(id("rule")) { "Rule (JSON: " code { "all" } ", " code { "any" } ", " code { "not" } ", and " code { "fact" } "/" code { "op" } "/" code { "value" } " conditions)" }
                textarea.mono id=(id("rule")) name="rule" rows="10" required { (rule) }
            }
            div.actions { button.primary type="submit" { (submit) } }
        }
    }
}

/// `GET /policies/{id}`: the policy and its rule, and for operators the edit form.
pub async fn detail(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let p = app
        .store
        .get_policy(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No policy with that id."))?;
    let rule = serde_json::to_string_pretty(&p.rule.0).unwrap_or_default();
    let body = html! {
        h1 { (p.name) }
        dl.fields {
            dt { "Description" } dd { (p.description.as_deref().unwrap_or("–")) }
            dt { "Category" } dd { (p.category.as_str()) }
            dt { "Severity" } dd { (p.severity.as_str()) }
            dt { "Platforms" } dd { (platforms(&p.platforms)) }
            dt { "Enabled" } dd { (enabled_badge(p.enabled)) }
            dt { "Remediation" } dd { (p.remediation.as_deref().unwrap_or("–")) }
            dt { "Version" } dd #policy-version { (p.version) }
        }
        section aria-labelledby="h-rule" {
            h2 #h-rule { "Rule" }
            p.muted { "Conditions on the facts a device reports (" code { "all" } ", " code { "any" } ", " code { "not" } ", and " code { "fact" } "/" code { "op" } "/" code { "value" } ")." }
            pre.mono #policy-rule { (rule) }
        }
        @if viewer.may(&Method::POST, "/policies/{id}") {
            details.card #edit-policy {
                summary { "Edit" }
                (policy_form(&viewer, &format!("/policies/{id}"), Some(&p), "Save"))
            }
        }
    };
    Ok(layout::respond(
        &viewer,
        &p.name,
        Nav::Policies,
        &PageOptions::default(),
        body,
    ))
}

/// What the create and edit forms send.
#[derive(Deserialize)]
pub struct PolicyForm {
    /// The version the edit form was read at (absent when creating).
    pub version: Option<i64>,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub category: String,
    pub severity: String,
    #[serde(default)]
    pub platforms: String,
    #[serde(default)]
    pub remediation: String,
    /// Present (`true`) when the box is ticked; browsers send nothing otherwise.
    pub enabled: Option<String>,
    pub rule: String,
}

fn invalid_field(field: &str, message: String) -> ApiError {
    ApiError::new(ProblemType::ValidationFailed, format!("{field}: {message}"))
        .with_field(field, message)
}

/// The form's fields, parsed: a problem with any is a readable validation error naming it.
struct Parsed {
    category: PolicyCategory,
    severity: Severity,
    platforms: Vec<Platform>,
    rule: PolicyRule,
}

fn parse(f: &PolicyForm) -> Result<Parsed, ApiError> {
    if f.rule.len() > MAX_RULE_TEXT {
        return Err(invalid_field(
            "rule",
            format!("longer than {MAX_RULE_TEXT} bytes"),
        ));
    }
    let rule: serde_json::Value = serde_json::from_str(&f.rule).map_err(|e| {
        invalid_field(
            "rule",
            format!(
                "not JSON (line {}, column {}): {}",
                e.line(),
                e.column(),
                json_problem(&e)
            ),
        )
    })?;
    let platforms = f
        .platforms
        .split(',')
        .filter_map(non_empty)
        .map(|p| {
            p.parse::<Platform>()
                .map_err(|_| invalid_field("platforms", format!("{p:?} is not a platform")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Parsed {
        category: parse_enum("category", &f.category)?.unwrap_or(PolicyCategory::Other),
        severity: parse_enum("severity", &f.severity)?.unwrap_or_default(),
        platforms,
        rule: PolicyRule(rule),
    })
}

/// What is wrong with the JSON, in words (serde's text without its position suffix).
fn json_problem(e: &serde_json::Error) -> String {
    let text = e.to_string();
    text.split(" at line ").next().unwrap_or(&text).to_owned()
}

/// `POST /policies`: creates a policy, then shows it.
pub async fn create(
    State(app): State<AppState>,
    viewer: Viewer,
    Form(f): Form<PolicyForm>,
) -> Result<Response, ApiError> {
    let parsed = parse(&f)?;
    let input = NewPolicy {
        name: f.name.trim().to_owned(),
        description: non_empty(&f.description),
        category: parsed.category,
        platforms: parsed.platforms,
        rule: parsed.rule,
        severity: parsed.severity,
        enabled: Some(f.enabled.is_some()),
        remediation: non_empty(&f.remediation),
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let p = app.directory.create_policy(&actor, input).await?;
    Ok(see_other(&format!("/policies/{}", p.id)))
}

/// `POST /policies/{id}`: saves the edit form at the version it was read (a policy changed
/// meanwhile is refused, not overwritten), then shows the policy.
pub async fn update(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<PolicyForm>,
) -> Result<Response, ApiError> {
    let Some(version) = f.version else {
        return Err(invalid_field(
            "version",
            "missing: edit the policy from its page".into(),
        ));
    };
    let parsed = parse(&f)?;
    let patch = PolicyPatch {
        name: Some(f.name.trim().to_owned()),
        description: Some(non_empty(&f.description)),
        category: Some(parsed.category),
        platforms: Some(parsed.platforms),
        rule: Some(parsed.rule),
        severity: Some(parsed.severity),
        enabled: Some(f.enabled.is_some()),
        remediation: Some(non_empty(&f.remediation)),
        version: None,
    };
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.directory
        .update_policy(&actor, id, patch, Some(version))
        .await?;
    Ok(see_other(&format!("/policies/{id}")))
}
