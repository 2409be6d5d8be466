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
use crate::list::{filter_bar, input_field, link_with, non_empty, PAGE_SIZE};
use crate::viewer::Viewer;

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

    /// These filters as query parameters, without the paging position.
    fn pairs(&self) -> [(&'static str, &str); 6] {
        [
            ("actor", self.actor.as_str()),
            ("action", &self.action),
            ("target_type", &self.target_type),
            ("target_id", &self.target_id),
            ("since", &self.since),
            ("until", &self.until),
        ]
    }
}

fn filter_form(f: &Filters) -> Markup {
    filter_bar(
        "/audit",
        "Filter audit events",
        "Filter",
        &html! {
            (input_field("a-actor", "actor", "Actor", "text", &f.actor, Some("operator:admin")))
            (input_field("a-action", "action", "Action", "text", &f.action, Some("user. or user.update")))
            (input_field("a-ttype", "target_type", "Target type", "text", &f.target_type, None))
            (input_field("a-tid", "target_id", "Target id", "text", &f.target_id, None))
            (input_field("a-since", "since", "From (UTC)", "datetime-local", &f.since, None))
            (input_field("a-until", "until", "Until (UTC)", "datetime-local", &f.until, None))
        },
    )
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
        .map(|seq| link_with("/audit", &f.pairs(), "before", &seq.to_string()));
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
