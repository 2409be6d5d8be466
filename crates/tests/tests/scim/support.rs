//! A SCIM client for the tests: a `scim` API token and `application/scim+json` bodies.

use cc_domain::OperatorRole;
use cc_tests::TestApp;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub struct Scim {
    pub client: cc_client::Client,
}

impl Scim {
    pub async fn new(app: &TestApp) -> Self {
        let secret = app.api_token(OperatorRole::Scim).await;
        Self {
            client: app.anonymous().with_token(secret),
        }
    }

    async fn finish(res: reqwest::Response) -> (StatusCode, Value, HeaderMap) {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&bytes)))
        };
        if !body.is_null() {
            assert_eq!(headers["content-type"], "application/scim+json", "{body}");
        }
        (status, body, headers)
    }

    fn build(&self, method: Method, path: &str, body: Option<&Value>) -> reqwest::RequestBuilder {
        let mut rb = self.client.request(method, &format!("/scim/v2{path}"));
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        rb
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, HeaderMap) {
        Self::finish(
            self.build(method, path, body.as_ref())
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub async fn send_if_match(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        etag: &str,
    ) -> (StatusCode, Value, HeaderMap) {
        let rb = self
            .build(method, path, body.as_ref())
            .header("if-match", etag);
        Self::finish(rb.send().await.unwrap()).await
    }

    pub async fn list(&self, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value, HeaderMap) {
        let rb = self.build(Method::GET, path, None).query(query);
        Self::finish(rb.send().await.unwrap()).await
    }
}

/// A User body as identity providers send it.
pub fn user(user_name: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "userName": user_name,
        "externalId": format!("ext-{user_name}"),
        "active": true,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"value": user_name.to_lowercase().replace("ada.lovelace", "ada"), "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "Mathematics"}
    })
}

/// A PatchOp body.
pub fn patch(ops: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
}
