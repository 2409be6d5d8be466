//! `/notifications`: the configured channels and the deliveries log; for operators, a test
//! message to a channel and a check of every channel.
//!
//! Everything goes through the API's own paths (`cc_api::routes::notifications`): the log is
//! read by `list_deliveries` (same filters, same cursors as `GET
//! /api/v1/notifications/deliveries`), a test message is queued and audited by `queue_test`
//! (`POST /api/v1/notifications/test`), and the check is `check_all` (`POST
//! /api/v1/notifications/channels/check`). A channel is shown by its name, kind and
//! subscription only: never its URL, address or secret.
//!
//! Deliveries are sent by `notify.deliver` jobs, which update the log before they finish: the
//! page follows job events, so a test message shows as sent without a reload.

use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use axum::Form;
use cc_api::extract::ApiQuery;
use cc_api::routes::notifications::{
    check_all, list_deliveries, queue_test, ChannelCheck, DeliveryListParams,
};
use cc_api::{ApiError, AppState};
use cc_domain::{DeliveryState, EventKind, NotificationDelivery, Page};
use cc_notify::ChannelSubscription;
use chrono::{DateTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::csrf;
use crate::format::time;
use crate::layout::{self, status_badge, Nav, PageOptions};
use crate::list::{filter_bar, non_empty, pager, parse_enum, see_other, select_with_id, PAGE_SIZE};
use crate::viewer::Viewer;

/// The page.
pub const PATH: &str = "/notifications";
/// The test-message action (as in the permission table).
pub const TEST_ROUTE: &str = "/notifications/test";
/// The channel-check action (as in the permission table).
pub const CHECK_ROUTE: &str = "/notifications/check";

/// The deliveries log's filters, as the filter form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    event: String,
    /// The next page's cursor (the API's).
    #[serde(default)]
    cursor: String,
    /// The delivery a test message just queued (after the test action).
    #[serde(default)]
    sent: Option<i64>,
}

impl Filters {
    fn params(&self) -> Result<DeliveryListParams, ApiError> {
        Ok(DeliveryListParams {
            limit: Some(PAGE_SIZE),
            cursor: non_empty(&self.cursor),
            channel: non_empty(&self.channel),
            outcome: parse_enum::<DeliveryState>("status", &self.status)?,
            event: non_empty(&self.event),
        })
    }

    /// These filters as query parameters, without the paging position.
    fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            ("channel", self.channel.as_str()),
            ("status", &self.status),
            ("event", &self.event),
        ]
    }
}

/// `GET /notifications`.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    ApiQuery(f): ApiQuery<Filters>,
) -> Result<Response, ApiError> {
    render(&app, &viewer, &f, None).await
}

/// The test form's one field.
#[derive(Debug, Deserialize)]
pub struct TestForm {
    channel: String,
}

/// `POST /notifications/test`: queues a test message (as `POST /api/v1/notifications/test`)
/// and shows the page with it.
pub async fn test(
    State(app): State<AppState>,
    viewer: Viewer,
    Form(form): Form<TestForm>,
) -> Result<Response, ApiError> {
    let actor = viewer.principal.actor(viewer.request_id.clone());
    let queued = queue_test(&app, &actor, form.channel.trim()).await?;
    Ok(see_other(&format!("{PATH}?sent={}", queued.delivery_id)))
}

/// `POST /notifications/check`: checks every channel without sending (as `POST
/// /api/v1/notifications/channels/check`) and answers with the page showing the result. The
/// answer does not refresh itself: it is the check at one moment.
pub async fn check(State(app): State<AppState>, viewer: Viewer) -> Result<Response, ApiError> {
    let checks = check_all(&app).await;
    render(&app, &viewer, &Filters::default(), Some(&checks)).await
}

async fn render(
    app: &AppState,
    viewer: &Viewer,
    f: &Filters,
    checks: Option<&[ChannelCheck]>,
) -> Result<Response, ApiError> {
    let page = list_deliveries(app, f.params()?).await?;
    let channels = app.notifier.channel_subscriptions();
    let now = Utc::now();
    let body = html! {
        h1 { "Notifications" }
        @if let Some(id) = f.sent {
            p.alert.alert-ok #test-queued role="status" {
                "Test message queued as delivery " (id)
                ". It is listed below, and shows as sent once a worker has delivered it."
            }
        }
        (channels_section(viewer, &channels, checks, now))
        (deliveries_section(f, &channels, &page, now))
    };
    let live: &'static [&'static str] = if checks.is_some() { &[] } else { &["job"] };
    Ok(layout::respond(
        viewer,
        "Notifications",
        Nav::Notifications,
        &PageOptions {
            live_on: live,
            refresh_every: None,
        },
        body,
    ))
}

fn events(s: &ChannelSubscription) -> Markup {
    html! {
        @match &s.events {
            None => "every event",
            Some(kinds) if kinds.is_empty() => "none",
            Some(kinds) => {
                @for (i, k) in kinds.iter().enumerate() {
                    @if i > 0 { ", " }
                    code { (k.as_str()) }
                }
            }
        }
    }
}

fn channels_section(
    viewer: &Viewer,
    channels: &[ChannelSubscription],
    checks: Option<&[ChannelCheck]>,
    now: DateTime<Utc>,
) -> Markup {
    let may_test = viewer.may(&Method::POST, TEST_ROUTE);
    let may_check = viewer.may(&Method::POST, CHECK_ROUTE);
    html! {
        section #channels aria-labelledby="channels-title" {
            h2 #channels-title { "Channels" }
            @if channels.is_empty() {
                p.empty #no-channels {
                    "No notification channel is configured, so no message is sent. Channels are \
                     set in the server's configuration file (" code { "[[notifications.channels]]" }
                    "): Slack-compatible webhooks, email and signed webhooks. See "
                    code { "docs/notifications.md" } "."
                }
            } @else {
                div.table-wrap {
                    table #channel-list {
                        caption { "Configured channels (their addresses and secrets are not shown)" }
                        thead { tr {
                            th scope="col" { "Name" } th scope="col" { "Kind" }
                            th scope="col" { "Events" } th scope="col" { "Minimum severity" }
                            @if may_test { th scope="col" { "Test" } }
                        } }
                        tbody {
                            @for c in channels {
                                tr data-channel=(c.name) {
                                    th scope="row" { (c.name) }
                                    td { (c.kind) }
                                    td { (events(c)) }
                                    td { (c.min_severity.as_str()) }
                                    @if may_test {
                                        td {
                                            form.inline method="post" action=(TEST_ROUTE) {
                                                (csrf::field(viewer))
                                                input type="hidden" name="channel" value=(c.name);
                                                button type="submit" {
                                                    "Send a test message"
                                                    span.visually-hidden { " to " (c.name) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                @if may_check {
                    form #check-form method="post" action=(CHECK_ROUTE) {
                        (csrf::field(viewer))
                        p {
                            button type="submit" { "Check channels" }
                            " " span.muted { "Checks each channel's settings and connection; sends nothing." }
                        }
                    }
                }
            }
            @if let Some(checks) = checks { (check_results(checks, now)) }
        }
    }
}

fn check_results(checks: &[ChannelCheck], now: DateTime<Utc>) -> Markup {
    html! {
        div.table-wrap {
            table #channel-checks {
                caption { "Channel check at " (time(now, now)) ", nothing sent" }
                thead { tr {
                    th scope="col" { "Channel" } th scope="col" { "Kind" }
                    th scope="col" { "Result" } th scope="col" { "Detail" }
                } }
                tbody {
                    @for c in checks {
                        @let ok = c.status == "ok";
                        tr data-channel=(c.channel) class={ "row-" (if ok { "ok" } else { "bad" }) } {
                            th scope="row" { (c.channel) }
                            td { (c.kind) }
                            td.state {
                                @if ok { (status_badge("ok", "OK")) } @else { (status_badge("bad", "Failed")) }
                            }
                            td { (c.detail) }
                        }
                    }
                }
            }
        }
    }
}

fn delivery_badge(state: DeliveryState) -> Markup {
    let level = match state {
        DeliveryState::Sent | DeliveryState::Digested => "ok",
        DeliveryState::Pending | DeliveryState::Held => "warn",
        DeliveryState::Failed => "bad",
        DeliveryState::Deduplicated => "idle",
    };
    status_badge(level, state.as_str())
}

fn filters(f: &Filters, channels: &[ChannelSubscription]) -> Markup {
    let mut names: Vec<&str> = channels.iter().map(|c| c.name.as_str()).collect();
    // A channel since removed from the configuration still has its deliveries.
    if !f.channel.is_empty() && !names.contains(&f.channel.as_str()) {
        names.push(&f.channel);
    }
    filter_bar(
        PATH,
        "Filter deliveries",
        "Filter",
        &html! {
            (select_with_id("f-channel", "channel", "Channel", &f.channel, &names, true))
            (select_with_id("f-status", "status", "Status", &f.status,
                &DeliveryState::ALL.map(DeliveryState::as_str), true))
            (select_with_id("f-event", "event", "Event", &f.event,
                &EventKind::ALL.map(EventKind::as_str), true))
        },
    )
}

fn delivery_row(d: &NotificationDelivery, now: DateTime<Utc>) -> Markup {
    html! {
        tr data-delivery-id=(d.id) {
            th scope="row" { (d.id) }
            td { (time(d.created_at, now)) }
            td { (d.channel) }
            td { code { (d.event) } }
            td { (d.subject) br; span.muted { (d.title) } }
            td.state { (delivery_badge(d.state)) }
            td.num { (d.attempts) }
            td { (d.error.as_deref().unwrap_or("")) }
            td {
                @if let Some(j) = d.job_id { a href={ "/jobs/" (j) } { "job " (j) } }
            }
        }
    }
}

fn deliveries_section(
    f: &Filters,
    channels: &[ChannelSubscription],
    page: &Page<NotificationDelivery>,
    now: DateTime<Utc>,
) -> Markup {
    html! {
        section #deliveries aria-labelledby="deliveries-title" {
            h2 #deliveries-title { "Deliveries" }
            (filters(f, channels))
            div #delivery-list data-refresh-target {
                @if page.items.is_empty() {
                    p.empty { "No deliveries match these filters." }
                } @else {
                    div.table-wrap {
                        table {
                            caption { "Each event for each channel and what became of it, newest first" }
                            thead { tr {
                                th scope="col" { "Id" } th scope="col" { "Time" }
                                th scope="col" { "Channel" } th scope="col" { "Event" }
                                th scope="col" { "Subject" } th scope="col" { "Status" }
                                th.num scope="col" { "Attempts" } th scope="col" { "Last error" }
                                th scope="col" { "Job" }
                            } }
                            tbody { @for d in &page.items { (delivery_row(d, now)) } }
                        }
                    }
                }
                (pager(PATH, &f.pairs(), &f.cursor, page.next_cursor.as_ref()))
            }
        }
    }
}
