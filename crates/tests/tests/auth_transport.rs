//! Transport: TLS served by the app (with HSTS, and a renewed certificate picked up without a
//! restart), the client address behind trusted proxies, security headers, CORS.

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use cc_tests::{backend_tests, test_config, wait_for, Backend, TestApp, TestDb};
use reqwest::Method;

/// A self-signed certificate for 127.0.0.1, written as `<name>.crt` / `<name>.key`.
fn make_cert(dir: &Path, name: &str) -> (Vec<u8>, Vec<u8>) {
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args(["-subj", &format!("/CN={name}")])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args([
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-addext",
            "keyUsage=digitalSignature",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .output()
        .expect("openssl is required for the TLS tests (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (std::fs::read(crt).unwrap(), std::fs::read(key).unwrap())
}

/// An HTTPS client trusting only `cert`, opening a new connection for every request.
fn trusting(cert: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert).unwrap())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

async fn serves_tls_with_hsts_and_reloads_a_renewed_certificate(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = make_cert(dir.path(), "first");
    let (cert_b, key_b) = make_cert(dir.path(), "second");
    let cert_path = dir.path().join("server.crt");
    let key_path = dir.path().join("server.key");
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();

    let db = TestDb::new(backend).await;
    let mut config = test_config();
    config.hsts = true;
    let state = cc_api::AppState::new(db.store().await, config);
    let server = cc_api::Server::bind("127.0.0.1:0", state)
        .await
        .unwrap()
        .with_tls(cc_api::tls::TlsFiles {
            cert: cert_path.clone(),
            key: key_path.clone(),
            reload_interval: Duration::from_millis(100),
        });
    let url = format!(
        "https://127.0.0.1:{}/health/live",
        server.local_addr().unwrap().port()
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(server.run(async move { token.cancelled().await }));

    let a = trusting(&cert_a);
    let b = trusting(&cert_b);
    let res = wait_for("the TLS server", Duration::from_secs(10), || async {
        a.get(&url).send().await.ok()
    })
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    assert!(
        b.get(&url).send().await.is_err(),
        "the second certificate is not served yet"
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reqwest::get(url.replace("https", "http")).await;
    assert!(plain.map(|r| !r.status().is_success()).unwrap_or(true));

    // Renewal: new files are picked up without a restart.
    std::fs::write(&key_path, &key_b).unwrap();
    std::fs::write(&cert_path, &cert_b).unwrap();
    wait_for(
        "the renewed certificate",
        Duration::from_secs(10),
        || async { b.get(&url).send().await.ok() },
    )
    .await;
    assert!(
        a.get(&url).send().await.is_err(),
        "the first certificate is no longer served"
    );
    // A broken renewal keeps the current certificate (observed over several reload periods).
    std::fs::write(&cert_path, b"not a certificate").unwrap();
    let since = std::time::Instant::now();
    while since.elapsed() < Duration::from_millis(600) {
        assert_eq!(b.get(&url).send().await.unwrap().status(), 200);
    }
    stop.cancel();
    handle.await.unwrap().unwrap();
}

async fn client_address_comes_from_trusted_proxies_only(backend: Backend) {
    let limited = |trusted: Vec<ipnet::IpNet>| {
        let mut c = test_config();
        c.trusted_proxies = trusted;
        c.rate_limit.enabled = true;
        c.rate_limit.per_address_per_minute = 3;
        c
    };
    let get = |app: &TestApp, xff: &'static str| {
        let rb = app
            .client
            .request(Method::GET, "/api/v1/users")
            .header("x-forwarded-for", xff);
        async move { rb.send().await.unwrap().status().as_u16() }
    };
    // Behind a trusted proxy: each forwarded client has its own budget.
    let app = TestApp::spawn_with(
        backend,
        limited(vec!["127.0.0.1/32".parse().unwrap()]),
        None,
    )
    .await;
    for _ in 0..3 {
        assert_eq!(get(&app, "203.0.113.1").await, 200);
    }
    assert_eq!(get(&app, "203.0.113.1").await, 429);
    assert_eq!(get(&app, "198.51.100.20, 203.0.113.2").await, 200);
    // The client address is what failed logins record.
    let res = app
        .anonymous()
        .request(Method::POST, "/api/v1/auth/login")
        .header("x-forwarded-for", "192.0.2.44")
        .json(&serde_json::json!({"username": "admin", "password": "wrong password 123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let failed = app
        .client
        .list_audit(&[("action", "auth.login_failed")])
        .await
        .unwrap();
    assert_eq!(
        failed.items[0].after.as_ref().unwrap()["client_addr"],
        "192.0.2.44"
    );
    app.stop().await;

    // Untrusted peer: X-Forwarded-For is ignored, so it cannot dodge the limit.
    let app = TestApp::spawn_with(backend, limited(vec![]), None).await;
    let mut statuses = Vec::new();
    for xff in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        statuses.push(get(&app, xff).await);
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "every request counts against the proxy's own address"
    );
    app.stop().await;
}

async fn security_headers_and_cors(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .client
        .request(Method::GET, "/api/v1/users")
        .send()
        .await
        .unwrap();
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(
        h["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    let docs = app
        .anonymous()
        .request(Method::GET, "/docs/")
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 200);
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = docs.text().await.unwrap();
    assert!(
        !html.contains("<script>"),
        "Swagger UI must not need inline scripts: {html}"
    );
    // No CORS by default.
    let preflight = |app: &TestApp, origin: &'static str| {
        let rb = app
            .anonymous()
            .request(Method::OPTIONS, "/api/v1/users")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization");
        async move { rb.send().await.unwrap() }
    };
    let res = preflight(&app, "https://evil.example").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    app.stop().await;

    let mut config = test_config();
    config.cors_allowed_origins = vec!["https://admin.example.org".into()];
    let app = TestApp::spawn_with(backend, config, None).await;
    let res = preflight(&app, "https://admin.example.org").await;
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://admin.example.org"
    );
    assert!(res.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .contains("authorization"));
    let res = preflight(&app, "https://evil.example").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    app.stop().await;
}

/// A TLS client trusting only `cert`, for holding connections open by hand.
fn tls_connector(cert: &[u8]) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(cert).unwrap())
        .unwrap();
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// Connects and completes a TLS handshake within two seconds.
async fn handshake(
    connector: &tokio_rustls::TlsConnector,
    addr: std::net::SocketAddr,
) -> Option<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    tokio::time::timeout(Duration::from_secs(2), connector.connect(name, tcp))
        .await
        .ok()?
        .ok()
}

/// With TLS, one address may hold only `connections_per_address` connections (the next
/// is closed before its handshake completes), and a connection that never completes its
/// handshake is closed after the handshake timeout.
async fn tls_connections_are_capped_and_handshakes_bounded(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path(), "server");
    std::fs::write(dir.path().join("server.crt"), &cert).unwrap();
    std::fs::write(dir.path().join("server.key"), &key).unwrap();
    let db = TestDb::new(backend).await;
    let mut config = test_config();
    config.connections.connections_per_address = 2;
    config.connections.tls_handshake_timeout = Duration::from_millis(500);
    config.connections.header_read_timeout = Duration::from_secs(60);
    let state = cc_api::AppState::new(db.store().await, config);
    let server = cc_api::Server::bind("127.0.0.1:0", state)
        .await
        .unwrap()
        .with_tls(cc_api::tls::TlsFiles {
            cert: dir.path().join("server.crt"),
            key: dir.path().join("server.key"),
            reload_interval: Duration::from_secs(60),
        });
    let addr = server.local_addr().unwrap();
    let stop = tokio_util::sync::CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(server.run(async move { token.cancelled().await }));
    let connector = tls_connector(&cert);
    let closed_within = |secs: u64| {
        move |mut conn: tokio::net::TcpStream| async move {
            let mut buf = [0u8; 64];
            tokio::time::timeout(Duration::from_secs(secs), async {
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            })
            .await
            .is_ok()
        }
    };

    // A silent connection (the only one, so no cap applies) is closed at the handshake
    // timeout, well before the header-read timeout.
    let silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let started = std::time::Instant::now();
    assert!(
        closed_within(10)(silent).await,
        "a silent connection stayed open"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    // So is one that stalls in the middle of its handshake.
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();
    assert!(
        closed_within(10)(stalled).await,
        "a stalled handshake stayed open"
    );

    // Two completed connections fill the address's places; a third is closed unanswered.
    let first = wait_for("the TLS server", Duration::from_secs(10), || {
        handshake(&connector, addr)
    })
    .await;
    let mut second = handshake(&connector, addr)
        .await
        .expect("a second connection");
    wait_for("the cap to apply", Duration::from_secs(10), || async {
        handshake(&connector, addr).await.is_none().then_some(())
    })
    .await;
    // The held connections still work.
    second
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    second.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // A freed place is available again.
    drop(first);
    wait_for("a freed place", Duration::from_secs(10), || {
        handshake(&connector, addr)
    })
    .await;
    stop.cancel();
    drop(second);
    handle.await.unwrap().unwrap();
}

backend_tests!(
    tls_connections_are_capped_and_handshakes_bounded,
    serves_tls_with_hsts_and_reloads_a_renewed_certificate,
    client_address_comes_from_trusted_proxies_only,
    security_headers_and_cors,
);
