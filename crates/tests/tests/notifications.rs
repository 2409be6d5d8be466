//! Notifications end to end: events enqueued in a transaction, dispatched and delivered by a
//! real worker to a real HTTP receiver (Slack-compatible and signed webhooks) and a real SMTP
//! server (aiosmtpd, with STARTTLS and authentication); dedupe, digests, retries and
//! permanent failures recorded in the deliveries log.

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
use cc_tests::{backend_tests, wait_for, Backend, TestDb};

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

async fn email_over_starttls_with_auth(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
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
    let mut server = tokio::process::Command::new(aiosmtpd_python())
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
    let notifier = Notifier::new(
        store.clone(),
        &config(&format!(
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
            dir.path().join("password").display(),
            dir.path().join("server.crt").display(),
        )),
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

backend_tests!(
    slack_escaped_and_webhook_signed,
    retries_then_succeeds,
    permanent_failure_is_recorded_and_not_retried,
    dedupes_and_digests,
    email_over_starttls_with_auth,
);
