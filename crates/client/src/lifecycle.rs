//! Client methods for lifecycle actions and target links.

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

use crate::{error_from, Client, Result};

impl Client {
    /// `POST /api/v1/users/{id}/actions/{operation}` (`operation` as in the URL, e.g.
    /// `reset-password`). Returns the status (202 accepted, 200 dry run) and the body.
    ///
    /// # Errors
    /// Any API or transport error (409 for an operation the user's status forbids).
    pub async fn user_action(
        &self,
        id: Uuid,
        operation: &str,
        dry_run: bool,
    ) -> Result<(u16, Value)> {
        let mut rb = self.api(Method::POST, &format!("/users/{id}/actions/{operation}"));
        if dry_run {
            rb = rb.query(&[("dry_run", "true")]);
        }
        let res = rb.send().await?;
        let status = res.status().as_u16();
        if res.status().is_success() {
            Ok((status, res.json().await?))
        } else {
            Err(error_from(res).await)
        }
    }

    /// `POST /api/v1/users/actions/{operation}` with `{"ids": …}` or `{"filter": …}`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn bulk_action(&self, operation: &str, body: &Value) -> Result<(u16, Value)> {
        let res = self
            .api(Method::POST, &format!("/users/actions/{operation}"))
            .json(body)
            .send()
            .await?;
        let status = res.status().as_u16();
        if res.status().is_success() {
            Ok((status, res.json().await?))
        } else {
            Err(error_from(res).await)
        }
    }

    /// `GET /api/v1/users/{id}/targets`: the person's links and the configured targets.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn user_targets(&self, id: Uuid) -> Result<Value> {
        self.send(self.api(Method::GET, &format!("/users/{id}/targets")))
            .await
    }

    /// `GET /api/v1/targets`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn list_targets(&self) -> Result<Value> {
        self.send(self.api(Method::GET, "/targets")).await
    }
}
