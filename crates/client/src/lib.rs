//! A typed client for the Command Center HTTP API, used by the CLI and the tests.

// `ClientError::Api` carries the whole problem body on purpose: callers inspect it.
#![allow(clippy::result_large_err)]

mod auth;
mod imports;
mod jobs;
mod lifecycle;
mod notifications;
mod paging;

pub use jobs::JobEventStream;
pub use paging::Listing;

use std::time::Duration;

use cc_domain::{
    AuditEvent, Device, DevicePatch, Group, GroupPatch, NewDevice, NewGroup, NewPolicy, NewUser,
    Page, Policy, PolicyPatch, User, UserPatch,
};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A problem+json error body as the server sends it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    pub request_id: Option<String>,
    #[serde(default)]
    pub errors: Vec<cc_domain::FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error (boxed: problems are large, results are common).
    #[error("{} {}: {}", .0.status, .0.code, .0.detail)]
    Api(Box<Problem>),
    /// The server answered with an error that is not problem+json.
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
    #[error("request failed: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("invalid URL: {0}")]
    Url(String),
}

impl ClientError {
    /// The problem's HTTP status, when the server answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api(p) => Some(p.status),
            ClientError::Status(s, _) => Some(*s),
            _ => None,
        }
    }

    #[must_use]
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Api(p) => Some(p.as_ref()),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

pub use auth::{CreatedApiToken, Me, TokenResponse};

/// A client bound to one server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    timeout: Duration,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// The URL is not http(s).
    pub fn new(base: &str) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ClientError::Url(format!(
                "`{base}` must start with http:// or https://"
            )));
        }
        Ok(Self {
            http: reqwest::Client::new(),
            base,
            token: None,
            timeout: Duration::from_secs(30),
        })
    }

    #[must_use]
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// A request to a path relative to the server root, with auth and timeout applied.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(self.timeout);
        if let Some(t) = &self.token {
            rb = rb.bearer_auth(t);
        }
        rb
    }

    async fn send<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T> {
        let res = rb.send().await?;
        if res.status().is_success() {
            Ok(res.json().await?)
        } else {
            Err(error_from(res).await)
        }
    }

    async fn send_empty(&self, rb: RequestBuilder) -> Result<()> {
        let res = rb.send().await?;
        if res.status().is_success() {
            Ok(())
        } else {
            Err(error_from(res).await)
        }
    }

    fn api(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, &format!("/api/v1{path}"))
    }

    /// `GET /health/ready`: whether the server is ready, and its report.
    ///
    /// # Errors
    /// The server cannot be reached.
    pub async fn ready(&self) -> Result<(bool, serde_json::Value)> {
        let res = self.request(Method::GET, "/health/ready").send().await?;
        let ok = res.status() == StatusCode::OK;
        Ok((ok, res.json().await?))
    }

    // Users.

    /// # Errors
    /// Any API or transport error.
    pub async fn list_users(&self, query: &[(&str, &str)]) -> Result<Page<User>> {
        self.send(self.api(Method::GET, "/users").query(query))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn create_user(&self, u: &NewUser) -> Result<User> {
        self.send(self.api(Method::POST, "/users").json(u)).await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_user(&self, id: Uuid) -> Result<User> {
        self.send(self.api(Method::GET, &format!("/users/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn update_user(
        &self,
        id: Uuid,
        p: &UserPatch,
        if_match: Option<i64>,
    ) -> Result<User> {
        self.send(with_if_match(
            self.api(Method::PATCH, &format!("/users/{id}")).json(p),
            if_match,
        ))
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn delete_user(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.api(Method::DELETE, &format!("/users/{id}")))
            .await
    }

    // Groups.

    /// # Errors
    /// Any API or transport error.
    pub async fn list_groups(&self, query: &[(&str, &str)]) -> Result<Page<Group>> {
        self.send(self.api(Method::GET, "/groups").query(query))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn create_group(&self, g: &NewGroup) -> Result<Group> {
        self.send(self.api(Method::POST, "/groups").json(g)).await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_group(&self, id: Uuid) -> Result<Group> {
        self.send(self.api(Method::GET, &format!("/groups/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn update_group(
        &self,
        id: Uuid,
        p: &GroupPatch,
        if_match: Option<i64>,
    ) -> Result<Group> {
        self.send(with_if_match(
            self.api(Method::PATCH, &format!("/groups/{id}")).json(p),
            if_match,
        ))
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn delete_group(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.api(Method::DELETE, &format!("/groups/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn group_members(&self, id: Uuid, query: &[(&str, &str)]) -> Result<Page<User>> {
        self.send(
            self.api(Method::GET, &format!("/groups/{id}/members"))
                .query(query),
        )
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn add_member(&self, group: Uuid, user: Uuid) -> Result<()> {
        self.send_empty(self.api(Method::PUT, &format!("/groups/{group}/members/{user}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn remove_member(&self, group: Uuid, user: Uuid) -> Result<()> {
        self.send_empty(self.api(Method::DELETE, &format!("/groups/{group}/members/{user}")))
            .await
    }

    // Devices.

    /// # Errors
    /// Any API or transport error.
    pub async fn list_devices(&self, query: &[(&str, &str)]) -> Result<Page<Device>> {
        self.send(self.api(Method::GET, "/devices").query(query))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn create_device(&self, d: &NewDevice) -> Result<Device> {
        self.send(self.api(Method::POST, "/devices").json(d)).await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_device(&self, id: Uuid) -> Result<Device> {
        self.send(self.api(Method::GET, &format!("/devices/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn update_device(
        &self,
        id: Uuid,
        p: &DevicePatch,
        if_match: Option<i64>,
    ) -> Result<Device> {
        self.send(with_if_match(
            self.api(Method::PATCH, &format!("/devices/{id}")).json(p),
            if_match,
        ))
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn delete_device(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.api(Method::DELETE, &format!("/devices/{id}")))
            .await
    }

    // Policies.

    /// # Errors
    /// Any API or transport error.
    pub async fn list_policies(&self, query: &[(&str, &str)]) -> Result<Page<Policy>> {
        self.send(self.api(Method::GET, "/policies").query(query))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn create_policy(&self, p: &NewPolicy) -> Result<Policy> {
        self.send(self.api(Method::POST, "/policies").json(p)).await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_policy(&self, id: Uuid) -> Result<Policy> {
        self.send(self.api(Method::GET, &format!("/policies/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn update_policy(
        &self,
        id: Uuid,
        p: &PolicyPatch,
        if_match: Option<i64>,
    ) -> Result<Policy> {
        self.send(with_if_match(
            self.api(Method::PATCH, &format!("/policies/{id}")).json(p),
            if_match,
        ))
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn delete_policy(&self, id: Uuid) -> Result<()> {
        self.send_empty(self.api(Method::DELETE, &format!("/policies/{id}")))
            .await
    }

    // Audit.

    /// # Errors
    /// Any API or transport error.
    pub async fn list_audit(&self, query: &[(&str, &str)]) -> Result<Page<AuditEvent>> {
        self.send(self.api(Method::GET, "/audit").query(query))
            .await
    }

    /// `GET /api/v1/audit/verify`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn verify_audit(&self) -> Result<serde_json::Value> {
        self.send(self.api(Method::GET, "/audit/verify")).await
    }
}

fn with_if_match(rb: RequestBuilder, version: Option<i64>) -> RequestBuilder {
    match version {
        Some(v) => rb.header(reqwest::header::IF_MATCH, format!("\"{v}\"")),
        None => rb,
    }
}

async fn error_from(res: reqwest::Response) -> ClientError {
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    match serde_json::from_str::<Problem>(&text) {
        Ok(p) => ClientError::Api(Box::new(p)),
        Err(_) => ClientError::Status(status, text.chars().take(500).collect()),
    }
}
