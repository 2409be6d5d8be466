//! `/api/v1/events` against hostile or outlived clients: streams end when their credentials
//! die and at shutdown, and each principal and address may hold only so many.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_client::{Client, JobEventStream};
use cc_domain::{NewApiToken, NewJob, OperatorPatch, OperatorRole};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};
use serde_json::json;

/// Generous: a stream must end within a few re-checks, not at once.
const ENDS_WITHIN: Duration = Duration::from_secs(15);

fn config(recheck: Duration) -> cc_api::ApiConfig {
    let mut c = cc_tests::test_config();
    c.limits.stream_recheck = recheck;
    c
}

/// Reads the stream until the server closes it; fails if it is still open at the deadline.
async fn ends(stream: &mut JobEventStream, what: &str) {
    let closed = tokio::time::timeout(ENDS_WITHIN, async {
        while stream.next().await.ok().flatten().is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "the stream outlived {what}");
}

async fn enqueue(app: &TestApp, kind: &str) -> i64 {
    cc_queue::ops::enqueue(app.store.as_ref(), &NewJob::new(kind, json!({})))
        .await
        .unwrap()
        .id
}

async fn streams_end_when_credentials_die(backend: Backend) {
    let app = TestApp::spawn_with(backend, config(Duration::from_millis(200)), None).await;

    // A revoked API token.
    let created = app
        .client
        .create_token(&NewApiToken {
            name: "feed".into(),
            role: OperatorRole::Auditor,
            expires_in_days: None,
        })
        .await
        .unwrap();
    let feed = app.anonymous().with_token(created.secret.clone());
    let mut stream = feed.job_events(None).await.unwrap();
    let job = enqueue(&app, "demo.before").await;
    let seen = tokio::time::timeout(ENDS_WITHIN, stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(seen.job_id, job, "the stream works before the revocation");
    app.client.revoke_token(created.token.id).await.unwrap();
    ends(&mut stream, "its revoked API token").await;

    // A session that logged out.
    let (auditor, _, _) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut stream = auditor.job_events(None).await.unwrap();
    auditor.logout().await.unwrap();
    ends(&mut stream, "a logout").await;

    // A disabled operator.
    let (viewer, name, _) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut stream = viewer.job_events(None).await.unwrap();
    let op = app
        .client
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.username == name)
        .unwrap();
    app.client
        .update_operator(
            op.id,
            &OperatorPatch {
                role: None,
                disabled: Some(true),
            },
            None,
        )
        .await
        .unwrap();
    ends(&mut stream, "its disabled operator").await;
    app.stop().await;
}

async fn streams_end_at_the_access_tokens_expiry(backend: Backend) {
    // Re-checks are far apart: only the expiry can end the stream in time.
    let mut c = config(Duration::from_secs(3600));
    c.auth.access_token_ttl_secs = 2;
    let app = TestApp::spawn_with(backend, c, None).await;
    let (auditor, _, _) = app.operator_with_role(OperatorRole::Auditor).await;
    let mut stream = auditor.job_events(None).await.unwrap();
    ends(&mut stream, "its access token").await;
    app.stop().await;
}

async fn streams_are_capped_per_principal_and_per_address(backend: Backend) {
    let mut c = config(Duration::from_millis(200));
    c.limits.streams_per_principal = 2;
    c.limits.streams_per_address = 3;
    let app = TestApp::spawn_with(backend, c, None).await;
    let a = app
        .anonymous()
        .with_token(app.api_token(OperatorRole::Auditor).await);
    let b_token = app
        .client
        .create_token(&NewApiToken {
            name: "b".into(),
            role: OperatorRole::Auditor,
            expires_in_days: None,
        })
        .await
        .unwrap();
    let b = app.anonymous().with_token(b_token.secret.clone());
    let _a1 = a.job_events(None).await.unwrap();
    let _a2 = a.job_events(None).await.unwrap();
    refused(&a, "operator or token").await;
    let _b1 = b.job_events(None).await.unwrap();
    refused(&b, "address").await;

    // Every open stream got the same events, from one poller.
    let mut all = [_a1, _a2, _b1];
    let job = enqueue(&app, "demo.fanout").await;
    for s in &mut all {
        let e = tokio::time::timeout(ENDS_WITHIN, s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(e.job_id, job);
    }

    // A stream that ends gives its place back.
    let (session, _, _) = app.operator_with_role(OperatorRole::Auditor).await;
    refused(&session, "address").await;
    let [_a1, _a2, mut b1] = all;
    app.client.revoke_token(b_token.token.id).await.unwrap();
    ends(&mut b1, "its revoked API token").await;
    wait_for("a freed stream place", ENDS_WITHIN, || async {
        session.job_events(None).await.ok()
    })
    .await;
    app.stop().await;
}

async fn refused(client: &Client, by: &str) {
    let e = client.job_events(None).await.err().unwrap();
    let p = e.problem().unwrap_or_else(|| panic!("problem+json: {e}"));
    assert_eq!(
        (p.status, p.code.as_str()),
        (429, "too_many_streams"),
        "{by}"
    );
    assert!(p.detail.contains(by), "{p:?}");
}

async fn shutdown_ends_open_streams_at_once(backend: Backend) {
    let mut c = config(Duration::from_secs(3600));
    c.shutdown_grace = Duration::from_secs(3600);
    let app = TestApp::spawn_with(backend, c, None).await;
    let mut stream = app.client.job_events(None).await.unwrap();
    let stopped = tokio::time::timeout(ENDS_WITHIN, app.stop()).await;
    assert!(stopped.is_ok(), "an open stream held shutdown");
    ends(&mut stream, "the server").await;
}

/// An import refused by its guard is a notice on the stream (`event: import`), in sequence
/// with job events; the typed client, which reads job events, passes over it.
async fn import_outcomes_are_notices_on_the_stream(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.api_token(OperatorRole::Auditor).await;
    let mut raw = reqwest::Client::new()
        .get(format!("{}/api/v1/events", app.base_url))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert!(raw.status().is_success());
    let mut jobs = app
        .anonymous()
        .with_token(token.clone())
        .job_events(None)
        .await
        .unwrap();
    let truncated = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../roster/tests/fixtures/csv/truncated-line.csv"),
    )
    .unwrap();
    let (_, run) = app
        .client
        .upload_import("truncated-line.csv", truncated, &[("dry_run", "false")])
        .await
        .unwrap();
    let job = enqueue(&app, "system.noop").await;

    let mut text = String::new();
    // The run's outcome; progress notices (a slow read may send one) are passed over.
    let block = tokio::time::timeout(Duration::from_secs(10), async {
        let mut from = 0;
        loop {
            if let Some(at) = text[from..].find("event: import").map(|i| from + i) {
                if let Some(end) = text[at..].find("\n\n") {
                    let block = text[at..at + end].to_owned();
                    if !block.contains("\"state\":\"progress\"") {
                        return block;
                    }
                    from = at + end;
                    continue;
                }
            }
            let chunk = raw.chunk().await.unwrap().expect("the stream stays open");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the import's notice within 10 s");
    let data = block
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data");
    let notice: cc_domain::Notice = serde_json::from_str(data).unwrap();
    assert_eq!(notice.topic, cc_domain::NoticeTopic::Import);
    assert_eq!(notice.subject, run.id.to_string());
    assert_eq!(notice.state, "refused");
    assert!(
        notice
            .note
            .as_deref()
            .unwrap_or_default()
            .starts_with("truncated-line.csv: "),
        "{notice:?}"
    );
    assert!(block.contains(&format!("id: {}", notice.seq)), "{block}");

    let next = tokio::time::timeout(Duration::from_secs(10), jobs.next())
        .await
        .expect("a job event within 10 s")
        .unwrap()
        .expect("the stream stays open");
    assert_eq!(next.job_id, job, "the notice before it is passed over");
    assert!(next.seq > notice.seq);
    app.stop().await;
}

backend_tests!(
    streams_end_when_credentials_die,
    streams_end_at_the_access_tokens_expiry,
    streams_are_capped_per_principal_and_per_address,
    shutdown_ends_open_streams_at_once,
    import_outcomes_are_notices_on_the_stream,
);
