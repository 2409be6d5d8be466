//! Smaller defences against hostile clients: connection bounds, caching headers, duplicate
//! credentials, documentation misses, disabled operators, and what the audit keeps of an
//! unknown login name.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cc_domain::{NewApiToken, NewOperator, OperatorPatch, OperatorRole};
use cc_tests::{backend_tests, wait_for, Backend, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const DEADLINE: Duration = Duration::from_secs(15);

fn addr(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; fails if it is still open at the deadline.
async fn closed_by_server(conn: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(DEADLINE, async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what} stayed open");
}

async fn slow_and_silent_connections_are_closed(backend: Backend) {
    let mut c = cc_tests::test_config();
    c.connections.header_read_timeout = Duration::from_millis(500);
    let app = TestApp::spawn_with(backend, c, None).await;
    let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
    closed_by_server(&mut silent, "a connection that sends nothing").await;

    let mut partial = TcpStream::connect(addr(&app)).await.unwrap();
    partial
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    closed_by_server(&mut partial, "a connection with partial headers").await;

    // A normal request on a keep-alive connection is answered, then the idle
    // connection is closed.
    let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
    idle.write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    idle.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    closed_by_server(&mut idle, "an idle keep-alive connection").await;
    app.stop().await;
}

async fn connections_per_address_are_capped(backend: Backend) {
    let mut c = cc_tests::test_config();
    c.connections.connections_per_address = 2;
    let app = TestApp::spawn_with(backend, c, None).await;
    let first = TcpStream::connect(addr(&app)).await.unwrap();
    let _second = TcpStream::connect(addr(&app)).await.unwrap();
    // Accepting is asynchronous: wait until the server has taken both places.
    let mut third = wait_for("the cap to apply", DEADLINE, || async {
        let mut conn = TcpStream::connect(addr(&app)).await.ok()?;
        let mut buf = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_millis(200), conn.read(&mut buf)).await;
        matches!(r, Ok(Ok(0) | Err(_))).then_some(conn)
    })
    .await;
    closed_by_server(&mut third, "a connection over the cap").await;
    drop(first);
    let health = format!("{}/health/live", app.base_url);
    wait_for("a freed place", DEADLINE, || async {
        reqwest::get(&health)
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await;
    app.stop().await;
}

async fn api_answers_are_not_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let http = reqwest::Client::new();
    let token = app.api_token(OperatorRole::Auditor).await;
    let res = http
        .get(format!("{}/api/v1/users", app.base_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let res = http
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .json(&serde_json::json!({"username": "admin", "password": app.admin_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store", "tokens");

    // Two Authorization headers: refused, whichever is valid.
    let res = http
        .get(format!("{}/api/v1/users", app.base_url))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Bearer forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "duplicate_authorization");

    // Documentation misses are problems too.
    for path in ["/docs/no-such-page", "/docs/swagger-ui/missing.js"] {
        let res = http
            .get(format!("{}{path}", app.base_url))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_client_error(), "{path}: {}", res.status());
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    app.stop().await;
}

async fn disabling_an_operator_ends_its_tokens_for_good(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let op = app
        .client
        .create_operator(&NewOperator {
            username: "lin".into(),
            password: "violet kettle ocean 42".into(),
            role: OperatorRole::Admin,
        })
        .await
        .unwrap();
    let (lin, _) = app
        .anonymous()
        .logged_in("lin", "violet kettle ocean 42")
        .await
        .unwrap();
    let token = lin
        .create_token(&NewApiToken {
            name: "lin-automation".into(),
            role: OperatorRole::Auditor,
            expires_in_days: None,
        })
        .await
        .unwrap();
    let automation = app.anonymous().with_token(token.secret);
    automation.list_users(&[]).await.unwrap();

    for disabled in [true, false] {
        app.client
            .update_operator(
                op.id,
                &OperatorPatch {
                    role: None,
                    disabled: Some(disabled),
                },
                None,
            )
            .await
            .unwrap();
        let e = automation.list_users(&[]).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "disabled = {disabled}");
        let e = lin.list_users(&[]).await.unwrap_err();
        assert_eq!(e.status(), Some(401), "session, disabled = {disabled}");
    }
    app.stop().await;
}

async fn unknown_login_names_are_keyed_not_plain_hashes(backend: Backend) {
    use sha2::{Digest, Sha256};
    let app = TestApp::spawn(backend).await;
    for _ in 0..2 {
        app.anonymous().login("mallory", "guess").await.unwrap_err();
    }
    let events = app
        .client
        .list_audit(&[("action", "auth.login_failed")])
        .await
        .unwrap()
        .items;
    let targets: Vec<String> = events
        .iter()
        .map(|e| e.target_id.clone().unwrap())
        .collect();
    assert_eq!(targets.len(), 2);
    assert_eq!(targets[0], targets[1], "the same name, the same tag");
    let hex: String = Sha256::digest(b"mallory")[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let plain = format!("unknown:{hex}");
    assert_ne!(
        targets[0], plain,
        "a dictionary of names must not reverse it"
    );
    assert!(!targets[0].contains("mallory"));
    app.stop().await;
}

/// Sends one raw request (closing the connection after it) and returns its status and the
/// response text.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> (u16, String) {
    let mut conn = TcpStream::connect(addr(app)).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(DEADLINE, conn.read_to_end(&mut out))
        .await
        .expect("the server answered and closed")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}

fn assert_problem(status: u16, text: &str, expected: u16, code: &str) {
    assert_eq!(status, expected, "{text}");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header section");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(body["request_id"].is_string(), "{body}");
}

async fn oversized_request_heads_get_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // A request target over 8 KiB.
    let long_path = format!(
        "GET /api/v1/users?q={} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "a".repeat(9 * 1024)
    );
    let (status, text) = raw_exchange(&app, long_path.as_bytes()).await;
    assert_problem(status, &text, 414, "uri_too_long");

    // More header fields than 100 (hyper's own default limit), each small.
    let mut many = String::from("GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..150 {
        many.push_str(&format!("x-field-{i}: {i}\r\n"));
    }
    many.push_str("\r\n");
    let (status, text) = raw_exchange(&app, many.as_bytes()).await;
    assert_problem(status, &text, 431, "headers_too_large");

    // A header section over 32 KiB in a few fields.
    let big = format!(
        "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-big: {}\r\n\r\n",
        "b".repeat(40 * 1024)
    );
    let (status, text) = raw_exchange(&app, big.as_bytes()).await;
    assert_problem(status, &text, 431, "headers_too_large");

    // 100 fields in all is still served.
    let mut fine = String::from("GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for i in 0..98 {
        fine.push_str(&format!("x-field-{i}: {i}\r\n"));
    }
    fine.push_str("\r\n");
    let (status, text) = raw_exchange(&app, fine.as_bytes()).await;
    assert_eq!(status, 200, "{text}");
    app.stop().await;
}

backend_tests!(
    oversized_request_heads_get_problems,
    slow_and_silent_connections_are_closed,
    connections_per_address_are_capped,
    api_answers_are_not_stored,
    disabling_an_operator_ends_its_tokens_for_good,
    unknown_login_names_are_keyed_not_plain_hashes,
);
