//! Health probes, the OpenAPI document and the docs page.

use std::collections::BTreeSet;

use super::*;

/// Every operation the router serves: `(method, path as documented)`. API paths are relative
/// to the `/api/v1` server; health paths are at the root.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/users"),
    ("post", "/users"),
    ("get", "/users/{id}"),
    ("patch", "/users/{id}"),
    ("delete", "/users/{id}"),
    ("post", "/users/{id}/actions/{operation}"),
    ("post", "/users/actions/{operation}"),
    ("get", "/users/{id}/targets"),
    ("get", "/targets"),
    ("post", "/targets/check"),
    ("get", "/groups"),
    ("post", "/groups"),
    ("get", "/groups/{id}"),
    ("patch", "/groups/{id}"),
    ("delete", "/groups/{id}"),
    ("get", "/groups/{id}/members"),
    ("put", "/groups/{id}/members/{user_id}"),
    ("delete", "/groups/{id}/members/{user_id}"),
    ("get", "/devices"),
    ("post", "/devices"),
    ("get", "/devices/{id}"),
    ("patch", "/devices/{id}"),
    ("delete", "/devices/{id}"),
    ("get", "/policies"),
    ("post", "/policies"),
    ("get", "/policies/{id}"),
    ("patch", "/policies/{id}"),
    ("delete", "/policies/{id}"),
    ("get", "/audit"),
    ("get", "/audit/verify"),
    ("get", "/imports"),
    ("post", "/imports"),
    ("get", "/imports/{id}"),
    ("get", "/imports/{id}/errors.csv"),
    ("post", "/imports/{id}/apply"),
    ("get", "/jobs"),
    ("get", "/jobs/{id}"),
    ("post", "/jobs/{id}/cancel"),
    ("post", "/jobs/{id}/retry"),
    ("post", "/jobs/ping"),
    ("get", "/batches/{id}"),
    ("post", "/batches/{id}/retry"),
    ("get", "/auth/oidc/providers"),
    ("get", "/auth/oidc/{provider}/authorize"),
    ("get", "/auth/oidc/{provider}/callback"),
    ("post", "/cloudflare/plan"),
    ("post", "/cloudflare/apply"),
    ("post", "/cloudflare/purge"),
    ("post", "/cloudflare/certificates/check"),
    ("post", "/cloudflare/certificates/retry-validation"),
    ("post", "/notifications/test"),
    ("post", "/notifications/channels/check"),
    ("get", "/notifications/deliveries"),
    ("get", "/events"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
    ("post", "/auth/login"),
    ("post", "/auth/refresh"),
    ("post", "/auth/logout"),
    ("get", "/auth/me"),
    ("get", "/operators"),
    ("post", "/operators"),
    ("get", "/operators/{id}"),
    ("patch", "/operators/{id}"),
    ("post", "/operators/{id}/password"),
    ("get", "/tokens"),
    ("post", "/tokens"),
    ("get", "/tokens/{id}"),
    ("delete", "/tokens/{id}"),
];

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every `$ref` anywhere inside `v`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

async fn liveness_is_200(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = call(app.client.request(Method::GET, "/health/live")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    assert!(r.header("x-request-id").is_some());
    app.stop().await;
}

async fn readiness_reports_each_check_with_its_latency(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = call(app.client.request(Method::GET, "/health/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"], "ok");
    for check in ["database", "migrations"] {
        assert_eq!(
            r.body["checks"][check]["status"], "ok",
            "{check}: {}",
            r.text
        );
        let latency = r.body["checks"][check]["latency_ms"].as_f64();
        assert!(
            latency.is_some_and(|ms| ms >= 0.0),
            "{check} latency: {}",
            r.text
        );
    }
    let (ready, _) = app.client.ready().await.expect("ready");
    assert!(ready);
    app.stop().await;
}

async fn readiness_is_503_naming_the_migrations_check_when_the_schema_is_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.store.migrate_down(1).await.expect("migrate down");
    let r = call(app.client.request(Method::GET, "/health/ready")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.body["status"], "fail");
    assert_eq!(
        r.body["checks"]["database"]["status"], "ok",
        "the database itself answers"
    );
    assert_eq!(r.body["checks"]["migrations"]["status"], "fail");
    let detail = r.body["checks"]["migrations"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        detail.contains("1 pending") && detail.contains("migrate up"),
        "{detail}"
    );
    assert!(r.body["checks"]["migrations"]["latency_ms"].is_number());

    app.store.migrate_up().await.expect("migrate up");
    let r = call(app.client.request(Method::GET, "/health/ready")).await;
    assert_eq!(r.status, StatusCode::OK, "ready again: {}", r.text);
    app.stop().await;
}

async fn openapi_documents_every_route_with_resolvable_schemas(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = call(app.client.request(Method::GET, "/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.body;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["servers"][0]["url"], "/api/v1");
    for probe in ["/health/live", "/health/ready"] {
        let servers = &doc["paths"][probe]["get"]["servers"];
        assert_eq!(
            servers[0]["url"], "/",
            "{probe} is documented at the root, not under /api/v1"
        );
    }
    let schemas = doc["components"]["schemas"]
        .as_object()
        .expect("component schemas");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            documented.insert((method.clone(), path.clone()));
            let responses = op["responses"].as_object().expect("responses");
            // A success is a 2xx, or a redirect for the sign-in steps that hand over to an
            // identity provider and back (OpenID Connect authorize and callback).
            assert!(
                responses
                    .keys()
                    .any(|s| s.starts_with('2') || (s.starts_with('3') && path.contains("/oidc/"))),
                "{method} {path} has a 2xx response"
            );
            let mut found = Vec::new();
            refs(op, &mut found);
            for r in found {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{method} {path}: odd $ref {r}"));
                assert!(
                    schemas.contains_key(name),
                    "{method} {path}: {r} does not resolve"
                );
            }
            // Actions on a job and applying an import take no body; an upload is a file, not JSON.
            let bodyless = [
                "/jobs/{id}/cancel",
                "/jobs/{id}/retry",
                "/jobs/ping",
                "/batches/{id}/retry",
                "/targets/check",
                "/imports/{id}/apply",
                "/cloudflare/plan",
                "/cloudflare/apply",
                "/cloudflare/certificates/check",
                "/notifications/channels/check",
            ]
            .contains(&path.as_str());
            if path == "/imports" && method == "post" {
                let body = &op["requestBody"]["content"]["application/octet-stream"]["schema"];
                assert!(body.is_object(), "{method} {path} documents its upload");
            } else if method == "patch"
                || (method == "post" && !bodyless && !op["requestBody"].is_null())
            {
                let body = &op["requestBody"]["content"]["application/json"]["schema"];
                assert!(body.is_object(), "{method} {path} documents its JSON body");
            }
        }
    }
    let mut found = Vec::new();
    refs(&doc["components"], &mut found);
    for r in found {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(schemas.contains_key(name), "component {r} does not resolve");
    }
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented, expected,
        "the document lists exactly the routes served"
    );

    // And every documented operation is served: no route-level 404 or 405.
    let id = Uuid::now_v7().to_string();
    for (method, path) in &documented {
        let concrete = path.replace("{id}", &id).replace("{user_id}", &id);
        let url = if concrete.starts_with("/health") {
            concrete
        } else {
            format!("/api/v1{concrete}")
        };
        let method: Method = method.to_uppercase().parse().expect("method");
        if path == "/events" {
            // An endless stream: check the head only.
            let res = app
                .client
                .request(method.clone(), &url)
                .send()
                .await
                .expect("answer");
            assert_eq!(res.status(), StatusCode::OK, "{method} {url} is served");
            continue;
        }
        let r = call(app.client.request(method.clone(), &url).json(&json!({}))).await;
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {url} is served"
        );
        let no_route = r.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no such route"));
        assert!(!no_route, "{method} {url} is served: {}", r.text);
    }
    app.stop().await;
}

async fn the_docs_page_serves_html(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = call(app.client.request(Method::GET, "/docs/")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/html")));
    assert!(
        r.text.to_lowercase().contains("swagger"),
        "{}",
        &r.text[..r.text.len().min(300)]
    );
    app.stop().await;
}

backend_tests!(
    liveness_is_200,
    readiness_reports_each_check_with_its_latency,
    readiness_is_503_naming_the_migrations_check_when_the_schema_is_behind,
    openapi_documents_every_route_with_resolvable_schemas,
    the_docs_page_serves_html,
);
