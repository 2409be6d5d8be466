//! Operator sign-in through an OpenID provider, end to end against a real one: the certified
//! `oidc-provider` package on loopback (scripts/oidc-provider/provider.mjs, installed by
//! scripts/test.sh), driven over HTTP like a browser: redirects, its login and consent forms,
//! and back to our callback.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use cc_domain::OperatorRole;
use cc_service::auth::oidc::OidcProviderConfig;
use cc_tests::{backend_tests, test_config, Backend, TestApp};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

/// The provider process (killed when dropped).
struct Provider {
    issuer: String,
    port: u16,
    _child: tokio::process::Child,
}

impl Provider {
    /// Starts the provider on `port` (0: any); a new start generates a new signing key.
    async fn start(port: u16) -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let modules = format!("{root}/target/oidc-provider/node_modules");
        assert!(
            std::path::Path::new(&format!("{modules}/oidc-provider")).exists(),
            "oidc-provider is not installed in target/oidc-provider: run scripts/test.sh (or \
             `npm install --prefix target/oidc-provider oidc-provider`)"
        );
        let mut child = tokio::process::Command::new("node")
            .arg(format!("{root}/scripts/oidc-provider/provider.mjs"))
            .env("PORT", port.to_string())
            .env("OIDC_PROVIDER_MODULES", &modules)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("node must be installed to run the OpenID provider");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let issuer = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read") {
                if let Some(i) = line.strip_prefix("ISSUER ") {
                    return i.to_owned();
                }
            }
            panic!("the OpenID provider exited before listening");
        })
        .await
        .expect("the OpenID provider did not start within 30 s");
        // Keep reading: the provider writes notices, and a closed pipe would end it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let port = issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port");
        Self {
            issuer,
            port,
            _child: child,
        }
    }

    async fn fault(&self, fault: &str) {
        let res = reqwest::Client::new()
            .post(format!("{}/_test/fault", self.issuer))
            .body(serde_json::json!({ "fault": fault }).to_string())
            .send()
            .await
            .expect("fault");
        assert_eq!(res.status(), 204);
    }
}

fn provider_config(issuer: &str) -> OidcProviderConfig {
    let mut p = OidcProviderConfig::new("test", issuer, "command-center");
    p.display_name = "District Login".into();
    p.client_secret = Some("test-secret".into());
    p.scopes = vec!["profile".into(), "email".into(), "groups".into()];
    p.roles = BTreeMap::from([
        ("cc-admins".to_owned(), OperatorRole::Admin),
        ("cc-auditors".to_owned(), OperatorRole::Auditor),
    ]);
    p
}

async fn spawn(backend: Backend, provider: &Provider, local_passwords: bool) -> TestApp {
    let mut config = test_config();
    config.auth.oidc.providers = vec![provider_config(&provider.issuer)];
    config.auth.oidc.jwks_min_refetch_secs = 0;
    config.auth.oidc.local_passwords = local_passwords;
    TestApp::spawn_console(backend, config).await
}

/// A browser without JavaScript: follows redirects by hand (to stop at our callback), keeps
/// the provider's cookies, and submits the provider's login and consent forms.
struct Browser {
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: BTreeMap::new(),
        }
    }

    fn keep_cookies(&mut self, res: &reqwest::Response) {
        for c in res.headers().get_all(SET_COOKIE) {
            let pair = c
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let res = req
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .expect("request");
        self.keep_cookies(&res);
        res
    }

    /// From `start` (a sign-in URL of ours) through the provider as `user`, to the URL of our
    /// callback the provider redirects to (not followed).
    async fn through_provider(&mut self, start: &str, user: &str) -> String {
        let mut url = start.to_owned();
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..20 {
            let req = match form.take() {
                Some(f) => self.http.post(&url).form(&f),
                None => self.http.get(&url),
            };
            let res = self.send(req).await;
            if res.status().is_redirection() {
                let next = res.headers()[LOCATION]
                    .to_str()
                    .expect("location")
                    .to_owned();
                let next = absolute(&url, &next);
                if next.contains("/callback?") {
                    return next;
                }
                url = next;
                continue;
            }
            let status = res.status();
            let body = res.text().await.expect("body");
            assert!(status.is_success(), "{url} answered {status}: {body}");
            let (action, mut fields) =
                parse_form(&body).unwrap_or_else(|| panic!("no form at {url}: {body}"));
            if body.contains("name=\"login\"") {
                fields.push(("login".into(), user.into()));
                fields.push(("password".into(), "any".into()));
            }
            url = absolute(&url, &action);
            form = Some(fields);
        }
        panic!("the sign-in did not come back to the callback");
    }
}

fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.to_owned();
    }
    let origin: String = base.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    format!("{origin}{location}")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(tag[start..end].replace("&amp;", "&").replace("&#x2F;", "/"))
}

/// The first form: its action and hidden fields.
fn parse_form(html: &str) -> Option<(String, Vec<(String, String)>)> {
    let form_at = html.find("<form")?;
    let form_end = html[form_at..].find('>')? + form_at;
    let action = attr(&html[form_at..=form_end], "action")?;
    let close = html[form_at..]
        .find("</form>")
        .map_or(html.len(), |e| e + form_at);
    let mut fields = Vec::new();
    let mut rest = &html[form_at..close];
    while let Some(i) = rest.find("<input") {
        let end = rest[i..].find('>').map_or(rest.len(), |e| e + i);
        let tag = &rest[i..=end.min(rest.len() - 1)];
        if tag.contains("type=\"hidden\"") {
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                fields.push((n, v));
            }
        }
        rest = &rest[end..];
    }
    Some((action, fields))
}

async fn api_sign_in(app: &TestApp, user: &str) -> (String, reqwest::Response) {
    let mut browser = Browser::new();
    let callback = browser
        .through_provider(
            &format!("{}/api/v1/auth/oidc/test/authorize", app.base_url),
            user,
        )
        .await;
    let res = browser.send(browser.http.get(&callback)).await;
    (callback, res)
}

async fn problem_code(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("problem json");
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn audit_actions(app: &TestApp) -> Vec<Value> {
    let res: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/audit?limit=100", app.base_url))
        .bearer_auth(app.client.token().expect("admin token"))
        .send()
        .await
        .expect("audit")
        .json()
        .await
        .expect("json");
    res["items"].as_array().cloned().unwrap_or_default()
}

async fn me(app: &TestApp, access_token: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}/api/v1/auth/me", app.base_url))
        .bearer_auth(access_token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json")
}

async fn sign_in_creates_the_operator_once_and_a_state_works_once(backend: Backend) {
    let provider = Provider::start(0).await;
    let app = spawn(backend, &provider, true).await;

    let (callback, res) = api_sign_in(&app, "alice").await;
    assert_eq!(res.status(), 200);
    let tokens: Value = res.json().await.expect("tokens");
    assert_eq!(tokens["token_type"], "Bearer");
    let who = me(&app, tokens["access_token"].as_str().expect("access")).await;
    assert_eq!(who["username"], "alice");
    assert_eq!(who["role"], "admin");
    assert_eq!(who["kind"], "session");

    // The refresh token works like a password login's.
    let refreshed = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/refresh", app.base_url))
        .json(&serde_json::json!({"refresh_token": tokens["refresh_token"]}))
        .send()
        .await
        .expect("refresh");
    assert_eq!(refreshed.status(), 200);

    // The same callback again (its state and code, hence its nonce): refused.
    let replay = Browser::new()
        .http
        .get(&callback)
        .send()
        .await
        .expect("replay");
    assert_eq!(
        problem_code(replay).await,
        (400, "oidc_state_invalid".into())
    );

    // A second sign-in finds the linked operator.
    let (_, again) = api_sign_in(&app, "alice").await;
    assert_eq!(again.status(), 200);
    let events = audit_actions(&app).await;
    let created: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "operator.create")
        .collect();
    assert_eq!(created.len(), 1, "{events:?}");
    assert_eq!(created[0]["actor"], "oidc:test");
    assert_eq!(created[0]["after"]["subject"], "alice");
    let logins = events
        .iter()
        .filter(|e| e["action"] == "auth.login" && e["after"]["provider"] == "test")
        .count();
    assert_eq!(logins, 2);
    // No secret of the flow is in the audit trail.
    let text = serde_json::to_string(&events).expect("json");
    assert!(!text.contains(tokens["access_token"].as_str().expect("t")));
    assert!(!text.contains("test-secret"));

    // Auditor mapping, and a role that exists only at the provider is not created.
    let (_, bob) = api_sign_in(&app, "bob").await;
    let bob: Value = bob.json().await.expect("json");
    assert_eq!(
        me(&app, bob["access_token"].as_str().expect("t")).await["role"],
        "auditor"
    );
}

async fn an_unmapped_user_is_refused_with_a_clear_page(backend: Backend) {
    let provider = Provider::start(0).await;
    let app = spawn(backend, &provider, true).await;

    let (_, res) = api_sign_in(&app, "mallory").await;
    assert_eq!(problem_code(res).await, (403, "oidc_unmapped".into()));

    // In the console: a page that says why, under 403.
    let mut browser = Browser::new();
    let callback = browser
        .through_provider(
            &format!("{}/login/oidc/test?next=/people", app.base_url),
            "mallory",
        )
        .await;
    let res = browser.send(browser.http.get(&callback)).await;
    assert_eq!(res.status(), 403);
    let page = res.text().await.expect("page");
    assert!(page.contains("not allowed to use Command Center"), "{page}");
    assert!(page.contains("Sign in with District Login"), "{page}");

    let events = audit_actions(&app).await;
    assert!(events
        .iter()
        .any(|e| e["action"] == "auth.login_failed" && e["after"]["reason"] == "oidc_unmapped"));
    let ops = app.store.auth().list_operators().await.expect("operators");
    assert!(ops.iter().all(|o| o.username != "mallory"));
}

async fn tampered_id_tokens_are_refused(backend: Backend) {
    let provider = Provider::start(0).await;
    let app = spawn(backend, &provider, true).await;
    for fault in ["wrong_audience", "expired", "bad_signature"] {
        provider.fault(fault).await;
        let (_, res) = api_sign_in(&app, "alice").await;
        assert_eq!(
            problem_code(res).await,
            (401, "oidc_token_invalid".into()),
            "{fault}"
        );
    }
    let events = audit_actions(&app).await;
    let details: Vec<String> = events
        .iter()
        .filter(|e| e["after"]["reason"] == "oidc_token_invalid")
        .map(|e| e["after"]["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        details.iter().any(|d| d.contains("another client")),
        "{details:?}"
    );
    assert!(details.iter().any(|d| d.contains("expired")), "{details:?}");
    assert!(
        details.iter().any(|d| d.contains("signature")),
        "{details:?}"
    );
    assert!(app
        .store
        .auth()
        .list_operators()
        .await
        .expect("ops")
        .iter()
        .all(|o| o.username != "alice"));

    provider.fault("none").await;
    let (_, res) = api_sign_in(&app, "alice").await;
    assert_eq!(res.status(), 200);
}

async fn a_key_rotation_at_the_provider_is_followed(backend: Backend) {
    let provider = Provider::start(0).await;
    let app = spawn(backend, &provider, true).await;
    let (_, res) = api_sign_in(&app, "alice").await;
    assert_eq!(res.status(), 200);

    // The provider starts again on the same address with a new signing key.
    let port = provider.port;
    drop(provider);
    let rotated = cc_tests::wait_for(
        "the provider to start again",
        Duration::from_secs(30),
        || async {
            let p = tokio::time::timeout(Duration::from_secs(10), Provider::start(port))
                .await
                .ok()?;
            Some(p)
        },
    )
    .await;
    let (_, res) = api_sign_in(&app, "alice").await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    drop(rotated);
}

async fn the_console_signs_in_with_its_cookie(backend: Backend) {
    let provider = Provider::start(0).await;
    let app = spawn(backend, &provider, false).await;

    let login_page = reqwest::get(format!("{}/login", app.base_url))
        .await
        .expect("login")
        .text()
        .await
        .expect("page");
    assert!(login_page.contains("Sign in with District Login"));
    assert!(
        !login_page.contains("type=\"password\""),
        "the password form is hidden"
    );

    let mut browser = Browser::new();
    let callback = browser
        .through_provider(
            &format!("{}/login/oidc/test?next=/people", app.base_url),
            "alice",
        )
        .await;
    // A console state is refused at the API's callback.
    let api_callback = callback.replace(
        "/login/oidc/test/callback",
        "/api/v1/auth/oidc/test/callback",
    );
    let wrong = Browser::new()
        .http
        .get(&api_callback)
        .send()
        .await
        .expect("wrong");
    assert_eq!(
        problem_code(wrong).await,
        (400, "oidc_state_invalid".into())
    );

    let mut browser = Browser::new();
    let callback = browser
        .through_provider(
            &format!("{}/login/oidc/test?next=/people", app.base_url),
            "alice",
        )
        .await;
    let res = browser.send(browser.http.get(&callback)).await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.expect("page");
    assert!(page.contains("url=/people"), "{page}");
    assert!(browser.cookies.contains_key("cc_session"));
    let people = browser
        .send(browser.http.get(format!("{}/people", app.base_url)))
        .await;
    assert_eq!(people.status(), 200);

    // Local passwords are off.
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", app.base_url))
        .json(&serde_json::json!({"username": "admin", "password": app.admin_password}))
        .send()
        .await
        .expect("login");
    assert_eq!(
        problem_code(res).await,
        (403, "local_passwords_disabled".into())
    );
}

backend_tests!(
    sign_in_creates_the_operator_once_and_a_state_works_once,
    an_unmapped_user_is_refused_with_a_clear_page,
    tampered_id_tokens_are_refused,
    a_key_rotation_at_the_provider_is_followed,
    the_console_signs_in_with_its_cookie,
);
