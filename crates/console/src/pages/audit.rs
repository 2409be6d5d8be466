//! `/audit`: the audit trail with filters, and `/audit/verify`: the hash chain checked from
//! the page.
//!
//! Verification is the service's single-flight verifier (`AppState::audit_verifier`, the one
//! `GET /api/v1/audit/verify` uses, under the same limit on expensive reads): many operators
//! pressing the button at once share one pass over the chain.

use axum::extract::{Query, State};
use axum::response::Response;
use cc_api::error::ProblemType;
use cc_api::{ApiError, AppState};
use cc_domain::AuditQuery;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::viewer::Viewer;

const PAGE_SIZE: u32 = 50;

/// The filters, as the filter form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target_type: String,
    #[serde(default)]
    target_id: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` field, read as UTC) or RFC 3339.
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    /// Show events older than this sequence number (the next page).
    #[serde(default)]
    before: Option<i64>,
}

fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

/// A time from the form: RFC 3339, a `datetime-local` value (UTC), or a date (midnight UTC).
fn parse_time(field: &str, s: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(s) = non_empty(s) else {
        return Ok(None);
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(&s) {
        return Ok(Some(t.with_timezone(&Utc)));
    }
    for f in ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(&s, f) {
            return Ok(Some(t.and_utc()));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).map(|t| t.and_utc()));
    }
    let message = "is not a time (YYYY-MM-DDTHH:MM, UTC)";
    Err(
        ApiError::new(ProblemType::InvalidQuery, format!("{field}: {message}"))
            .with_field(field, message),
    )
}

impl Filters {
    fn query(&self) -> Result<AuditQuery, ApiError> {
        Ok(AuditQuery {
            actor: non_empty(&self.actor),
            action: non_empty(&self.action),
            target_type: non_empty(&self.target_type),
            target_id: non_empty(&self.target_id),
            request_id: None,
            since: parse_time("since", &self.since)?,
            until: parse_time("until", &self.until)?,
            limit: PAGE_SIZE + 1,
            before_seq: self.before,
        })
    }

    fn query_string(&self) -> String {
        let pairs: Vec<(&str, String)> = [
            ("actor", non_empty(&self.actor)),
            ("action", non_empty(&self.action)),
            ("target_type", non_empty(&self.target_type)),
            ("target_id", non_empty(&self.target_id)),
            ("since", non_empty(&self.since)),
            ("until", non_empty(&self.until)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

fn filter_form(f: &Filters) -> Markup {
    html! {
        form.filters method="get" action="/audit" role="search" aria-label="Filter audit events" {
            p.field {
                label for="a-actor" { "Actor" }
                input #a-actor name="actor" type="text" value=(f.actor) placeholder="operator:admin";
            }
            p.field {
                label for="a-action" { "Action" }
                input #a-action name="action" type="text" value=(f.action) placeholder="user. or user.update";
            }
            p.field {
                label for="a-ttype" { "Target type" }
                input #a-ttype name="target_type" type="text" value=(f.target_type);
            }
            p.field {
                label for="a-tid" { "Target id" }
                input #a-tid name="target_id" type="text" value=(f.target_id);
            }
            p.field {
                label for="a-since" { "From (UTC)" }
                input #a-since name="since" type="datetime-local" value=(f.since);
            }
            p.field {
                label for="a-until" { "Until (UTC)" }
                input #a-until name="until" type="datetime-local" value=(f.until);
            }
            p.field { button type="submit" { "Filter" } }
        }
    }
}

fn verify_form() -> Markup {
    html! {
        form.inline method="get" action="/audit/verify" {
            button type="submit" { "Verify the hash chain" }
        }
    }
}

/// `GET /audit`.
pub async fn list(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(f): Query<Filters>,
) -> Result<Response, ApiError> {
    let q = f.query()?;
    let mut items = app.store.list_audit(&q).await?;
    let more = items.len() > PAGE_SIZE as usize;
    items.truncate(PAGE_SIZE as usize);
    let next = more
        .then(|| items.last().map(|e| e.seq))
        .flatten()
        .map(|seq| {
            let filters = f.query_string();
            let sep = if filters.is_empty() { "" } else { "&" };
            format!("/audit?{filters}{sep}before={seq}")
        });
    let body = html! {
        h1 { "Audit" }
        (verify_form())
        (filter_form(&f))
        div.table-wrap {
            @if items.is_empty() {
                p.empty { "No audit events match these filters." }
            } @else {
                table.audit {
                    caption { "Audit events, newest first" }
                    thead { tr {
                        th scope="col" { "Seq" } th scope="col" { "When" } th scope="col" { "Actor" }
                        th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Request id" }
                    } }
                    tbody {
                        @for e in &items {
                            tr {
                                th scope="row" { (e.seq) }
                                td { time datetime=(e.occurred_at.to_rfc3339()) { (e.occurred_at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                                td { (e.actor) }
                                td { code { (e.action) } }
                                td { (e.target_type) @if let Some(id) = &e.target_id { " " code { (id) } } }
                                td { @if let Some(r) = &e.request_id { code { (r) } } }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(n) = &next {
            p { a href=(n) { "Older events" } }
        }
    };
    Ok(layout::respond(
        &viewer,
        "Audit",
        Nav::Audit,
        &PageOptions::default(),
        body,
    ))
}

/// `GET /audit/verify`: verifies the chain (shared with concurrent callers) and shows the
/// result.
pub async fn verify(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let _slot = cc_api::limits::expensive(&app, &viewer.principal)?;
    let r = app.audit_verifier.verify().await?;
    let now = Utc::now();
    let body = html! {
        p.crumbs { a href="/audit" { "Audit" } " › verify" }
        h1 { "Audit chain verification" }
        section #verify-result aria-labelledby="verify-title" {
            h2 #verify-title { "Result" }
            @match &r.first_break {
                None => p.summary {
                    (status_badge("ok", "Intact"))
                    " All " (r.checked) " events match their hashes and link to their predecessors (head " (r.head_seq) ")."
                },
                Some(b) => {
                    p.summary {
                        (status_badge("bad", "Broken"))
                        " The chain breaks at event " (b.seq) " (" (b.kind) "); " (r.checked) " events checked."
                    }
                    p.alert.alert-bad role="alert" { (b.detail) }
                }
            }
            p.muted { "Verified at " time datetime=(now.to_rfc3339()) { (now.format("%H:%M:%S UTC")) } "." }
        }
        (verify_form())
    };
    Ok(layout::respond(
        &viewer,
        "Audit verification",
        Nav::Audit,
        &PageOptions::default(),
        body,
    ))
}
