//! Browser tests in real headless Chromium, driven through WebDriver (chromedriver).
//!
//! [`Browser::start`] starts `chromedriver` on a free loopback port and a headless Chromium
//! session with its own profile, pointed at a running [`crate::TestApp`] (start it with
//! [`crate::TestApp::spawn_console`]). Every wait has a deadline and polls the DOM; nothing
//! sleeps for a fixed time. The browser's console log and every request the pages make are
//! collected as the test goes (Chromium's browser and performance logs), and
//! [`Browser::finish`] fails the test on any console error or any request to an origin other
//! than the app's.
//!
//! Needs Debian's `chromium` and `chromium-driver` (installed by `scripts/test.sh`); the
//! accessibility scan needs `axe-core`, installed at test time into `target/axe` with npm
//! (see [`Browser::axe_check`]). Either missing fails the test with a message saying so.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// The longest any single wait takes before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(15);

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// A plain HTTP client that does not follow redirects (to see them), for requests made
/// outside the browser.
///
/// # Panics
/// Never in practice (the client's settings are fixed).
#[must_use]
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client")
}

/// Signs in through the console's form over plain HTTP; returns the `Cookie` header value of
/// the new session.
///
/// # Panics
/// When the sign-in is refused.
pub async fn http_sign_in(base_url: &str, username: &str, password: &str) -> String {
    let res = http()
        .post(format!("{base_url}/login"))
        .form(&[("username", username), ("password", password)])
        .send()
        .await
        .expect("the server answers");
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "signed in");
    res.headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("the session cookie")
        .to_owned()
}

/// The CSRF token of the console page at `path` as the session in `cookie` sees it.
///
/// # Panics
/// When the page does not carry one.
pub async fn http_csrf_token(base_url: &str, cookie: &str, path: &str) -> String {
    let html = http()
        .get(format!("{base_url}{path}"))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .expect("a page");
    let start = html
        .find("name=\"cc-csrf\" content=\"")
        .map(|i| i + "name=\"cc-csrf\" content=\"".len())
        .expect("the page's CSRF token");
    html[start..]
        .split('"')
        .next()
        .expect("the token")
        .to_owned()
}

/// A headless Chromium session against one app.
pub struct Browser {
    pub client: fantoccini::Client,
    base_url: String,
    driver_url: String,
    session_id: String,
    http: reqwest::Client,
    _driver: Child,
    _profile: tempfile::TempDir,
    console_errors: Vec<String>,
    origins: BTreeSet<String>,
    requests: Vec<String>,
}

/// Whether the page runs scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    Enabled,
    Disabled,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

/// The origin of a URL that reaches a network (`data:`, `blob:` and the browser's own
/// `chrome://` pages, such as the blank tab it starts with, reach none).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if matches!(scheme, "chrome" | "chrome-untrusted" | "devtools") {
        return None;
    }
    let host = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{host}"))
}

impl Browser {
    /// A session with scripts enabled.
    ///
    /// # Panics
    /// When chromedriver or Chromium is missing or does not start.
    pub async fn start(base_url: &str) -> Self {
        Self::launch(base_url, Scripts::Enabled).await
    }

    /// A session of a browser that runs no JavaScript.
    ///
    /// # Panics
    /// When chromedriver or Chromium is missing or does not start.
    pub async fn start_without_javascript(base_url: &str) -> Self {
        Self::launch(base_url, Scripts::Disabled).await
    }

    async fn launch(base_url: &str, scripts: Scripts) -> Self {
        assert!(
            Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
            "browser tests need Debian's chromium and chromium-driver \
             ({CHROMIUM}, {CHROMEDRIVER}); scripts/test.sh installs them"
        );
        let (driver, driver_url) = start_driver().await;
        let profile = tempfile::tempdir().expect("a browser profile directory");
        let mut prefs = json!({});
        if scripts == Scripts::Disabled {
            prefs = json!({"profile.managed_default_content_settings.javascript": 2});
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,900", "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-default-apps",
                    "--metrics-recording-only", "--force-color-profile=srgb",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": prefs,
            },
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .expect("a Chromium session through chromedriver");
        let session_id = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session id");
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            driver_url,
            session_id,
            http: reqwest::Client::new(),
            _driver: driver,
            _profile: profile,
            console_errors: Vec::new(),
            origins: BTreeSet::new(),
            requests: Vec::new(),
        }
    }

    /// The app's URL for `path`.
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Opens `path` and waits until the document has loaded.
    ///
    /// # Panics
    /// When the browser cannot navigate.
    pub async fn goto(&mut self, path: &str) {
        let url = self.url(path);
        self.client.goto(&url).await.expect("navigate");
        self.collect_logs().await;
    }

    /// The path (and query) of the current page.
    ///
    /// # Panics
    /// When the browser does not answer.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        let s = url.as_str();
        s.strip_prefix(&self.base_url).unwrap_or(s).to_owned()
    }

    /// Signs in through the form and waits to land on `/` (or wherever the form sends).
    ///
    /// # Panics
    /// When sign-in fails.
    pub async fn sign_in(&mut self, username: &str, password: &str) {
        self.submit_sign_in(username, password).await;
        self.wait_until("leaving the sign-in page", |b| async move {
            (!b.path().await.starts_with("/login")).then_some(())
        })
        .await;
        self.collect_logs().await;
    }

    /// Fills and submits the sign-in form without waiting for the outcome.
    ///
    /// # Panics
    /// When the form is not there.
    pub async fn submit_sign_in(&mut self, username: &str, password: &str) {
        if !self.path().await.starts_with("/login") {
            self.goto("/login").await;
        }
        let form = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css("form[action='/login']"))
            .await
            .expect("the sign-in form");
        let user = form
            .find(Locator::Css("#username"))
            .await
            .expect("name field");
        user.clear().await.expect("clear");
        user.send_keys(username).await.expect("type the name");
        form.find(Locator::Css("#password"))
            .await
            .expect("password field")
            .send_keys(password)
            .await
            .expect("type the password");
        form.find(Locator::Css("button[type='submit']"))
            .await
            .expect("submit button")
            .click()
            .await
            .expect("submit");
    }

    /// Polls `check` (every 50 ms) until it returns `Some`, failing after [`DEADLINE`].
    ///
    /// # Panics
    /// When the deadline passes; `what` says what was awaited.
    pub async fn wait_until<'a, T, F, Fut>(&'a self, what: &str, mut check: F) -> T
    where
        F: FnMut(&'a Self) -> Fut,
        Fut: std::future::Future<Output = Option<T>> + 'a,
    {
        self.wait_until_for(what, DEADLINE, &mut check).await
    }

    /// [`Browser::wait_until`] with its own deadline.
    ///
    /// # Panics
    /// When the deadline passes.
    pub async fn wait_until_for<'a, T, F, Fut>(
        &'a self,
        what: &str,
        deadline: Duration,
        check: &mut F,
    ) -> T
    where
        F: FnMut(&'a Self) -> Fut,
        Fut: std::future::Future<Output = Option<T>> + 'a,
    {
        let start = Instant::now();
        loop {
            if let Some(v) = check(self).await {
                return v;
            }
            if start.elapsed() >= deadline {
                let main = self.text("main").await.unwrap_or_default();
                panic!(
                    "timed out after {deadline:?} waiting for {what} (page {}, showing:\n{main})",
                    self.path().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text of the first element matching `css`, if there is one.
    pub async fn text(&self, css: &str) -> Option<String> {
        let el = self.client.find(Locator::Css(css)).await.ok()?;
        el.text().await.ok()
    }

    /// An attribute of the first element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        let el = self.client.find(Locator::Css(css)).await.ok()?;
        el.attr(name).await.ok().flatten()
    }

    /// Clicks the first element matching `css` (waiting for it to appear).
    ///
    /// # Panics
    /// When there is no such element within [`DEADLINE`].
    pub async fn click(&mut self, css: &str) {
        let start = Instant::now();
        loop {
            let el = self
                .client
                .wait()
                .at_most(DEADLINE)
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|e| panic!("no {css} to click: {e}"));
            match el.click().await {
                Ok(_) => return,
                // A live page swapped its content between finding the element and
                // clicking it: find it again in the new content, as a person would.
                Err(fantoccini::error::CmdError::Standard(e))
                    if e.error == fantoccini::error::ErrorStatus::StaleElementReference
                        && start.elapsed() < DEADLINE => {}
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Starts a browser at `path`, signs in there as `username` and waits to be back on it
    /// (the sign-in form brings a signed-out visitor back to where they were going).
    ///
    /// # Panics
    /// When the browser does not start or sign-in fails.
    pub async fn signed_in(base_url: &str, username: &str, password: &str, path: &str) -> Self {
        let mut b = Self::start(base_url).await;
        b.goto(path).await;
        b.sign_in(username, password).await;
        let want = path.to_owned();
        b.wait_until("the page signed in", |b| {
            let want = want.clone();
            async move { (b.path().await == want).then_some(()) }
        })
        .await;
        b
    }

    /// Clears the field matching `css` (waiting for it) and types `text` into it.
    ///
    /// # Panics
    /// When there is no such field within [`DEADLINE`].
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self
            .client
            .wait()
            .at_most(DEADLINE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} to fill: {e}"));
        el.clear().await.expect("clear");
        el.send_keys(text).await.expect("type");
    }

    /// The `Cookie` header that carries this browser's console session (for requests made
    /// outside the browser).
    ///
    /// # Panics
    /// When the browser is not signed in.
    pub async fn session_cookie(&self) -> String {
        let value = self.cookie("cc_session").await.expect("signed in");
        format!("cc_session={value}")
    }

    /// The page's CSRF token (its `meta[name=cc-csrf]`).
    ///
    /// # Panics
    /// When the page has none (not signed in).
    pub async fn csrf_token(&self) -> String {
        self.attr("meta[name='cc-csrf']", "content")
            .await
            .expect("a signed-in page's CSRF token")
    }

    /// Waits until the page follows the event stream (the script marks `body[data-live]`).
    ///
    /// # Panics
    /// When it does not within [`DEADLINE`].
    pub async fn wait_for_live(&self) {
        self.wait_until("the event stream to open", |b| async move {
            (b.attr("body", "data-live").await.as_deref() == Some("true")).then_some(())
        })
        .await;
    }

    /// The value of a cookie of the app's origin (`HttpOnly` ones too: WebDriver sees them).
    pub async fn cookie(&self, name: &str) -> Option<String> {
        let c = self.client.get_named_cookie(name).await.ok()?;
        Some(c.value().to_owned())
    }

    /// Whether an element matches `css`.
    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// Waits until the element matching `css` contains `needle`; returns its text.
    ///
    /// # Panics
    /// When it does not within [`DEADLINE`].
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let what = format!("{css} to contain {needle:?}");
        self.wait_until(&what, |b| async move {
            b.text(css).await.filter(|t| t.contains(needle))
        })
        .await
    }

    /// Runs `script` in the page and returns its value.
    ///
    /// # Panics
    /// When the script throws.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .await
            .expect("script runs")
    }

    /// Scans the page with axe-core and fails on any `serious` or `critical` violation.
    ///
    /// # Panics
    /// When axe-core cannot be installed or finds such a violation.
    pub async fn axe_check(&mut self, page: &str) {
        let source = axe_source();
        self.client
            .execute(&format!("{source}\n;return true;"), Vec::new())
            .await
            .expect("inject axe-core");
        let out = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                   .then(r => done(JSON.stringify(r.violations.map(v => ({
                     id: v.id, impact: v.impact, help: v.help,
                     nodes: v.nodes.map(n => n.target.join(' ')) })))))
                   .catch(e => done('axe failed: ' + e));",
                Vec::new(),
            )
            .await
            .expect("run axe-core");
        let text = out.as_str().unwrap_or_default();
        let violations: Vec<Value> = serde_json::from_str(text)
            .unwrap_or_else(|_| panic!("axe-core did not run on {page}: {text}"));
        let bad: Vec<&Value> = violations
            .iter()
            .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
            .collect();
        assert!(
            bad.is_empty(),
            "accessibility violations on {page}:\n{}",
            serde_json::to_string_pretty(&bad).unwrap_or_default()
        );
        self.collect_logs().await;
    }

    /// Saves a screenshot as `docs/console/<name>.png` when `CC_CONSOLE_SCREENSHOTS=1`.
    ///
    /// # Panics
    /// When the screenshot cannot be taken or written.
    pub async fn screenshot(&self, name: &str) {
        if std::env::var("CC_CONSOLE_SCREENSHOTS").as_deref() != Ok("1") {
            return;
        }
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = workspace_root().join("docs/console");
        std::fs::create_dir_all(&dir).expect("docs/console");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
    }

    /// Reads (and drains) the browser's console and network logs since the last call.
    pub async fn collect_logs(&mut self) {
        for entry in self.log("browser").await {
            let level = entry["level"].as_str().unwrap_or("");
            if level == "SEVERE" {
                let message = entry["message"].as_str().unwrap_or("").to_owned();
                self.console_errors.push(message);
            }
        }
        for entry in self.log("performance").await {
            let Some(message) = entry["message"].as_str() else {
                continue;
            };
            let Ok(m) = serde_json::from_str::<Value>(message) else {
                continue;
            };
            if m["message"]["method"] == "Network.requestWillBeSent" {
                if let Some(url) = m["message"]["params"]["request"]["url"].as_str() {
                    self.requests.push(url.to_owned());
                    if let Some(o) = origin_of(url) {
                        self.origins.insert(o);
                    }
                }
            }
        }
    }

    async fn log(&self, kind: &str) -> Vec<Value> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session_id);
        let res = self
            .http
            .post(&url)
            .json(&json!({ "type": kind }))
            .send()
            .await
            .expect("read the browser log");
        let body: Value = res.json().await.expect("the log as JSON");
        body["value"].as_array().cloned().unwrap_or_default()
    }

    /// Console errors seen so far (and clears them), for tests that expect some.
    pub async fn take_console_errors(&mut self) -> Vec<String> {
        self.collect_logs().await;
        std::mem::take(&mut self.console_errors)
    }

    /// Every URL the pages requested so far.
    #[must_use]
    pub fn requests(&self) -> &[String] {
        &self.requests
    }

    /// Ends the session; fails on any console error or any request to another origin.
    ///
    /// # Panics
    /// On console errors or foreign origins.
    pub async fn finish(mut self) {
        self.collect_logs().await;
        let own = origin_of(&self.base_url).unwrap_or_default();
        let foreign: Vec<&String> = self.origins.iter().filter(|o| **o != own).collect();
        let errors = std::mem::take(&mut self.console_errors);
        let _ = self.client.clone().close().await;
        assert!(
            foreign.is_empty(),
            "pages requested other origins: {foreign:?}"
        );
        assert!(errors.is_empty(), "browser console errors: {errors:#?}");
        assert!(
            !self.requests.is_empty(),
            "the network log recorded no request at all"
        );
    }
}

/// Starts chromedriver on a free loopback port and waits until it answers.
async fn start_driver() -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    crate::wait_for("chromedriver to answer", DEADLINE, || {
        let http = http.clone();
        let status = format!("{url}/status");
        async move {
            let res = http.get(&status).send().await.ok()?;
            let v: Value = res.json().await.ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r).map(|_| ())
        }
    })
    .await;
    (child, url)
}

/// axe-core's source, installed with npm into `target/axe` on first use.
fn axe_source() -> String {
    static SOURCE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SOURCE
        .get_or_init(|| {
            let prefix = workspace_root().join("target/axe");
            let file = prefix.join("node_modules/axe-core/axe.min.js");
            if !file.exists() {
                let status = std::process::Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                    .arg(&prefix)
                    .arg("axe-core")
                    .status()
                    .expect("npm (to install axe-core for the accessibility scan)");
                assert!(status.success(), "npm install axe-core failed");
            }
            std::fs::read_to_string(&file).expect("axe-core's axe.min.js")
        })
        .clone()
}
