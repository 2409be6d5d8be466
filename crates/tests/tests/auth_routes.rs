//! Every route answers as the permission table declares: without credentials 401 (public routes
//! excepted), with a role below the required one 403, with the required role neither.
//!
//! The routes come from the running server's own `/openapi.json` plus the table's non-API routes
//! (health, docs, OpenAPI, metrics), so routes added later are covered without touching this
//! file; an API route missing from the table fails here. The console's pages and forms are
//! walked the same way on a server that serves the console, signed in with each role's
//! session cookie (and CSRF token).

// A failed unwrap is a test failure with its location; that is the report we want.
#![allow(clippy::unwrap_used)]

use cc_api::{Access, PERMISSIONS};
use cc_domain::OperatorRole;
use cc_tests::{backend_tests, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// One operation to probe.
#[derive(Debug, Clone)]
struct Op {
    method: Method,
    /// As declared (`/api/v1/users/{id}`).
    template: String,
    /// With parameters filled in.
    path: String,
    access: Access,
}

/// Fills `{param}` and `{*rest}` segments with values that parse but name nothing.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with("{*") {
                "index.html".to_owned()
            } else if seg.starts_with('{') {
                uuid::Uuid::nil().to_string()
            } else {
                seg.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn declared(method: &Method, template: &str) -> Option<Access> {
    PERMISSIONS
        .iter()
        .find(|p| p.method == method.as_str() && p.path == template)
        .map(|p| p.access)
}

/// The operations in the server's OpenAPI document, each with its declared access; panics
/// listing every operation the table does not declare or declares differently from the document.
async fn documented_operations(app: &TestApp) -> Vec<Op> {
    let doc: Value = app
        .anonymous()
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    let mut ops = Vec::new();
    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let template = if path.starts_with("/health") {
            path.clone()
        } else {
            format!("/api/v1{path}")
        };
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let Some(access) = declared(&method, &template) else {
                problems.push(format!(
                    "{method} {template} is not in the permission table"
                ));
                continue;
            };
            let role = op["x-required-role"].as_str().unwrap_or("(none)");
            if role != cc_api::auth::permissions::describe(access) {
                problems.push(format!(
                    "{method} {template}: x-required-role is {role}, the table says {access:?}"
                ));
            }
            let security = &op["security"];
            let public_security = security
                .as_array()
                .is_some_and(|s| s.len() == 1 && s[0] == serde_json::json!({}));
            if (access == Access::Public) != public_security {
                problems.push(format!(
                    "{method} {template}: security {security} does not match {access:?}"
                ));
            }
            ops.push(Op {
                path: concrete(&template),
                template: template.clone(),
                method,
                access,
            });
        }
    }
    for p in PERMISSIONS.iter().filter(|p| p.path.starts_with("/api/")) {
        if !ops
            .iter()
            .any(|o| o.method.as_str() == p.method && o.template == p.path)
        {
            problems.push(format!(
                "{} {} is in the permission table but not in the OpenAPI document",
                p.method, p.path
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "permission table and routes disagree:\n{}",
        problems.join("\n")
    );
    ops
}

/// The table's routes outside the API (probes, docs, metrics) that this server has.
async fn other_routes(app: &TestApp) -> Vec<Op> {
    let mut ops = Vec::new();
    for p in PERMISSIONS
        .iter()
        .filter(|p| !p.path.starts_with("/api/") && !p.path.starts_with("/health"))
    {
        let method: Method = p.method.parse().expect("method");
        let path = concrete(p.path);
        // A declared route this build does not serve yet (e.g. /metrics before it exists).
        let probe = app
            .client
            .request(method.clone(), &path)
            .send()
            .await
            .expect("probe");
        let body: Value = probe.json().await.unwrap_or(Value::Null);
        if body["code"] == "not_found" {
            eprintln!(
                "note: {} {} is declared but not served by this build",
                p.method, p.path
            );
            continue;
        }
        ops.push(Op {
            method,
            template: p.path.to_owned(),
            path,
            access: p.access,
        });
    }
    ops
}

async fn status_of(client: &cc_client::Client, op: &Op) -> StatusCode {
    let mut rb = client.request(op.method.clone(), &op.path);
    if matches!(op.method, Method::POST | Method::PUT | Method::PATCH) {
        rb = rb.json(&serde_json::json!({}));
    }
    rb.send().await.expect("the server answers").status()
}

async fn every_route_answers_as_declared(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ops = documented_operations(&app).await;
    ops.extend(other_routes(&app).await);
    assert!(ops.len() >= 40, "only {} operations found", ops.len());
    // Logging out ends the session the role clients use: probe it last.
    ops.sort_by_key(|o| o.template == "/api/v1/auth/logout");

    let anonymous = app.anonymous();
    let clients = [
        (
            OperatorRole::Auditor,
            app.client_as(OperatorRole::Auditor).await,
        ),
        (
            OperatorRole::Operator,
            app.client_as(OperatorRole::Operator).await,
        ),
        (
            OperatorRole::Admin,
            app.client_as(OperatorRole::Admin).await,
        ),
        // SCIM clients may call the SCIM endpoint and nothing else.
        (
            OperatorRole::Scim,
            app.anonymous()
                .with_token(app.api_token(OperatorRole::Scim).await),
        ),
    ];
    let metrics_token = "not-configured";
    let mut failures = Vec::new();
    for op in &ops {
        let name = format!("{} {}", op.method, op.template);
        let unauth = status_of(&anonymous, op).await;
        match op.access {
            Access::Public => {
                if matches!(unauth, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    failures.push(format!("{name}: public but {unauth} without credentials"));
                }
                continue;
            }
            _ if unauth != StatusCode::UNAUTHORIZED => {
                failures.push(format!(
                    "{name}: {unauth} without credentials, expected 401"
                ));
            }
            _ => {}
        }
        let bogus = anonymous.clone().with_token(metrics_token);
        let with_bogus = status_of(&bogus, op).await;
        if with_bogus != StatusCode::UNAUTHORIZED {
            failures.push(format!(
                "{name}: {with_bogus} with a bogus token, expected 401"
            ));
        }
        let required = match op.access {
            Access::Role(r) => r,
            // Metrics accept any operator credentials unless configured otherwise.
            _ => OperatorRole::Auditor,
        };
        for (role, client) in &clients {
            let s = status_of(client, op).await;
            if *role == OperatorRole::Scim && op.access == Access::Metrics {
                // The metrics guard does not know the SCIM token as a credential at all.
                if s != StatusCode::UNAUTHORIZED {
                    failures.push(format!("{name}: {s} for scim, expected 401"));
                }
            } else if role.allows(required) {
                if matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                    failures.push(format!("{name}: {s} for {role}, which may call it"));
                }
            } else if s != StatusCode::FORBIDDEN {
                failures.push(format!("{name}: {s} for {role}, expected 403"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Denials are audited with the operator (or the SCIM client's token) as actor.
    let denials = app
        .client
        .list_audit(&[("action", "auth.denied")])
        .await
        .unwrap();
    assert!(!denials.items.is_empty());
    assert!(
        denials
            .items
            .iter()
            .all(|e| e.actor.starts_with("operator:") || e.actor.starts_with("token:scim-")),
        "{:?}",
        denials.items.iter().map(|e| &e.actor).collect::<Vec<_>>()
    );
    app.stop().await;
}

async fn problem_bodies_and_challenges(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .anonymous()
        .request(Method::GET, "/api/v1/users")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer realm=\"command-center\""
    );
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");

    let auditor = app.client_as(OperatorRole::Auditor).await;
    let err = auditor
        .create_user(&cc_tests::student("ada"))
        .await
        .unwrap_err();
    let p = err.problem().expect("problem");
    assert_eq!((p.status, p.code.as_str()), (403, "forbidden"));
    assert!(p.detail.contains("operator"), "{}", p.detail);
    app.stop().await;
}

/// The table's console routes (pages outside `/api`, signed in with the session cookie).
fn console_routes() -> Vec<Op> {
    PERMISSIONS
        .iter()
        .filter(|p| {
            !p.path.starts_with("/api/")
                && !p.path.starts_with("/scim/")
                && !p.path.starts_with("/health")
                && !p.path.starts_with("/docs")
                && !matches!(p.path, "/metrics" | "/openapi.json")
        })
        .map(|p| Op {
            method: p.method.parse().expect("method"),
            template: p.path.to_owned(),
            path: concrete(p.path),
            access: p.access,
        })
        .collect()
}

/// Sends `op` as a browser would: with the session `cookie` when there is one, and for a
/// form post the session's CSRF token. Returns the status and where a redirect points.
async fn console_status(
    app: &TestApp,
    op: &Op,
    session: Option<&(String, String)>,
) -> (StatusCode, String) {
    let mut rb = cc_tests::browser::http()
        .request(op.method.clone(), format!("{}{}", app.base_url, op.path));
    if let Some((cookie, csrf)) = session {
        rb = rb.header("cookie", cookie);
        if op.method == Method::POST {
            rb = rb.form(&[("csrf", csrf.as_str())]);
        }
    } else if op.method == Method::POST {
        rb = rb.form(&[("csrf", "")]);
    }
    let res = rb.send().await.expect("the server answers");
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (res.status(), location)
}

/// Every console page and form answers as the table declares: signed out, a redirect to the
/// sign-in page; signed in with a role below the required one, 403; with the required role,
/// neither (whatever the made-up ids then give: 404, 400, a redirect elsewhere).
async fn every_console_route_answers_as_declared(backend: Backend) {
    let app = TestApp::spawn_console(backend, cc_tests::test_config()).await;
    let mut ops = console_routes();
    assert!(ops.len() >= 30, "only {} console routes found", ops.len());
    // Signing out ends the session the probes use: probe it last.
    ops.sort_by_key(|o| o.template == "/logout");
    let mut sessions = Vec::new();
    for role in [
        OperatorRole::Auditor,
        OperatorRole::Operator,
        OperatorRole::Admin,
    ] {
        let (_, name, password) = app.operator_with_role(role).await;
        let cookie = cc_tests::browser::http_sign_in(&app.base_url, &name, &password).await;
        let csrf = cc_tests::browser::http_csrf_token(&app.base_url, &cookie, "/").await;
        sessions.push((role, (cookie, csrf)));
    }
    let mut failures = Vec::new();
    for op in &ops {
        let name = format!("{} {}", op.method, op.template);
        let required = match op.access {
            Access::Public => {
                // The sign-in form's post answers 401 to a wrong password by design.
                if op.method == Method::GET {
                    let (s, _) = console_status(&app, op, None).await;
                    if matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        failures.push(format!("{name}: public but {s} signed out"));
                    }
                }
                continue;
            }
            Access::Role(r) => r,
            Access::Metrics => {
                failures.push(format!("{name}: a console route with the metrics guard"));
                continue;
            }
        };
        let (s, location) = console_status(&app, op, None).await;
        if s != StatusCode::SEE_OTHER || !location.starts_with("/login") {
            failures.push(format!(
                "{name}: {s} signed out (to {location:?}), expected 303 to /login"
            ));
        }
        for (role, session) in &sessions {
            let (s, location) = console_status(&app, op, Some(session)).await;
            // Signing out sends the browser to the sign-in page: that is its success.
            let signed_out = s == StatusCode::SEE_OTHER
                && location.starts_with("/login")
                && op.template != "/logout";
            if role.allows(required) {
                if matches!(s, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) || signed_out {
                    failures.push(format!(
                        "{name}: {s} for {role} (to {location:?}), which may use it"
                    ));
                }
            } else if s != StatusCode::FORBIDDEN {
                failures.push(format!("{name}: {s} for {role}, expected 403"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    app.stop().await;
}

backend_tests!(
    every_route_answers_as_declared,
    every_console_route_answers_as_declared,
    problem_bodies_and_challenges
);
