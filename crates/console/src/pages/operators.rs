//! `/operators` and `/tokens` (admins only): operator accounts and API tokens.
//!
//! Every change is the authentication service's (`cc_service::Auth`), as through
//! `/api/v1/operators` and `/api/v1/tokens`: the same validation (password rules, the last
//! enabled admin), the same audit events. A new token's secret is in the answer to the form
//! that created it and nowhere else: the page is not stored (`no-store`) and the server keeps
//! only the secret's hash.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use cc_api::error::ProblemType;
use cc_api::{ApiError, AppState};
use cc_domain::{ApiToken, NewApiToken, NewOperator, Operator, OperatorPatch, OperatorRole};
use maud::{html, Markup};
use serde::Deserialize;
use uuid::Uuid;

use crate::csrf;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::viewer::Viewer;

fn see(path: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, path.to_owned())]).into_response()
}

fn when(t: chrono::DateTime<chrono::Utc>) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (t.format("%Y-%m-%d %H:%M UTC")) } }
}

fn role_field(field: &str, role: &str) -> Result<OperatorRole, ApiError> {
    role.parse::<OperatorRole>().map_err(|_| {
        ApiError::new(
            ProblemType::ValidationFailed,
            format!("{field}: must be auditor, operator or admin"),
        )
        .with_field(field, "must be auditor, operator or admin")
    })
}

fn role_select(id: &str, selected: OperatorRole) -> Markup {
    html! {
        select id=(id) name="role" {
            @for r in OperatorRole::ALL {
                option value=(r.as_str()) selected[r == selected] { (r.as_str()) }
            }
        }
    }
}

fn operators_body(viewer: &Viewer, ops: &[Operator]) -> Markup {
    html! {
        h1 { "Operators" }
        p { "Operators sign in to the console and the API. " a href="/tokens" { "API tokens" } " are for automation." }
        div.table-wrap {
            table #operators {
                caption { "Operators, by name" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Status" } th scope="col" { "Role" }
                    th scope="col" { "Last sign-in" } th scope="col" { "Enable or disable" }
                } }
                tbody {
                    @for o in ops {
                        tr data-operator=(o.username) {
                            th scope="row" { (o.username) }
                            td {
                                @if o.disabled { (status_badge("bad", "disabled")) }
                                @else { (status_badge("ok", "enabled")) }
                            }
                            td {
                                form.inline method="post" action={ "/operators/" (o.id) } {
                                    (csrf::field(viewer))
                                    input type="hidden" name="version" value=(o.version);
                                    label.visually-hidden for={ "role-" (o.id) } { "Role of " (o.username) }
                                    (role_select(&format!("role-{}", o.id), o.role))
                                    button type="submit" { "Change role" }
                                }
                            }
                            td { @if let Some(t) = o.last_login_at { (when(t)) } @else { "never" } }
                            td {
                                form.inline method="post" action={ "/operators/" (o.id) }
                                    data-confirm=[(!o.disabled).then(|| format!("Disable {}? Their sessions end and their API tokens stop working.", o.username))]
                                    data-confirm-label="Disable" {
                                    (csrf::field(viewer))
                                    input type="hidden" name="version" value=(o.version);
                                    @if o.disabled {
                                        input type="hidden" name="disabled" value="false";
                                        button type="submit" { "Enable " span.visually-hidden { (o.username) } }
                                    } @else {
                                        input type="hidden" name="disabled" value="true";
                                        button.danger type="submit" { "Disable " span.visually-hidden { (o.username) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-operator" {
            h2 #new-operator { "New operator" }
            form #operator-form method="post" action="/operators" {
                (csrf::field(viewer))
                p.field {
                    label for="o-name" { "Name" }
                    input #o-name name="username" type="text" required autocomplete="off"
                        pattern="[a-z0-9][a-z0-9._\\-]{0,63}" aria-describedby="o-name-help";
                    span #o-name-help .muted { "Lower-case letters, digits, dot, dash, underscore." }
                }
                p.field {
                    label for="o-password" { "Initial password" }
                    input #o-password name="password" type="password" required minlength="12"
                        autocomplete="new-password" aria-describedby="o-password-help";
                    span #o-password-help .muted { "At least 12 characters; not a common password." }
                }
                p.field {
                    label for="o-role" { "Role" }
                    (role_select("o-role", OperatorRole::Auditor))
                }
                p { button.primary type="submit" { "Create operator" } }
            }
        }
    }
}

/// `GET /operators`.
pub async fn list(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let ops = app.auth.list_operators().await?;
    Ok(layout::respond(
        &viewer,
        "Operators",
        Nav::Operators,
        &PageOptions::default(),
        operators_body(&viewer, &ops),
    ))
}

/// The new-operator form.
#[derive(Deserialize)]
pub struct NewOperatorForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
}

impl std::fmt::Debug for NewOperatorForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewOperatorForm")
            .field("username", &self.username)
            .field("password", &"***")
            .field("role", &self.role)
            .finish()
    }
}

/// `POST /operators`.
pub async fn create(
    State(app): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewOperatorForm>,
) -> Result<Response, ApiError> {
    let role = role_field("role", &f.role)?;
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.auth
        .create_operator(
            &actor,
            NewOperator {
                username: f.username,
                password: f.password,
                role,
            },
        )
        .await?;
    Ok(see("/operators"))
}

/// A change to one operator: a new role, or disabled/enabled, based on `version`.
#[derive(Debug, Deserialize)]
pub struct OperatorChange {
    version: Option<i64>,
    role: Option<String>,
    disabled: Option<bool>,
}

/// `POST /operators/{id}`.
pub async fn update(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
    Form(f): Form<OperatorChange>,
) -> Result<Response, ApiError> {
    let role = f
        .role
        .as_deref()
        .map(|r| role_field("role", r))
        .transpose()?;
    let actor = viewer.principal.actor(viewer.request_id.clone());
    app.auth
        .update_operator(
            &actor,
            id,
            OperatorPatch {
                role,
                disabled: f.disabled,
            },
            f.version,
        )
        .await?;
    Ok(see("/operators"))
}

fn tokens_body(viewer: &Viewer, tokens: &[ApiToken], created: Option<(&ApiToken, &str)>) -> Markup {
    let now = chrono::Utc::now();
    html! {
        h1 { "API tokens" }
        @if let Some((t, secret)) = created {
            section.alert.alert-ok #new-secret aria-labelledby="secret-title" {
                h2 #secret-title { "Token " (t.name) " created" }
                p { strong { "Copy the secret now: it is shown only this once." } " Use it as "
                    code { "Authorization: Bearer <secret>" } "." }
                p.field {
                    label for="token-secret" { "Secret of " (t.name) }
                    input #token-secret .mono type="text" readonly value=(secret) autocomplete="off" spellcheck="false";
                }
                p { button type="button" data-copy=(secret) { "Copy the secret" } }
            }
        }
        div.table-wrap {
            @if tokens.is_empty() {
                p.empty { "No API token yet." }
            } @else {
                table #tokens {
                    caption { "API tokens, newest first (their secrets are never shown again)" }
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Status" }
                        th scope="col" { "Expires" } th scope="col" { "Last used" } th scope="col" { "Revoke" }
                    } }
                    tbody {
                        @for t in tokens {
                            tr data-token=(t.name) {
                                th scope="row" { (t.name) }
                                td { (t.role.as_str()) }
                                td {
                                    @if t.revoked_at.is_some() { (status_badge("bad", "revoked")) }
                                    @else if t.is_active(now) { (status_badge("ok", "active")) }
                                    @else { (status_badge("idle", "expired")) }
                                }
                                td { (when(t.expires_at)) }
                                td { @if let Some(u) = t.last_used_at { (when(u)) } @else { "never" } }
                                td {
                                    @if t.revoked_at.is_none() {
                                        form.inline method="post" action={ "/tokens/" (t.id) "/revoke" }
                                            data-confirm={ "Revoke the token " (t.name) "? It stops working at once." }
                                            data-confirm-label="Revoke" {
                                            (csrf::field(viewer))
                                            button.danger type="submit" { "Revoke " span.visually-hidden { (t.name) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section aria-labelledby="new-token" {
            h2 #new-token { "New API token" }
            form #token-form method="post" action="/tokens" {
                (csrf::field(viewer))
                p.field {
                    label for="t-name" { "Name" }
                    input #t-name name="name" type="text" required autocomplete="off"
                        pattern="[a-z0-9][a-z0-9._\\-]{0,63}";
                }
                p.field {
                    label for="t-role" { "Role (not above yours)" }
                    (role_select("t-role", OperatorRole::Auditor))
                }
                p.field {
                    label for="t-days" { "Expires in (days)" }
                    input #t-days name="expires_in_days" type="number" min="1" max="730" value="90";
                }
                p { button.primary type="submit" { "Create token" } }
            }
        }
    }
}

/// `GET /tokens`.
pub async fn tokens(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let tokens = app.auth.list_api_tokens().await?;
    Ok(layout::respond(
        &viewer,
        "API tokens",
        Nav::Operators,
        &PageOptions::default(),
        tokens_body(&viewer, &tokens, None),
    ))
}

/// The new-token form.
#[derive(Debug, Deserialize)]
pub struct NewTokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    expires_in_days: String,
}

/// `POST /tokens`: creates the token and answers with the tokens page showing its secret,
/// once (the answer is not stored; reloading the list never shows it again).
pub async fn create_token(
    State(app): State<AppState>,
    viewer: Viewer,
    Form(f): Form<NewTokenForm>,
) -> Result<Response, ApiError> {
    let role = role_field("role", &f.role)?;
    let expires_in_days = match f.expires_in_days.trim() {
        "" => None,
        d => Some(d.parse::<u32>().map_err(|_| {
            ApiError::new(
                ProblemType::ValidationFailed,
                "expires_in_days: must be a whole number of days",
            )
            .with_field("expires_in_days", "must be a whole number of days")
        })?),
    };
    let created = app
        .auth
        .create_api_token(
            &viewer.principal,
            NewApiToken {
                name: f.name,
                role,
                expires_in_days,
            },
            viewer.request_id.clone(),
        )
        .await?;
    let tokens = app.auth.list_api_tokens().await?;
    let mut res = layout::respond(
        &viewer,
        "API tokens",
        Nav::Operators,
        &PageOptions::default(),
        tokens_body(&viewer, &tokens, Some((&created.token, &created.secret))),
    );
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// `POST /tokens/{id}/revoke`.
pub async fn revoke_token(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    app.auth
        .revoke_api_token(&viewer.principal, id, viewer.request_id.clone())
        .await?;
    Ok(see("/tokens"))
}
