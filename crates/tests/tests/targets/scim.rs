//! The SCIM target against scim2-server (PyPI) on 127.0.0.1: linking an account that exists
//! (a `409 uniqueness` on create, a renamed person found by the previous username),
//! `check` for a good and a misconfigured target, and, against a small local responder,
//! 429 and 5xx with `Retry-After`, oversized answers and ambiguous matches.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cc_connectors::scim::{ScimConfig, ScimTarget};
use cc_connectors::{Operation, OperationRequest, Target, TargetLink};
use cc_tests::scim2_server::{Scim2Server, TOKEN};
use serde_json::{json, Value};

use super::user;

fn target(base_url: &str, extra: &str) -> ScimTarget {
    let text = format!(
        "name = \"app\"\nbase_url = \"{base_url}\"\ntoken = \"{TOKEN}\"\ntimeout_ms = 3000\n{extra}"
    );
    let c: ScimConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    ScimTarget::new(&c).expect("valid config")
}

#[tokio::test]
async fn a_conflict_on_create_links_the_existing_account() {
    let server = Scim2Server::start().await;
    // Someone made the account already, without our externalId; the target matches by
    // externalId only, so it does not find it and tries to create one.
    let existing = server
        .create(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada",
            "name": {"givenName": "Old"},
            "active": true
        }))
        .await;
    let t = target(&server.base_url(), "match = [\"externalId\"]");
    let ada = user("ada");
    let req =
        OperationRequest::new(Operation::Provision, ada.clone()).with_password("Pw-1-never-kept");

    let plan = t.plan(&req).await.unwrap();
    assert!(!plan.exists, "matching by externalId does not see it");
    let out = t.apply(&req).await.unwrap();
    assert_eq!(
        out.account_id.as_deref(),
        existing["id"].as_str(),
        "linked: {out:?}"
    );
    assert_eq!(out.detail["linked_existing"], true, "{out:?}");
    assert_eq!(server.users_named("ada").await.len(), 1, "no duplicate");
    let u = server.user(existing["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(u["externalId"], "SIS-ada", "brought up to date");
    assert_eq!(u["name"]["givenName"], "Test");
    assert!(!format!("{out:?}").contains("Pw-1-never-kept"));

    // With the link stored, the next run finds it by id and changes nothing.
    let link = TargetLink {
        account_id: out.account_id.clone().unwrap(),
        synced_at: None,
    };
    let again = t
        .apply(&OperationRequest::new(Operation::Provision, ada).with_link(link))
        .await
        .unwrap();
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(again.detail["found_by"], "link");
}

#[tokio::test]
async fn a_renamed_person_is_found_by_the_previous_username() {
    let server = Scim2Server::start().await;
    let t = target(&server.base_url(), "match = [\"userName\"]");
    let before = user("ada");
    let created = t
        .apply(&OperationRequest::new(Operation::Provision, before.clone()))
        .await
        .unwrap();
    let mut after = before.clone();
    after.username = "ada.lovelace".into();
    let out = t
        .apply(&OperationRequest::new(Operation::Update, after).with_previous(before))
        .await
        .unwrap();
    assert_eq!(out.account_id, created.account_id);
    assert_eq!(out.detail["found_by"], "previous userName");
    assert_eq!(out.changes.len(), 1, "{out:?}");
    assert_eq!(out.changes[0].attribute.as_deref(), Some("userName"));
    assert!(server.users_named("ada").await.is_empty());
    assert_eq!(server.users_named("ada.lovelace").await.len(), 1);
}

#[tokio::test]
async fn check_reports_a_misconfigured_target() {
    let server = Scim2Server::start().await;
    let ok = target(&server.base_url(), "").check().await.unwrap();
    assert!(ok.contains("token accepted"), "{ok}");

    let wrong_token = format!(
        "name = \"app\"\nbase_url = \"{}\"\ntoken = \"not-the-token-9\"\n",
        server.base_url()
    );
    let c: ScimConfig = toml::from_str(&wrong_token).unwrap();
    let e = ScimTarget::new(&c).unwrap().check().await.unwrap_err();
    assert!(!e.is_retryable());
    assert!(
        e.message().contains("401") && e.message().contains("refused the token"),
        "{e}"
    );
    assert!(!e.message().contains("not-the-token-9"), "{e}");

    let wrong_path = format!("http://127.0.0.1:{}/nothing-here", server.port);
    let e = target(&wrong_path, "").check().await.unwrap_err();
    assert!(e.message().contains("404"), "{e}");

    let nobody = format!("http://127.0.0.1:{}/v2", cc_tests::ldap::free_port());
    let e = target(&nobody, "").check().await.unwrap_err();
    assert!(e.is_retryable(), "connection refused is retryable: {e}");
}

/// An answer to give: status, `Retry-After`, body.
type Answer = (u16, Option<&'static str>, String);

/// A responder that answers the queued statuses in order, then serves an empty list.
#[derive(Clone, Default)]
struct Responder {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn respond(State(r): State<Responder>, req: axum::extract::Request) -> Response {
    r.seen
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), req.uri()));
    let answer = r.answers.lock().unwrap().pop_front();
    let (status, retry_after, body) = answer.unwrap_or((
        200,
        None,
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0, "Resources": []}).to_string(),
    ));
    let mut res = (StatusCode::from_u16(status).unwrap(), body).into_response();
    res.headers_mut()
        .insert("content-type", "application/scim+json".parse().unwrap());
    if let Some(v) = retry_after {
        res.headers_mut().insert("retry-after", v.parse().unwrap());
    }
    res
}

async fn responder() -> (String, Responder) {
    let r = Responder::default();
    let app = axum::Router::new().fallback(respond).with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/scim/v2"), r)
}

fn error_body(status: u16, detail: &str) -> String {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": status.to_string(), "detail": detail}).to_string()
}

#[tokio::test]
async fn busy_and_failing_providers_are_retried_after_what_they_ask() {
    let (url, r) = responder().await;
    let t = target(&url, "");
    let req = OperationRequest::new(Operation::Provision, user("ada")).with_password("Pw-9-secret");
    r.answers
        .lock()
        .unwrap()
        .push_back((429, Some("7"), error_body(429, "slow down")));
    let e = t.apply(&req).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
    assert!(
        e.message().contains("429") && e.message().contains("slow down"),
        "{e}"
    );

    r.answers.lock().unwrap().push_back((
        503,
        Some("Wed, 21 Oct 2015 07:28:00 GMT"),
        error_body(503, &format!("echoing {TOKEN} and Pw-9-secret")),
    ));
    let e = t.apply(&req).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.retry_after(), Some(Duration::ZERO), "a date in the past");
    assert!(!e.message().contains(TOKEN), "{e}");
    assert!(!e.message().contains("Pw-9-secret"), "{e}");

    r.answers
        .lock()
        .unwrap()
        .push_back((400, None, error_body(400, "bad filter")));
    let e = t.apply(&req).await.unwrap_err();
    assert!(!e.is_retryable(), "{e}");

    // The matching search ran with a quoted filter, first by externalId.
    let seen = r.seen.lock().unwrap().clone();
    assert!(
        seen[0].starts_with("GET /scim/v2/Users?filter=externalId+eq+%22SIS-ada%22"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn oversized_answers_and_ambiguous_matches_are_refused() {
    let (url, r) = responder().await;
    let t = target(&url, "");
    let req = OperationRequest::new(Operation::Update, user("ada"));
    let huge = format!(
        "{{\"totalResults\": 0, \"pad\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    r.answers.lock().unwrap().push_back((200, None, huge));
    let e = t.apply(&req).await.unwrap_err();
    assert!(
        !e.is_retryable() && e.message().contains("larger than"),
        "{e}"
    );

    let two = json!({"totalResults": 2, "Resources": [{"id": "a", "userName": "ada"}, {"id": "b", "userName": "ada"}]});
    r.answers
        .lock()
        .unwrap()
        .push_back((200, None, two.to_string()));
    let e = t.apply(&req).await.unwrap_err();
    assert!(e.message().contains("refusing to pick one"), "{e}");
    let plan: Value = serde_json::to_value(t.plan(&req).await.unwrap()).unwrap();
    assert_eq!(plan["exists"], false, "an empty provider: {plan}");
}
