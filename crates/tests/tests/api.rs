//! The HTTP contract: status codes, headers, problem+json errors, audit events, health,
//! OpenAPI, and the demo data set, against the app running on both backends.
//!
//! Typed calls go through `cc_client`; raw `reqwest` requests are used where a test needs to
//! set or read headers, or send something the typed client cannot.

use cc_domain::AuditEvent;
use cc_tests::{backend_tests, student, Backend, TestApp, TestDb};
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The audit actor of requests made by `app.client`, which is logged in as `admin`.
const ANONYMOUS: &str = "operator:admin";

/// A response, read whole.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn request_id(&self) -> &str {
        self.header("x-request-id")
            .expect("every response carries x-request-id")
    }

    fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no id in {}", self.text))
    }

    fn version(&self) -> i64 {
        self.body["version"]
            .as_i64()
            .unwrap_or_else(|| panic!("no version in {}", self.text))
    }
}

/// Sends a request and reads the whole response.
async fn call(rb: RequestBuilder) -> Reply {
    let res = rb.send().await.expect("the server answers");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// A request to `/api/v1{path}`.
fn api(app: &TestApp, method: Method, path: &str) -> RequestBuilder {
    app.client.request(method, &format!("/api/v1{path}"))
}

async fn get(app: &TestApp, path: &str) -> Reply {
    call(api(app, Method::GET, path)).await
}

async fn post(app: &TestApp, path: &str, body: &Value) -> Reply {
    call(api(app, Method::POST, path).json(body)).await
}

async fn patch(app: &TestApp, path: &str, body: &Value) -> Reply {
    call(api(app, Method::PATCH, path).json(body)).await
}

/// Asserts a well-formed problem response: the status, `application/problem+json`, the code,
/// and a `request_id` equal to the `x-request-id` header.
fn assert_problem(r: &Reply, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "status of {}", r.text);
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "content type of {}",
        r.text
    );
    assert_eq!(r.body["code"], code, "code of {}", r.text);
    assert_eq!(r.body["status"], status, "status field of {}", r.text);
    assert_eq!(
        r.body["type"],
        format!("urn:command-center:problem:{code}"),
        "type of {}",
        r.text
    );
    assert!(
        r.body["title"].is_string() && r.body["detail"].is_string(),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["request_id"].as_str(),
        Some(r.request_id()),
        "request_id matches the header in {}",
        r.text
    );
}

/// The fields named in a problem's `errors`.
fn error_fields(r: &Reply) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn student_json(username: &str) -> Value {
    serde_json::to_value(student(username)).expect("serializable")
}

fn group_json(name: &str) -> Value {
    json!({"name": name, "kind": "class", "school": "lincoln-hs"})
}

fn device_json(serial: &str) -> Value {
    json!({"serial_number": serial, "platform": "windows", "facts": {"disk_encryption": true}})
}

fn policy_json(name: &str) -> Value {
    json!({"name": name, "category": "security", "platforms": ["windows"],
        "rule": {"fact": "disk_encryption", "op": "eq", "value": true}})
}

/// Creates a record through the API and returns it.
async fn create(app: &TestApp, collection: &str, body: &Value) -> Reply {
    let r = post(app, collection, body).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "create in {collection}: {}",
        r.text
    );
    r
}

async fn audit_head(app: &TestApp) -> i64 {
    app.store.audit_head().await.expect("audit head").0
}

/// Runs SQL directly against the app's database, behind the application's back.
async fn exec_sql(db: &TestDb, sql: &str) {
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url)
                .await
                .expect("open sqlite");
            sqlx::query(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("open postgres");
            sqlx::query(sql).execute(&pool).await.expect(sql);
            pool.close().await;
        }
    }
}

/// Sends a mutation with a request id and checks it wrote exactly one audit event, stamped
/// with the actor and that request id. Returns the reply and the event.
async fn audited(app: &TestApp, request_id: &str, rb: RequestBuilder) -> (Reply, AuditEvent) {
    let before = audit_head(app).await;
    let r = call(rb.header("x-request-id", request_id)).await;
    assert!(
        r.status.is_success(),
        "{request_id}: {} {}",
        r.status,
        r.text
    );
    assert_eq!(r.request_id(), request_id, "the request id is echoed");
    assert_eq!(
        audit_head(app).await,
        before + 1,
        "{request_id} writes one audit event"
    );
    let events = app.store.audit_after(before, 10).await.expect("events");
    assert_eq!(events.len(), 1);
    let e = events.into_iter().next().expect("one event");
    assert_eq!(e.actor, ANONYMOUS);
    assert_eq!(e.request_id.as_deref(), Some(request_id));
    (r, e)
}

/// Sends a request that must fail without writing an audit event; returns the reply.
async fn unaudited(app: &TestApp, rb: RequestBuilder) -> Reply {
    let before = audit_head(app).await;
    let r = call(rb).await;
    assert_eq!(
        audit_head(app).await,
        before,
        "no audit event for {}: {}",
        r.status,
        r.text
    );
    r
}

// The tests, by topic; each file runs its tests on both backends.
#[path = "api/audit.rs"]
mod audit;
#[path = "api/errors.rs"]
mod errors;
#[path = "api/health.rs"]
mod health;
#[path = "api/requests.rs"]
mod requests;
#[path = "api/seed.rs"]
mod seed;
#[path = "api/writes.rs"]
mod writes;
