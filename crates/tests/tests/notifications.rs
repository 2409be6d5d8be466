//! Notifications end to end: events enqueued in a transaction, dispatched and delivered by a
//! real worker to a real HTTP receiver (Slack-compatible and signed webhooks) and a real SMTP
//! server (aiosmtpd, with STARTTLS and authentication); dedupe, digests, retries and
//! permanent failures recorded in the deliveries log.

#[allow(dead_code)]
#[path = "cloudflare/fake.rs"]
mod fake;
#[path = "cloudflare/schema.rs"]
mod schema;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use cc_domain::{DeliveryState, EventKind, JobState, NotificationDelivery, NotificationEvent};
use cc_notify::{NotificationsConfig, Notifier};
use cc_queue::Registry;
use cc_store::{DeliveryQuery, Store};
use cc_tests::queue::{fast_config, RunningWorker};
use cc_tests::{backend_tests, wait_for, Backend, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(30);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A scripted answer: a status and, optionally, a `Retry-After` value.
type Answer = (u16, Option<&'static str>);

/// A local HTTP receiver answering each request with the next scripted status (then 200).
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<Vec<Answer>>>,
}

impl Receiver {
    async fn start(script: Vec<Answer>) -> (Self, String) {
        let r = Receiver {
            got: Arc::default(),
            script: Arc::new(Mutex::new(script)),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn bodies(&self) -> Vec<serde_json::Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    r.got.lock().unwrap().push(Received {
        headers,
        body: body.to_vec(),
    });
    let next = {
        let mut s = r.script.lock().unwrap();
        if s.is_empty() {
            None
        } else {
            Some(s.remove(0))
        }
    };
    let (status, retry_after) = next.unwrap_or((200, None));
    let mut h = HeaderMap::new();
    if let Some(v) = retry_after {
        h.insert("retry-after", v.parse().unwrap());
    }
    (StatusCode::from_u16(status).unwrap(), h, "ok")
}

fn config(toml_text: &str) -> NotificationsConfig {
    toml::from_str(toml_text).unwrap()
}

/// Emits an event the way subsystems do: its dispatch job in a write transaction.
async fn emit(store: &Arc<dyn Store>, event: &NotificationEvent) {
    let mut tx = store.begin().await.unwrap();
    tx.enqueue(&event.dispatch_job()).await.unwrap();
    tx.commit().await.unwrap();
}

fn discarded(job: i64) -> NotificationEvent {
    NotificationEvent::new(
        EventKind::JobDiscarded,
        format!("job {job}"),
        format!("Job {job} (lifecycle.provision) was discarded"),
    )
    .with_error("the target refused: 403")
    .with_link(format!("/jobs/{job}"))
}

async fn deliveries(store: &Arc<dyn Store>) -> Vec<NotificationDelivery> {
    store
        .notifications()
        .list_deliveries(&DeliveryQuery {
            limit: 100,
            ..DeliveryQuery::default()
        })
        .await
        .unwrap()
}

async fn wait_deliveries(
    store: &Arc<dyn Store>,
    what: &str,
    check: impl Fn(&[NotificationDelivery]) -> bool,
) -> Vec<NotificationDelivery> {
    wait_for(what, WAIT, || {
        let store = store.clone();
        let check = &check;
        async move {
            let d = deliveries(&store).await;
            check(&d).then_some(d)
        }
    })
    .await
}

struct Running {
    worker: RunningWorker,
}

fn start(store: &Arc<dyn Store>, notifier: &Notifier) -> Running {
    let mut registry = Registry::new();
    notifier.register(&mut registry);
    Running {
        worker: RunningWorker::start(store.clone(), registry, fast_config(&[("default", 4)])),
    }
}

async fn slack_escaped_and_webhook_signed(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (slack, slack_url) = Receiver::start(vec![]).await;
    let (hook, hook_url) = Receiver::start(vec![]).await;
    let notifier = Notifier::new(
        store.clone(),
        &config(&format!(
            r#"
            [[channels]]
            name = "it-slack"
            kind = "slack"
            url = "{slack_url}"
            min_severity = "warning"

            [[channels]]
            name = "helpdesk"
            kind = "webhook"
            url = "{hook_url}"
            secret = "hook-secret"
            events = ["operator.locked_out"]
            "#
        )),
        Some("https://cc.example.org/".into()),
    )
    .unwrap();
    let running = start(&store, &notifier);
    emit(
        &store,
        &NotificationEvent::new(
            EventKind::OperatorLockedOut,
            "operator eve",
            "Operator <!channel> <@U024BE7LH> & co was locked out",
        )
        .with_link("/operators"),
    )
    .await;
    // Below the Slack channel's minimum severity and not the webhook's kind: not sent.
    emit(
        &store,
        &NotificationEvent::new(EventKind::ImportApplied, "import 1", "Import applied"),
    )
    .await;
    wait_deliveries(&store, "both deliveries sent", |d| {
        d.iter().filter(|d| d.state == DeliveryState::Sent).count() == 2
    })
    .await;

    let text = slack.bodies()[0]["text"].as_str().unwrap().to_owned();
    assert!(!text.contains("<!channel>"), "{text}");
    assert!(!text.contains("<@U024BE7LH>"), "{text}");
    assert!(
        text.contains("&lt;!channel&gt; &lt;@U024BE7LH&gt; &amp; co"),
        "{text}"
    );
    assert!(
        text.contains("<https://cc.example.org/operators|Open in Command Center>"),
        "{text}"
    );

    let got = hook.got.lock().unwrap()[0].clone();
    let ts = got.headers["x-cc-timestamp"].to_str().unwrap();
    let sig = got.headers["x-cc-signature"].to_str().unwrap();
    cc_connectors::webhook::signature::verify(
        b"hook-secret",
        ts,
        sig,
        &got.body,
        chrono::Utc::now().timestamp(),
        300,
    )
    .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(body["event"], "operator.locked_out");
    assert_eq!(body["link"], "https://cc.example.org/operators");
    assert_eq!(slack.count(), 1);
    assert_eq!(hook.count(), 1);
    running.worker.stop().await;
}

async fn retries_then_succeeds(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (rx, url) = Receiver::start(vec![(503, Some("1")), (429, Some("1"))]).await;
    let notifier = Notifier::new(
        store.clone(),
        &config(&format!(
            "[[channels]]\nname = \"ops\"\nkind = \"slack\"\nurl = \"{url}\"\n"
        )),
        None,
    )
    .unwrap();
    let running = start(&store, &notifier);
    emit(&store, &discarded(7)).await;
    let d = wait_deliveries(&store, "the delivery to succeed", |d| {
        d.iter().any(|d| d.state == DeliveryState::Sent)
    })
    .await;
    assert_eq!(d[0].attempts, 3);
    assert_eq!(rx.count(), 3);
    assert!(d[0].sent_at.is_some());
    running.worker.stop().await;
}

async fn permanent_failure_is_recorded_and_not_retried(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (rx, url) = Receiver::start(vec![(404, None), (404, None)]).await;
    let notifier = Notifier::new(
        store.clone(),
        &config(&format!(
            "[[channels]]\nname = \"gone\"\nkind = \"webhook\"\nurl = \"{url}\"\n"
        )),
        None,
    )
    .unwrap();
    let running = start(&store, &notifier);
    emit(&store, &discarded(8)).await;
    let d = wait_deliveries(&store, "the delivery to fail", |d| {
        d.iter().any(|d| d.state == DeliveryState::Failed)
    })
    .await;
    let job_id = d[0].job_id.unwrap();
    wait_for("the delivery job to be discarded", WAIT, || {
        let store = store.clone();
        async move {
            store
                .get_job(job_id)
                .await
                .unwrap()
                .filter(|j| j.state == JobState::Discarded)
        }
    })
    .await;
    assert_eq!(d[0].attempts, 1);
    assert!(
        d[0].error.as_deref().unwrap().contains("404"),
        "{:?}",
        d[0].error
    );
    assert_eq!(rx.count(), 1);
    running.worker.stop().await;
}

async fn dedupes_and_digests(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (rx, url) = Receiver::start(vec![]).await;
    let notifier = Notifier::new(
        store.clone(),
        &config(&format!(
            "dedupe_window_secs = 3600\ndigest_window_secs = 2\ndigest_threshold = 2\n\
             [[channels]]\nname = \"ops\"\nkind = \"webhook\"\nurl = \"{url}\"\n"
        )),
        None,
    )
    .unwrap();
    let running = start(&store, &notifier);
    // The same job twice: one message.
    emit(&store, &discarded(1)).await;
    emit(&store, &discarded(1)).await;
    wait_deliveries(&store, "one sent, one deduplicated", |d| {
        d.iter().filter(|d| d.state == DeliveryState::Sent).count() == 1
            && d.iter().any(|d| d.state == DeliveryState::Deduplicated)
    })
    .await;
    // A second job reaches the threshold; the next twelve are held for one digest.
    emit(&store, &discarded(2)).await;
    wait_deliveries(&store, "two sent", |d| {
        d.iter().filter(|d| d.state == DeliveryState::Sent).count() == 2
    })
    .await;
    for job in 10..22 {
        emit(&store, &discarded(job)).await;
    }
    wait_deliveries(&store, "the digest sent", |d| {
        d.iter()
            .filter(|d| d.state == DeliveryState::Digested)
            .count()
            == 12
            && d.iter().filter(|d| d.state == DeliveryState::Sent).count() == 3
    })
    .await;
    let bodies = rx.bodies();
    assert_eq!(bodies.len(), 3);
    assert_eq!(
        bodies[2]["title"],
        "12 jobs discarded in the last 2 seconds"
    );
    assert_eq!(bodies[2]["count"], 12);
    running.worker.stop().await;
}

/// aiosmtpd with STARTTLS required and AUTH (user `alerts`, password `s3cret`) required,
/// writing each message it accepts into `dir`.
const SMTP_SERVER: &str = r#"
import sys, ssl, time, pathlib
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], pathlib.Path(sys.argv[4])
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
class Save:
    async def handle_DATA(self, server, session, envelope):
        n = len(list(out.iterdir()))
        head = f"X-Test-Authenticated: {session.authenticated}\r\nX-Test-Rcpt: {','.join(envelope.rcpt_tos)}\r\n"
        (out / f"{n}.tmp").write_bytes(head.encode() + envelope.content)
        (out / f"{n}.tmp").rename(out / f"{n}.eml")
        return "250 OK"
def auth(server, session, envelope, mechanism, data):
    return AuthResult(success=data.login == b"alerts" and data.password == b"s3cret")
c = Controller(Save(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
               authenticator=auth, auth_required=True, auth_require_tls=True)
c.start()
while True:
    time.sleep(3600)
"#;

fn aiosmtpd_python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/venv-aiosmtpd/bin/python");
    assert!(
        p.exists(),
        "aiosmtpd is required for the email tests: scripts/test.sh installs it into target/venv-aiosmtpd"
    );
    p
}

/// aiosmtpd on a free loopback port with its certificate, the password file and the folder
/// it writes messages into (`mail`), all in the returned directory.
async fn start_smtp() -> (tokio::process::Child, tempfile::TempDir, u16) {
    let dir = tempfile::tempdir().unwrap();
    cc_tests::ldap::make_cert(dir.path());
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    std::fs::write(dir.path().join("password"), "s3cret\n").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = tokio::process::Command::new(aiosmtpd_python())
        .arg("-c")
        .arg(SMTP_SERVER)
        .arg(port.to_string())
        .arg(dir.path().join("server.crt"))
        .arg(dir.path().join("server.key"))
        .arg(&mail)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_for("the SMTP server to listen", WAIT, || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    (server, dir, port)
}

/// The email channel on [`start_smtp`]'s server.
fn smtp_channel(dir: &std::path::Path, port: u16) -> String {
    format!(
        r#"
        [[channels]]
        name = "it-mail"
        kind = "email"
        host = "localhost"
        port = {port}
        security = "starttls"
        username = "alerts"
        password_file = "{}"
        ca_file = "{}"
        from = "Command Center <cc@example.org>"
        to = ["it@example.org", "oncall@example.org"]
        "#,
        dir.join("password").display(),
        dir.join("server.crt").display(),
    )
}

async fn email_over_starttls_with_auth(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let (mut server, dir, port) = start_smtp().await;
    let mail = dir.path().join("mail");
    let notifier = Notifier::new(
        store.clone(),
        &config(&smtp_channel(dir.path(), port)),
        Some("https://cc.example.org".into()),
    )
    .unwrap();
    let running = start(&store, &notifier);
    emit(&store, &discarded(42)).await;
    let file = mail.join("0.eml");
    let text = wait_for("the message to arrive", WAIT, || {
        let file = file.clone();
        async move { std::fs::read_to_string(file).ok() }
    })
    .await;
    assert!(text.contains("X-Test-Authenticated: True"), "{text}");
    assert!(
        text.contains("X-Test-Rcpt: it@example.org,oncall@example.org"),
        "{text}"
    );
    assert!(
        text.contains("Subject: [Command Center] Job 42 (lifecycle.provision) was discarded"),
        "{text}"
    );
    assert!(text.contains("Error: the target refused: 403"), "{text}");
    assert!(text.contains("https://cc.example.org/jobs/42"), "{text}");
    assert!(!text.contains("s3cret"));
    wait_deliveries(&store, "the delivery recorded as sent", |d| {
        d.iter()
            .any(|d| d.state == DeliveryState::Sent && d.channel == "it-mail")
    })
    .await;
    running.worker.stop().await;
    server.kill().await.ok();
}

// ---------------------------------------------------------------------------------------------
// Wired into the product: the API, the event feed, the subsystems and the CLI.

/// A job kind that always fails for good (a target refusing).
struct Refused;

#[async_trait::async_trait]
impl cc_queue::JobHandler for Refused {
    type Args = serde_json::Value;
    type Output = ();

    fn kind(&self) -> &str {
        "test.refused"
    }

    async fn run(
        &self,
        _ctx: cc_queue::JobContext,
        _args: serde_json::Value,
    ) -> Result<(), cc_queue::JobError> {
        Err(cc_queue::JobError::Permanent(
            "the target refused: 403".into(),
        ))
    }
}

/// The API with `channels` configured, a worker running the notification kinds (and
/// `test.refused`), and two notification feeds reading the event log at once (as two worker
/// processes do).
struct Wired {
    app: TestApp,
    worker: RunningWorker,
    feeds: tokio_util::sync::CancellationToken,
    /// The worker's notifier (what `serve` and `worker` build from the configuration).
    notifier: Notifier,
}

async fn wired(backend: Backend, channels: &str) -> Wired {
    wired_with(backend, cc_tests::test_config(), channels, |_, _, _| {}).await
}

/// [`wired`] with API settings of its own, and `extra` adding kinds to the worker's registry
/// the way `serve` and `worker` do (given the worker's notifier).
async fn wired_with(
    backend: Backend,
    api: cc_api::ApiConfig,
    channels: &str,
    extra: impl FnOnce(&Notifier, &Arc<dyn Store>, &mut Registry),
) -> Wired {
    let cfg = config(&format!(
        "public_url = \"https://cc.example.org\"\n{channels}"
    ));
    let for_api = cfg.clone();
    let app = TestApp::spawn_customized(backend, api, None, move |s| {
        let n = Notifier::new(s.store.clone(), &for_api, None).unwrap();
        s.with_notifier(n)
    })
    .await;
    let notifier = Notifier::new(app.store.clone(), &cfg, None).unwrap();
    let mut registry = Registry::with_builtins();
    notifier.register(&mut registry);
    registry.register(Refused);
    extra(&notifier, &app.store, &mut registry);
    let worker = RunningWorker::start(app.store.clone(), registry, fast_config(&[("default", 4)]));
    let feeds = tokio_util::sync::CancellationToken::new();
    for _ in 0..2 {
        let (n, stop) = (notifier.clone(), feeds.clone());
        tokio::spawn(async move { n.run_feed(Duration::from_millis(50), stop).await });
    }
    Wired {
        app,
        worker,
        feeds,
        notifier,
    }
}

impl Wired {
    async fn stop(self) {
        self.feeds.cancel();
        self.worker.stop().await;
        self.app.stop().await;
    }

    async fn get(&self, role: cc_domain::OperatorRole, path_and_query: &str) -> reqwest::Response {
        let token = self.app.api_token(role).await;
        reqwest::Client::new()
            .get(format!("{}/api/v1{path_and_query}", self.app.base_url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn post(
        &self,
        role: cc_domain::OperatorRole,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let token = self.app.api_token(role).await;
        let mut rb = reqwest::Client::new()
            .post(format!("{}/api/v1{path}", self.app.base_url))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb.send().await.unwrap()
    }
}

fn truncated_roster() -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../roster/tests/fixtures/csv/truncated-line.csv"),
    )
    .unwrap()
}

/// A job discarded by its worker and a roster import refused by its guard reach a webhook on
/// loopback through the event feed, once each although two feeds read at once; the
/// deliveries endpoint lists them, filtered and paged.
async fn discarded_jobs_and_refused_imports_reach_a_webhook(backend: Backend) {
    use cc_domain::OperatorRole::{Auditor, Operator};
    let (hook, url) = Receiver::start(vec![]).await;
    let w = wired(
        backend,
        &format!(
            "[[channels]]\nname = \"helpdesk\"\nkind = \"webhook\"\nurl = \"{url}\"\n\
             events = [\"job.discarded\", \"import.refused\"]\n"
        ),
    )
    .await;
    let mut job = cc_domain::NewJob::new("test.refused", serde_json::json!({}));
    job.max_attempts = 1;
    let job = cc_queue::ops::enqueue(w.app.store.as_ref(), &job)
        .await
        .unwrap();
    let (_, run) = w
        .app
        .client
        .upload_import(
            "truncated-line.csv",
            truncated_roster(),
            &[("dry_run", "false")],
        )
        .await
        .unwrap();
    assert_eq!(run.status, cc_domain::ImportStatus::Refused);

    let bodies = wait_for("both events at the webhook", WAIT, || {
        let hook = hook.clone();
        async move {
            let b = hook.bodies();
            (b.iter().any(|b| b["event"] == "job.discarded")
                && b.iter().any(|b| b["event"] == "import.refused"))
            .then_some(b)
        }
    })
    .await;
    let discarded = bodies
        .iter()
        .find(|b| b["event"] == "job.discarded")
        .unwrap();
    assert_eq!(discarded["subject"], format!("job {}", job.id));
    assert_eq!(discarded["error"], "the target refused: 403");
    assert_eq!(
        discarded["link"],
        format!("https://cc.example.org/jobs/{}", job.id)
    );
    assert!(
        discarded["title"]
            .as_str()
            .unwrap()
            .contains("test.refused"),
        "{discarded}"
    );
    let refused = bodies
        .iter()
        .find(|b| b["event"] == "import.refused")
        .unwrap();
    assert_eq!(refused["subject"], format!("import {}", run.id));
    assert_eq!(
        refused["link"],
        format!("https://cc.example.org/imports/{}", run.id)
    );
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("truncated-line.csv: "),
        "{refused}"
    );

    // Listed for an auditor once sent; filtered by event, channel and outcome; paged.
    let sent = wait_for("both deliveries recorded as sent", WAIT, || {
        let w = &w;
        async move {
            let page: serde_json::Value = w
                .get(
                    Auditor,
                    "/notifications/deliveries?channel=helpdesk&outcome=sent",
                )
                .await
                .json()
                .await
                .unwrap();
            (page["items"].as_array().unwrap().len() == 2).then_some(page)
        }
    })
    .await;
    assert!(sent["next_cursor"].is_null());
    let only: serde_json::Value = w
        .get(Auditor, "/notifications/deliveries?event=import.refused")
        .await
        .json()
        .await
        .unwrap();
    let items = only["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{only}");
    assert_eq!(items[0]["subject"], format!("import {}", run.id));
    assert_eq!(items[0]["state"], "sent");
    let first: serde_json::Value = w
        .get(Auditor, "/notifications/deliveries?limit=1")
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next_cursor"].as_str().expect("a second page");
    let second: serde_json::Value = w
        .get(
            Auditor,
            &format!("/notifications/deliveries?limit=1&cursor={cursor}"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert!(second["next_cursor"].is_null(), "{second}");
    for bad in ["outcome=lost", "event=job.lost", "cursor=nope", "limit=0"] {
        let r = w
            .get(Operator, &format!("/notifications/deliveries?{bad}"))
            .await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{bad}"
        );
    }
    // Once each, although two feeds read the log at once.
    assert_eq!(hook.count(), 2, "{:?}", hook.bodies());
    w.stop().await;
}

/// `POST /notifications/test` queues a message that a worker delivers to a real SMTP server
/// (STARTTLS, login); an unknown channel is a 404 problem, an auditor may not send; the
/// channel check connects without sending.
async fn the_test_endpoint_delivers_by_email(backend: Backend) {
    use cc_domain::OperatorRole::{Auditor, Operator};
    let (mut server, dir, port) = start_smtp().await;
    let w = wired(backend, &smtp_channel(dir.path(), port)).await;

    let r = w
        .post(
            Operator,
            "/notifications/test",
            Some(serde_json::json!({"channel": "it-mail"})),
        )
        .await;
    assert_eq!(r.status(), 202);
    let queued: serde_json::Value = r.json().await.unwrap();
    let id = queued["delivery_id"].as_i64().unwrap();
    assert_eq!(queued["channel"], "it-mail");
    let file = dir.path().join("mail/0.eml");
    let text = wait_for("the test message to arrive", WAIT, || {
        let file = file.clone();
        async move { std::fs::read_to_string(file).ok() }
    })
    .await;
    assert!(text.contains("X-Test-Authenticated: True"), "{text}");
    assert!(
        text.contains("Test message to channel it-mail, sent by"),
        "{text}"
    );
    wait_for("the test delivery recorded as sent", WAIT, || {
        let w = &w;
        async move {
            let page: serde_json::Value = w
                .get(Auditor, "/notifications/deliveries?event=test")
                .await
                .json()
                .await
                .unwrap();
            let items = page["items"].as_array().unwrap().clone();
            (items.len() == 1 && items[0]["id"] == id && items[0]["state"] == "sent").then_some(())
        }
    })
    .await;

    let r = w
        .post(
            Operator,
            "/notifications/test",
            Some(serde_json::json!({"channel": "nobody"})),
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["code"], "not_found");
    let r = w
        .post(
            Auditor,
            "/notifications/test",
            Some(serde_json::json!({"channel": "it-mail"})),
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = w
        .post(Operator, "/notifications/test", Some(serde_json::json!({})))
        .await;
    assert_eq!(r.status(), 422);

    let checks: serde_json::Value = w
        .post(Operator, "/notifications/channels/check", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(checks[0]["channel"], "it-mail");
    assert_eq!(checks[0]["status"], "ok", "{checks}");
    assert!(!checks.to_string().contains("s3cret"));
    // The check sent nothing: still the one message.
    assert_eq!(
        std::fs::read_dir(dir.path().join("mail")).unwrap().count(),
        1
    );
    w.stop().await;
    server.kill().await.ok();
}

/// `command-center notifications test CHANNEL` and `notifications deliveries` against a
/// running server: the message reaches the webhook, the delivery is listed, an unknown
/// channel exits 3.
async fn the_cli_sends_a_test_and_lists_deliveries(backend: Backend) {
    let (hook, url) = Receiver::start(vec![]).await;
    let w = wired(
        backend,
        &format!("[[channels]]\nname = \"helpdesk\"\nkind = \"webhook\"\nurl = \"{url}\"\n"),
    )
    .await;
    let token = w.app.api_token(cc_domain::OperatorRole::Operator).await;
    let cli = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(cc_tests::queue::command_center_bin());
        cmd.env_clear()
            .env("CC_URL", &w.app.base_url)
            .env("CC_TOKEN", &token)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        cmd
    };
    let out = tokio::time::timeout(
        WAIT,
        cli(&["notifications", "test", "helpdesk", "-o", "json"]).output(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let queued: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = queued["delivery_id"].as_i64().unwrap();
    wait_for("the test message at the webhook", WAIT, || {
        let hook = hook.clone();
        async move { (hook.count() == 1).then_some(()) }
    })
    .await;
    assert_eq!(hook.bodies()[0]["event"], "test");

    let listed = wait_for("the delivery listed as sent", WAIT, || {
        let cli = &cli;
        async move {
            let out = cli(&[
                "notifications",
                "deliveries",
                "--channel",
                "helpdesk",
                "-o",
                "json",
            ])
            .output()
            .await
            .unwrap();
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            let items: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            (items[0]["id"] == id && items[0]["state"] == "sent").then_some(items)
        }
    })
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let table = cli(&["notifications", "deliveries", "--outcome", "sent"])
        .output()
        .await
        .unwrap();
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("helpdesk") && table.contains("STATE"),
        "{table}"
    );

    let out = cli(&["notifications", "test", "nobody"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
    w.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The other emitters, through the paths the product runs them on.

/// A webhook channel at `url` taking every event kind.
fn hook_channel(url: &str) -> String {
    format!("[[channels]]\nname = \"helpdesk\"\nkind = \"webhook\"\nurl = \"{url}\"\n")
}

/// The `notify.dispatch` jobs queued for events of `kind`.
async fn dispatch_jobs(store: &Arc<dyn Store>, kind: EventKind) -> Vec<cc_domain::Job> {
    store
        .list_jobs(&cc_domain::JobQuery {
            kind: Some(cc_domain::notification::NOTIFY_DISPATCH_KIND.into()),
            limit: 500,
            ..cc_domain::JobQuery::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.args["kind"] == kind.as_str())
        .collect()
}

/// Every `notify.*` job, whatever its kind.
async fn notify_jobs(store: &Arc<dyn Store>) -> Vec<cc_domain::Job> {
    store
        .list_jobs(&cc_domain::JobQuery {
            limit: 500,
            ..cc_domain::JobQuery::default()
        })
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|j| j.kind.starts_with("notify."))
        .collect()
}

/// Waits until the receiver got `n` messages about `event`; returns them.
async fn wait_bodies(hook: &Receiver, event: &str, n: usize) -> Vec<serde_json::Value> {
    wait_for(
        &format!("{n} {event} message(s) at the webhook"),
        WAIT,
        || {
            let hook = hook.clone();
            async move {
                let b: Vec<_> = hook
                    .bodies()
                    .into_iter()
                    .filter(|b| b["event"] == event)
                    .collect();
                (b.len() >= n).then_some(b)
            }
        },
    )
    .await
}

/// An enabled policy requiring disk encryption, through the API.
async fn encryption_policy(app: &TestApp) {
    let policy: cc_domain::NewPolicy = serde_json::from_value(serde_json::json!({
        "name": "disk-encryption",
        "category": "security",
        "rule": {"fact": "disk_encryption", "op": "eq", "value": true},
        "severity": "high"
    }))
    .unwrap();
    app.client.create_policy(&policy).await.unwrap();
}

/// A device's facts, as a patch.
fn facts(v: serde_json::Value) -> cc_domain::DevicePatch {
    serde_json::from_value(serde_json::json!({ "facts": v })).unwrap()
}

/// A device reporting facts that fail a policy becomes noncompliant through the devices API:
/// one `device.noncompliant` message naming the device and the policy it fails. Further
/// reports while it stays noncompliant queue nothing more (the device is told about when it
/// becomes noncompliant); compliant again and then failing again is a new message.
async fn a_device_becoming_noncompliant_is_told_once(backend: Backend) {
    let (hook, url) = Receiver::start(vec![]).await;
    let w = wired(backend, &hook_channel(&url)).await;
    encryption_policy(&w.app).await;
    let device: cc_domain::NewDevice = serde_json::from_value(serde_json::json!({
        "serial_number": "C02XK1JH",
        "name": "lab-mac-07",
        "platform": "macos",
        "facts": {"disk_encryption": true}
    }))
    .unwrap();
    let device = w.app.client.create_device(&device).await.unwrap();
    assert_eq!(device.compliance, cc_domain::Compliance::Compliant);
    let store = &w.app.store;
    assert!(dispatch_jobs(store, EventKind::DeviceNoncompliant)
        .await
        .is_empty());

    let changed = w
        .app
        .client
        .update_device(
            device.id,
            &facts(serde_json::json!({"disk_encryption": false})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(changed.compliance, cc_domain::Compliance::Noncompliant);
    let bodies = wait_bodies(&hook, "device.noncompliant", 1).await;
    let b = &bodies[0];
    assert_eq!(b["subject"], format!("device {}", device.id));
    let title = b["title"].as_str().unwrap();
    assert!(
        title.contains("lab-mac-07") && title.contains("C02XK1JH"),
        "{b}"
    );
    assert!(title.contains("disk-encryption"), "the failing policy: {b}");
    assert_eq!(
        b["link"],
        format!("https://cc.example.org/devices/{}", device.id)
    );

    // Still failing, with other facts changed: evaluated again, nothing queued.
    let again = w
        .app
        .client
        .update_device(
            device.id,
            &facts(serde_json::json!({"disk_encryption": false, "os_version": "14.6"})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(again.compliance, cc_domain::Compliance::Noncompliant);
    assert!(again.version > changed.version);
    assert_eq!(
        dispatch_jobs(store, EventKind::DeviceNoncompliant)
            .await
            .len(),
        1
    );

    // Compliant, then failing again: a new message (the same subject, so only after the
    // dedupe window would it reach the channel; the dispatch job is queued either way).
    w.app
        .client
        .update_device(
            device.id,
            &facts(serde_json::json!({"disk_encryption": true})),
            None,
        )
        .await
        .unwrap();
    w.app
        .client
        .update_device(
            device.id,
            &facts(serde_json::json!({"disk_encryption": false})),
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        dispatch_jobs(store, EventKind::DeviceNoncompliant)
            .await
            .len(),
        2
    );
    let recorded = wait_deliveries(store, "the second event deduplicated", |d| {
        d.iter()
            .filter(|d| d.event == "device.noncompliant")
            .map(|d| d.state)
            .collect::<Vec<_>>()
            == [DeliveryState::Deduplicated, DeliveryState::Sent]
    })
    .await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    assert_eq!(hook.count(), 1, "{:?}", hook.bodies());
    w.stop().await;
}

/// Locks a name after 3 failures from one address, without slowing attempts down first.
fn lockout_config() -> cc_api::ApiConfig {
    let mut config = cc_tests::test_config();
    let t = &mut config.auth.throttle;
    t.name_throttle_after = 1000;
    t.name_lockout_after = 3;
    t.lockout_secs = 600;
    t.address_throttle_after = 1000;
    t.address_lockout_after = 1000;
    config
}

const GUESS: &str = "Autumn-Guess-4471";

/// Three wrong passwords for `username` through `POST /auth/login`; then the right one is
/// refused as locked.
async fn lock_out(app: &TestApp, username: &str, password: &str) {
    for _ in 0..3 {
        let err = app.anonymous().login(username, GUESS).await.unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");
    }
    let err = app.anonymous().login(username, password).await.unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
}

/// An operator locked out by the login throttle, through the login route: one
/// `operator.locked_out` message naming the login, without the password tried.
async fn a_locked_out_operator_is_told(backend: Backend) {
    let (hook, url) = Receiver::start(vec![]).await;
    let w = wired_with(backend, lockout_config(), &hook_channel(&url), |_, _, _| {}).await;
    let password = "violet kettle ocean 42";
    w.app
        .client
        .create_operator(&cc_domain::NewOperator {
            username: "dana".into(),
            password: password.into(),
            role: cc_domain::OperatorRole::Operator,
        })
        .await
        .unwrap();
    lock_out(&w.app, "dana", password).await;

    let bodies = wait_bodies(&hook, "operator.locked_out", 1).await;
    let b = &bodies[0];
    assert_eq!(b["subject"], "login operator:dana");
    assert_eq!(b["severity"], "warning");
    assert!(
        b["title"]
            .as_str()
            .unwrap()
            .contains("after 3 failed attempts"),
        "{b}"
    );
    let jobs = dispatch_jobs(&w.app.store, EventKind::OperatorLockedOut).await;
    assert_eq!(jobs.len(), 1, "one lock, one event");
    let everything = format!("{:?} {:?}", hook.bodies(), jobs);
    assert!(!everything.contains(GUESS), "{everything}");
    assert!(!everything.contains(password), "{everything}");
    w.stop().await;
}

/// With no channel (or none taking the kind), a lockout, a device becoming noncompliant and
/// a broken audit chain queue no notification job at all.
async fn nothing_is_queued_without_a_channel_that_wants_it(backend: Backend) {
    for channels in [
        String::new(),
        "[[channels]]\nname = \"jobs-only\"\nkind = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\n\
         events = [\"job.discarded\"]\n"
            .to_owned(),
    ] {
        let w = wired_with(backend, lockout_config(), &channels, |_, _, _| {}).await;
        lock_out(&w.app, "admin", &w.app.admin_password.clone()).await;
        let locks = w
            .app
            .client
            .list_audit(&[("action", "auth.lockout")])
            .await
            .unwrap();
        assert_eq!(locks.items.len(), 1, "the lock happened");
        encryption_policy(&w.app).await;
        let device: cc_domain::NewDevice = serde_json::from_value(serde_json::json!({
            "serial_number": "PF3XK9", "platform": "windows", "facts": {"disk_encryption": false}
        }))
        .unwrap();
        let device = w.app.client.create_device(&device).await.unwrap();
        assert_eq!(device.compliance, cc_domain::Compliance::Noncompliant);
        tamper_audit(&w.app.db, 1).await;
        let report = w.app.client.verify_audit().await.unwrap();
        assert_eq!(report["intact"], false, "{report}");
        assert!(
            notify_jobs(&w.app.store).await.is_empty(),
            "channels {channels:?}: {:?}",
            notify_jobs(&w.app.store).await
        );
        w.stop().await;
    }
}

/// Changes a stored audit event behind the chain's back.
async fn tamper_audit(db: &TestDb, seq: i64) {
    let sql = "UPDATE audit_events SET action = 'tampered.action' WHERE seq = $1";
    let n = match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let n = sqlx::query(sql)
                .bind(seq)
                .execute(&pool)
                .await
                .unwrap()
                .rows_affected();
            pool.close().await;
            n
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let n = sqlx::query(sql)
                .bind(seq)
                .execute(&pool)
                .await
                .unwrap()
                .rows_affected();
            pool.close().await;
            n
        }
    };
    assert_eq!(n, 1, "audit event {seq} tampered");
}

/// A stored audit event changed in the database: verification through
/// `GET /audit/verify` reports the break and tells the channel, once however often it is
/// verified within the dedupe window.
async fn a_broken_audit_chain_is_told(backend: Backend) {
    use cc_domain::OperatorRole::Auditor;
    let (hook, url) = Receiver::start(vec![]).await;
    let w = wired(backend, &hook_channel(&url)).await;
    encryption_policy(&w.app).await;
    let before: serde_json::Value = w.get(Auditor, "/audit/verify").await.json().await.unwrap();
    assert_eq!(before["intact"], true, "{before}");
    assert!(
        dispatch_jobs(&w.app.store, EventKind::AuditVerificationFailed)
            .await
            .is_empty()
    );
    let head = before["head_seq"].as_i64().unwrap();
    tamper_audit(&w.app.db, head).await;

    let report: serde_json::Value = w.get(Auditor, "/audit/verify").await.json().await.unwrap();
    assert_eq!(report["intact"], false, "{report}");
    assert_eq!(report["first_break"]["seq"], head, "{report}");
    let bodies = wait_bodies(&hook, "audit.verification_failed", 1).await;
    let b = &bodies[0];
    assert_eq!(b["subject"], format!("audit chain at event {head}"));
    assert_eq!(b["severity"], "critical");
    assert_eq!(b["link"], "https://cc.example.org/audit");
    assert!(b["error"].as_str().is_some_and(|e| !e.is_empty()), "{b}");

    // Verified again: queued again, deduplicated at the channel.
    let again: serde_json::Value = w.get(Auditor, "/audit/verify").await.json().await.unwrap();
    assert_eq!(again["intact"], false);
    wait_deliveries(&w.app.store, "the repeat deduplicated", |d| {
        d.iter()
            .filter(|d| d.event == "audit.verification_failed")
            .map(|d| d.state)
            .collect::<Vec<_>>()
            == [DeliveryState::Deduplicated, DeliveryState::Sent]
    })
    .await;
    assert_eq!(hook.count(), 1, "{:?}", hook.bodies());
    w.stop().await;
}

const CF_ZONE: &str = "district.example.org";

/// A certificate of a managed zone within a warning threshold: the certificate job (run by
/// the worker with the notifier's certificate alerts, as `serve` and `worker` wire it) sends
/// one `certificate.expiring` message per host, and none on its next run.
async fn an_expiring_certificate_is_told(backend: Backend) {
    use cc_connectors::cloudflare::{Cloudflare, CloudflareConfig};
    let fake = fake::FakeCloudflare::start(&[CF_ZONE]).await;
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{}\n", fake::TOKEN)).unwrap();
    let config: CloudflareConfig = toml::from_str(&format!(
        "token_file = {token_file:?}\napi_base = {:?}\nzones = [{CF_ZONE:?}]\n\
         certificate_warning_days = [30, 14, 7]\n",
        fake.base_url()
    ))
    .unwrap();
    let expires_on = chrono::Utc::now() + chrono::Duration::days(10);
    let zone_id = fake.zone_id(CF_ZONE);
    fake.world.lock().unwrap().packs.insert(zone_id, vec![
        serde_json::json!({ "id": "3822ff90ea2944df9e5521300bb9419b", "type": "universal", "status": "active",
            "hosts": ["district.example.org", "www.district.example.org"],
            "certificates": [{ "id": "7e7b8deba8538af625850b7b2530034c",
                "hosts": ["district.example.org", "www.district.example.org"],
                "status": "active", "expires_on": expires_on.to_rfc3339() }] }),
    ]);
    let (hook, url) = Receiver::start(vec![]).await;
    let w = wired_with(
        backend,
        cc_tests::test_config(),
        &hook_channel(&url),
        move |notifier, store, registry| {
            let service = Cloudflare::new(config).unwrap();
            cc_lifecycle::cloudflare::CloudflareJobs::new(Arc::new(service), store.clone())
                .with_notifier(Arc::new(notifier.certificate_alerts()))
                .register(registry);
        },
    )
    .await;
    let run = || async {
        let job = cc_domain::NewJob::new(
            cc_lifecycle::cloudflare::CERTIFICATES_KIND,
            serde_json::json!({}),
        );
        let job = cc_queue::ops::enqueue(w.app.store.as_ref(), &job)
            .await
            .unwrap();
        finished(&w.app.store, job.id).await
    };
    let first = run().await;
    assert_eq!(
        first.result.as_ref().unwrap()["warnings"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Enqueued in the transaction that records each warning, not after it: both deliveries
    // exist the moment the certificate job has finished.
    let deliveries = w
        .app
        .client
        .list_jobs(&[("kind", cc_domain::notification::NOTIFY_DISPATCH_KIND)])
        .await
        .unwrap();
    assert_eq!(deliveries.items.len(), 2, "{:?}", deliveries.items);
    let bodies = wait_bodies(&hook, "certificate.expiring", 2).await;
    let mut subjects: Vec<String> = bodies
        .iter()
        .map(|b| b["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    let day = expires_on.date_naive();
    assert_eq!(
        subjects,
        [
            format!("certificate district.example.org {day}"),
            format!("certificate www.district.example.org {day}")
        ]
    );
    assert!(bodies.iter().all(|b| b["severity"] == "warning"));
    assert!(
        bodies[0]["title"]
            .as_str()
            .unwrap()
            .contains("warning at 14 days"),
        "{}",
        bodies[0]
    );

    let second = run().await;
    assert!(second.result.as_ref().unwrap()["warnings"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        dispatch_jobs(&w.app.store, EventKind::CertificateExpiring)
            .await
            .len(),
        2
    );
    w.stop().await;
    fake.assert_clean();
}

/// A job through the queue to its end: completed, with its result.
async fn finished(store: &Arc<dyn Store>, id: i64) -> cc_domain::Job {
    let job = wait_for(&format!("job {id} to finish"), WAIT, || {
        let store = store.clone();
        async move {
            let job = store.get_job(id).await.unwrap()?;
            job.state.is_final().then_some(job)
        }
    })
    .await;
    assert_eq!(job.state, JobState::Completed, "{job:?}");
    job
}

/// Sets a file's modification time `hours` ago.
fn age(path: &std::path::Path, hours: u64) {
    let t = std::time::SystemTime::now() - Duration::from_secs(hours * 3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// `[backups]`: the `backup.check` job finds the newest backup 30 hours old (26 allowed) and
/// tells the channel once; checked again, by this worker or another, nothing more; a fresh
/// backup ends the stale period without a message; stale again is a new message. The gauge
/// and readiness show the last check.
async fn stale_backups_are_told_once_per_stale_period(backend: Backend) {
    let (hook, url) = Receiver::start(vec![]).await;
    let dir = tempfile::tempdir().unwrap();
    let watched = dir.path().to_owned();
    let w = wired_with(
        backend,
        cc_tests::test_config(),
        &hook_channel(&url),
        move |notifier, _, registry| {
            notifier
                .backup_watch(watched, Duration::from_secs(26 * 3600))
                .register(registry);
        },
    )
    .await;
    let check = || async {
        let job = cc_domain::NewJob::new(cc_notify::backups::CHECK_KIND, serde_json::json!({}));
        let job = cc_queue::ops::enqueue(w.app.store.as_ref(), &job)
            .await
            .unwrap();
        finished(&w.app.store, job.id).await.result.unwrap()
    };
    let stale_jobs = || dispatch_jobs(&w.app.store, EventKind::BackupStale);
    let old = dir.path().join("command-center-20260101T020000Z.dump");
    std::fs::write(&old, "dump").unwrap();
    age(&old, 30);

    let first = check().await;
    assert_eq!(first["began_stale"], true, "{first}");
    assert!(
        first["problem"]
            .as_str()
            .unwrap()
            .contains("30 hours old (allowed: 26 hours)"),
        "{first}"
    );
    let bodies = wait_bodies(&hook, "backup.stale", 1).await;
    assert!(
        bodies[0]["title"]
            .as_str()
            .unwrap()
            .contains(&dir.path().display().to_string()),
        "{}",
        bodies[0]
    );
    assert_eq!(bodies[0]["severity"], "warning");
    let metrics = w
        .app
        .client
        .request(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mtime = std::fs::metadata(&old)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("cc_backup_newest_timestamp_seconds "))
        .unwrap_or_else(|| panic!("the gauge: {metrics}"));
    assert_eq!(gauge.parse::<f64>().unwrap().floor() as u64, mtime);

    // Again, and from a second worker's watch: still the one period.
    assert_eq!(check().await["began_stale"], false);
    let other = w
        .notifier
        .backup_watch(dir.path().to_owned(), Duration::from_secs(26 * 3600));
    assert!(!other.check().await.unwrap().began_stale);
    assert_eq!(stale_jobs().await.len(), 1);
    let ready: serde_json::Value = w
        .app
        .anonymous()
        .request(reqwest::Method::GET, "/health/ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["detail"]["backups"]["status"], "stale", "{ready}");
    assert_eq!(ready["detail"]["backups"]["max_age_hours"], 26, "{ready}");

    // A fresh backup: the period ends, silently.
    let fresh = dir.path().join("command-center-20260102T020000Z.dump");
    std::fs::write(&fresh, "dump").unwrap();
    let ok = check().await;
    assert!(ok["problem"].is_null(), "{ok}");
    assert_eq!(ok["began_stale"], false);
    assert_eq!(stale_jobs().await.len(), 1);
    let ready: serde_json::Value = w
        .app
        .anonymous()
        .request(reqwest::Method::GET, "/health/ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["detail"]["backups"]["status"], "ok", "{ready}");

    // Stale again: a new period, a new message (its own subject: not a repeat).
    age(&fresh, 27);
    let again = check().await;
    assert_eq!(again["began_stale"], true, "{again}");
    assert_eq!(stale_jobs().await.len(), 2);
    let bodies = wait_bodies(&hook, "backup.stale", 2).await;
    assert_ne!(bodies[0]["subject"], bodies[1]["subject"]);
    // Emptied: still the same stale period.
    std::fs::remove_file(&old).unwrap();
    std::fs::remove_file(&fresh).unwrap();
    let empty = check().await;
    assert_eq!(empty["began_stale"], false, "{empty}");
    assert!(
        empty["problem"]
            .as_str()
            .unwrap()
            .contains("holds no backup"),
        "{empty}"
    );
    assert_eq!(stale_jobs().await.len(), 2);
    let ready: serde_json::Value = w
        .app
        .anonymous()
        .request(reqwest::Method::GET, "/health/ready")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["detail"]["backups"]["status"], "empty", "{ready}");
    assert_eq!(hook.count(), 2, "{:?}", hook.bodies());
    w.stop().await;
}

/// The real `command-center serve`, configured by a file as an operator would configure it:
/// a lockout through the login route and a test message through the API reach the webhook,
/// delivered by the server's own workers. This is the server's wiring (its configuration,
/// the notifier it hands to the login throttle and the workers), not the test harness's.
async fn serve_delivers_to_a_configured_webhook(backend: Backend) {
    use tokio::io::{AsyncBufReadExt, BufReader};

    const ADMIN_PASSWORD: &str = "serve-notifies-keeper-1";
    let (hook, url) = Receiver::start(vec![]).await;
    let db = TestDb::new(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("command-center.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nlogin_throttle_after = 100\nlogin_lockout_after = 3\n\n\
             [[notifications.channels]]\nname = \"helpdesk\"\nkind = \"webhook\"\nurl = \"{url}\"\n"
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(cc_tests::queue::command_center_bin())
        .arg("serve")
        .env("CC_DATABASE_URL", &db.url)
        .env("CC_CONFIG", &config)
        .env("CC_LISTEN", "127.0.0.1:0")
        .env("CC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CC_REDIS_URL", "")
        .env("CC_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start command-center serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = tokio::time::timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(at) = line
                .find("http://")
                .filter(|_| line.contains("listening on"))
            {
                let addr = line[at..].split_whitespace().next().unwrap();
                return addr.trim_end_matches('/').to_owned();
            }
        }
        panic!("command-center serve exited without printing its address");
    })
    .await
    .expect("serve printed its address");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let anonymous = cc_client::Client::new(&base).unwrap();
    let (admin, _) = anonymous.logged_in("admin", ADMIN_PASSWORD).await.unwrap();
    let password = "quiet harbour lantern 9";
    admin
        .create_operator(&cc_domain::NewOperator {
            username: "dana".into(),
            password: password.into(),
            role: cc_domain::OperatorRole::Operator,
        })
        .await
        .unwrap();
    for _ in 0..3 {
        let err = anonymous.login("dana", GUESS).await.unwrap_err();
        assert!(err.to_string().contains("invalid"), "{err}");
    }
    let err = anonymous.login("dana", password).await.unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    let locked = wait_bodies(&hook, "operator.locked_out", 1).await;
    assert_eq!(locked[0]["subject"], "login operator:dana");

    let sent = admin.test_notification("helpdesk").await.unwrap();
    assert_eq!(sent["channel"], "helpdesk");
    let tests = wait_bodies(&hook, "test", 1).await;
    assert_eq!(tests.len(), 1);
    let everything = format!("{:?}", hook.bodies());
    assert!(!everything.contains(GUESS), "{everything}");
    assert!(!everything.contains(password), "{everything}");
    assert!(!everything.contains(ADMIN_PASSWORD), "{everything}");

    // The deliveries log agrees: both recorded sent (the worker records it after the
    // receiver answered).
    let store = db.store().await;
    wait_for("both deliveries recorded sent", WAIT, || {
        let store = store.clone();
        async move {
            let all = deliveries(&store).await;
            let sent = |event: &str| {
                all.iter()
                    .filter(|d| d.event == event && d.state == DeliveryState::Sent)
                    .count()
            };
            (sent("operator.locked_out") == 1 && sent("test") == 1).then_some(())
        }
    })
    .await;
    child.kill().await.unwrap();
}

backend_tests!(
    slack_escaped_and_webhook_signed,
    retries_then_succeeds,
    permanent_failure_is_recorded_and_not_retried,
    dedupes_and_digests,
    email_over_starttls_with_auth,
    discarded_jobs_and_refused_imports_reach_a_webhook,
    the_test_endpoint_delivers_by_email,
    the_cli_sends_a_test_and_lists_deliveries,
    a_device_becoming_noncompliant_is_told_once,
    a_locked_out_operator_is_told,
    nothing_is_queued_without_a_channel_that_wants_it,
    a_broken_audit_chain_is_told,
    an_expiring_certificate_is_told,
    stale_backups_are_told_once_per_stale_period,
    serve_delivers_to_a_configured_webhook,
);
