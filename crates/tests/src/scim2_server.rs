//! A real SCIM 2.0 service provider on a loopback port: scim2-server (PyPI), which this
//! project did not write, for the SCIM target's tests.
//!
//! `scripts/install-scim2-server.sh` (run by `scripts/test.sh`) installs it into
//! `target/venv-scim2-server`; `CC_TEST_SCIM2_SERVER` may name another `scim2-server`
//! executable. When it is missing the test fails loudly. Each [`Scim2Server`] holds its
//! accounts in memory, accepts one bearer token, and is killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ldap::free_port;

/// The bearer token every [`Scim2Server`] accepts.
pub const TOKEN: &str = "scim-test-token-4f9d2c";

/// A running scim2-server.
pub struct Scim2Server {
    pub port: u16,
    child: Child,
    http: reqwest::Client,
}

/// The `scim2-server` executable.
///
/// # Panics
/// When it is not installed.
#[must_use]
pub fn scim2_server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("CC_TEST_SCIM2_SERVER") {
        return path.into();
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/venv-scim2-server/bin/scim2-server");
    assert!(
        path.exists(),
        "scim2-server is required for this test and is not installed at {}. Run \
         scripts/install-scim2-server.sh (scripts/test.sh does).",
        path.display()
    );
    path
}

impl Scim2Server {
    /// Starts the server on a free port and waits until it answers with the token.
    ///
    /// # Panics
    /// When it is missing or does not come up within 30 s (three ports tried).
    pub async fn start() -> Self {
        let binary = scim2_server_binary();
        let http = reqwest::Client::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&binary)
                .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
                .args(["--bearer-token", TOKEN])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
            let mut server = Self {
                port,
                child,
                http: http.clone(),
            };
            if server.wait_ready(Duration::from_secs(30)).await {
                return server;
            }
            // Exited (the port was taken a moment after we picked it): try another.
        }
        panic!("scim2-server did not come up on 127.0.0.1");
    }

    /// Waits until `ServiceProviderConfig` answers 200; `false` when the process exited.
    async fn wait_ready(&mut self, deadline: Duration) -> bool {
        let start = Instant::now();
        let url = format!("{}/ServiceProviderConfig", self.base_url());
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            let ok = self
                .http
                .get(&url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return true;
            }
            assert!(
                start.elapsed() < deadline,
                "scim2-server did not answer at {url} within {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://127.0.0.1:<port>/v2`: the SCIM base URL.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v2", self.port)
    }

    /// `GET /Users/{id}`: the account as the server holds it, `None` after a 404.
    ///
    /// # Panics
    /// On any other answer.
    pub async fn user(&self, id: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}/Users/{id}", self.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET /Users/{id}");
        match r.status().as_u16() {
            404 => None,
            200 => Some(r.json().await.expect("a User")),
            s => panic!("GET /Users/{id} answered {s}"),
        }
    }

    /// Every account whose `userName` is `user_name`.
    ///
    /// # Panics
    /// When the server does not answer with a list.
    pub async fn users_named(&self, user_name: &str) -> Vec<Value> {
        self.list(&format!("userName eq \"{user_name}\"")).await
    }

    /// Every account matching `filter`.
    ///
    /// # Panics
    /// When the server does not answer with a list.
    pub async fn list(&self, filter: &str) -> Vec<Value> {
        let r: Value = self
            .http
            .get(format!("{}/Users", self.base_url()))
            .query(&[("filter", filter)])
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET /Users")
            .json()
            .await
            .expect("a ListResponse");
        r["Resources"].as_array().cloned().unwrap_or_default()
    }

    /// Creates an account directly (an account made by someone else), returning it.
    ///
    /// # Panics
    /// When the server does not answer 201.
    pub async fn create(&self, user: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}/Users", self.base_url()))
            .bearer_auth(TOKEN)
            .header("content-type", "application/scim+json")
            .body(user.to_string())
            .send()
            .await
            .expect("POST /Users");
        assert_eq!(r.status().as_u16(), 201, "POST /Users");
        r.json().await.expect("a User")
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
