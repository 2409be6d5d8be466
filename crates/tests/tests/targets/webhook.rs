//! The webhook target against a receiver on 127.0.0.1: signatures, the event, status
//! mapping, Retry-After, timeouts and refused connections.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cc_connectors::webhook::signature::verify;
use cc_connectors::webhook::{WebhookConfig, WebhookTarget};
use cc_connectors::{Operation, OperationRequest, Target};
use serde_json::Value;

use super::user;

const SECRET: &str = "whsec-test-0123456789";

/// A request the receiver saw.
type Seen = (HeaderMap, Vec<u8>);
/// An answer to give: status, Retry-After, body, delay.
type Answer = (u16, Option<&'static str>, &'static str, Duration);

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Answers to give, in order; 200 when empty.
    answers: Arc<Mutex<VecDeque<Answer>>>,
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    r.seen.lock().expect("lock").push((headers, body.to_vec()));
    let answer = r.answers.lock().expect("lock").pop_front();
    let (status, retry_after, body, delay) = answer.unwrap_or((200, None, "", Duration::ZERO));
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut res = (
        StatusCode::from_u16(status).expect("status"),
        body.to_owned(),
    )
        .into_response();
    if let Some(v) = retry_after {
        res.headers_mut()
            .insert("retry-after", v.parse().expect("header value"));
    }
    res
}

async fn start() -> (String, Receiver) {
    let r = Receiver::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}/hook"), r)
}

fn target(url: &str, extra: &str) -> WebhookTarget {
    let timeout = if extra.contains("timeout_ms") {
        ""
    } else {
        "timeout_ms = 2000\n"
    };
    let text = format!("name = \"hook\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\n{timeout}{extra}");
    let c: WebhookConfig = toml::from_str(&text).expect("valid TOML");
    WebhookTarget::new(&c).expect("valid config")
}

#[tokio::test]
async fn deliveries_are_signed_and_carry_the_event() {
    let (url, r) = start().await;
    let t = target(&url, "headers = { \"X-Tenant\" = \"district-7\" }\n");
    let ada = user("ada");
    let req =
        OperationRequest::new(Operation::Provision, ada.clone()).with_password("Never-sent-1");

    let plan = t.plan(&req).await.unwrap();
    assert_eq!(plan.changes.len(), 1);
    assert!(r.seen.lock().unwrap().is_empty(), "a dry run sends nothing");

    let out = t.apply(&req).await.unwrap();
    assert_eq!(out.detail["status"], 200);
    let (headers, body) = r.seen.lock().unwrap()[0].clone();
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let now = chrono::Utc::now().timestamp();
    verify(
        SECRET.as_bytes(),
        &header("x-cc-timestamp"),
        &header("x-cc-signature"),
        &body,
        now,
        300,
    )
    .expect("a valid signature");
    assert!(verify(
        b"wrong",
        &header("x-cc-timestamp"),
        &header("x-cc-signature"),
        &body,
        now,
        300
    )
    .is_err());
    assert!(
        verify(
            SECRET.as_bytes(),
            &header("x-cc-timestamp"),
            &header("x-cc-signature"),
            &body,
            now + 3600,
            300
        )
        .is_err(),
        "replays are stale"
    );
    assert_eq!(header("idempotency-key"), req.id.to_string());
    assert_eq!(header("x-tenant"), "district-7");
    assert_eq!(header("content-type"), "application/json");
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["id"], req.id.to_string());
    assert_eq!(event["operation"], "provision");
    assert_eq!(event["user"]["username"], "ada");
    assert!(event["occurred_at"].is_string());
    assert!(event.get("password").is_none());
    assert!(!String::from_utf8_lossy(&body).contains("Never-sent-1"));

    // A retry of the same request keeps its idempotency key.
    t.apply(&req).await.unwrap();
    let keys: Vec<_> = r
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|(h, _)| h["idempotency-key"].clone())
        .collect();
    assert_eq!(keys[0], keys[1]);
}

#[tokio::test]
async fn the_password_is_sent_only_when_configured() {
    let (url, r) = start().await;
    let t = target(&url, "include_password = true\n");
    assert!(t.holds_passwords());
    r.answers
        .lock()
        .unwrap()
        .push_back((200, None, r#"{"account_id":"ext-42"}"#, Duration::ZERO));
    let req =
        OperationRequest::new(Operation::ResetPassword, user("ada")).with_password("Sent-pw-9");
    let out = t.apply(&req).await.unwrap();
    assert_eq!(out.account_id.as_deref(), Some("ext-42"));
    let event: Value = serde_json::from_slice(&r.seen.lock().unwrap()[0].1).unwrap();
    assert_eq!(event["password"], "Sent-pw-9");
    assert!(!serde_json::to_string(&out).unwrap().contains("Sent-pw-9"));
    let plan = t.plan(&req).await.unwrap();
    assert!(!plan.detail.to_string().contains("Sent-pw-9"));
}

#[tokio::test]
async fn statuses_map_to_retryable_or_permanent() {
    let (url, r) = start().await;
    let t = target(&url, "");
    let req = OperationRequest::new(Operation::Suspend, user("ada"));
    let cases: [(u16, Option<&'static str>, bool); 6] = [
        (500, None, true),
        (503, Some("30"), true),
        (429, Some("7"), true),
        (408, None, true),
        (400, None, false),
        (404, None, false),
    ];
    for (status, retry_after, retryable) in cases {
        r.answers
            .lock()
            .unwrap()
            .push_back((status, retry_after, "nope", Duration::ZERO));
        let e = t.apply(&req).await.unwrap_err();
        assert_eq!(e.is_retryable(), retryable, "{status}: {e}");
        assert!(e.to_string().contains(&status.to_string()), "{e}");
        let expected = retry_after.map(|s| Duration::from_secs(s.parse().unwrap()));
        assert_eq!(e.retry_after(), expected, "{status}");
        if let Some(s) = retry_after {
            assert!(e.to_string().contains(&format!("retry after {s}s")), "{e}");
        }
        assert!(!e.to_string().contains(SECRET));
    }
    r.answers
        .lock()
        .unwrap()
        .push_back((204, None, "", Duration::ZERO));
    t.apply(&req).await.expect("2xx is success");
}

#[tokio::test]
async fn slow_or_absent_receivers_are_retryable() {
    let (url, r) = start().await;
    let t = target(&url, "timeout_ms = 200\n");
    r.answers
        .lock()
        .unwrap()
        .push_back((200, None, "", Duration::from_secs(3)));
    let e = t
        .apply(&OperationRequest::new(Operation::Update, user("ada")))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert!(e.to_string().contains("timed out after 200 ms"), "{e}");

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let t = target(&format!("http://{closed}/hook"), "");
    let e = t
        .apply(&OperationRequest::new(Operation::Update, user("ada")))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
async fn errors_never_carry_url_credentials_or_header_secrets() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("api-key");
    std::fs::write(&key_file, "key-from-file-42\n").unwrap();
    let url = format!("http://hook:pa55word-9@{closed}/hook?token=tok-123456");
    let extra = format!(
        "headers = {{ \"X-Api-Key\" = {{ value_file = \"{}\" }} }}\n",
        key_file.display()
    );
    let t = target(&url, &extra);
    let e = t
        .apply(&OperationRequest::new(Operation::Update, user("ada")))
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let text = e.to_string();
    for secret in ["pa55word-9", "tok-123456", "hook:pa55"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert!(text.contains(&format!("http://{closed}/hook")), "{text}");

    // A receiver that echoes the request back: the header read from a file is sent, and
    // masked in the error that quotes the answer.
    let (url, r) = start().await;
    let t = target(&format!("{url}?token=tok-123456"), &extra);
    r.answers.lock().unwrap().push_back((
        400,
        None,
        "bad key key-from-file-42 for token tok-123456",
        Duration::ZERO,
    ));
    let e = t
        .apply(&OperationRequest::new(Operation::Update, user("ada")))
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        !text.contains("key-from-file-42") && !text.contains("tok-123456"),
        "{text}"
    );
    let seen = r.seen.lock().unwrap()[0].0.clone();
    assert_eq!(seen["x-api-key"], "key-from-file-42");
}

#[tokio::test]
async fn an_endless_answer_is_not_read_to_its_end() {
    async fn endless() -> Response {
        let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
        let body = futures::StreamExt::map(futures::stream::repeat(chunk), Ok::<_, std::io::Error>);
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::body::Body::from_stream(body),
        )
            .into_response()
    }
    let app = axum::Router::new().route("/hook", axum::routing::post(endless));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let t = target(&format!("http://{addr}/hook"), "timeout_ms = 5000\n");
    let e = t
        .apply(&OperationRequest::new(Operation::Update, user("ada")))
        .await
        .unwrap_err();
    // Read to its end, the answer would run into the timeout instead.
    assert!(e.to_string().contains("answered 500"), "{e}");
    assert!(e.is_retryable());
}
