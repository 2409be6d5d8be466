//! Logging in and managing operators and API tokens.

use cc_domain::{ApiToken, NewApiToken, NewOperator, Operator, OperatorPatch, OperatorRole};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::{with_if_match, Client, Result};

/// What login and refresh answer.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub refresh_token: String,
    pub token_type: String,
    pub expires_in: i64,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"***")
            .field("refresh_token", &"***")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// `GET /api/v1/auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub name: String,
    pub username: String,
    pub operator_id: Uuid,
    pub role: OperatorRole,
    pub kind: String,
    pub session_id: Option<Uuid>,
    pub token_id: Option<Uuid>,
}

/// A new API token with its one-time secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedApiToken {
    #[serde(flatten)]
    pub token: ApiToken,
    pub secret: String,
}

impl std::fmt::Debug for CreatedApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApiToken")
            .field("token", &self.token)
            .field("secret", &"***")
            .finish()
    }
}

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

impl Client {
    /// `POST /api/v1/auth/login`.
    ///
    /// # Errors
    /// Wrong credentials (401), throttled or locked (429), transport errors.
    pub async fn login(&self, username: &str, password: &str) -> Result<TokenResponse> {
        self.send(
            self.api(Method::POST, "/auth/login")
                .json(&json!({"username": username, "password": password})),
        )
        .await
    }

    /// Logs in and returns a client that sends the access token, with the tokens.
    ///
    /// # Errors
    /// As [`Client::login`].
    pub async fn logged_in(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(Client, TokenResponse)> {
        let tokens = self.login(username, password).await?;
        Ok((self.clone().with_token(tokens.access_token.clone()), tokens))
    }

    /// `POST /api/v1/auth/refresh`.
    ///
    /// # Errors
    /// An unknown, used, expired or revoked refresh token (401), transport errors.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse> {
        self.send(
            self.api(Method::POST, "/auth/refresh")
                .json(&json!({"refresh_token": refresh_token})),
        )
        .await
    }

    /// `POST /api/v1/auth/logout`: ends the session of this client's access token.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn logout(&self) -> Result<()> {
        self.send_empty(self.api(Method::POST, "/auth/logout"))
            .await
    }

    /// `GET /api/v1/auth/me`.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn me(&self) -> Result<Me> {
        self.send(self.api(Method::GET, "/auth/me")).await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn list_operators(&self) -> Result<Vec<Operator>> {
        let page: Items<Operator> = self.send(self.api(Method::GET, "/operators")).await?;
        Ok(page.items)
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn create_operator(&self, input: &NewOperator) -> Result<Operator> {
        self.send(self.api(Method::POST, "/operators").json(input))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_operator(&self, id: Uuid) -> Result<Operator> {
        self.send(self.api(Method::GET, &format!("/operators/{id}")))
            .await
    }

    /// Changes role and/or disabled.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn update_operator(
        &self,
        id: Uuid,
        patch: &OperatorPatch,
        if_match: Option<i64>,
    ) -> Result<Operator> {
        self.send(with_if_match(
            self.api(Method::PATCH, &format!("/operators/{id}"))
                .json(patch),
            if_match,
        ))
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn reset_operator_password(&self, id: Uuid, password: &str) -> Result<()> {
        self.send_empty(
            self.api(Method::POST, &format!("/operators/{id}/password"))
                .json(&json!({"password": password})),
        )
        .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn list_tokens(&self) -> Result<Vec<ApiToken>> {
        let page: Items<ApiToken> = self.send(self.api(Method::GET, "/tokens")).await?;
        Ok(page.items)
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn create_token(&self, input: &NewApiToken) -> Result<CreatedApiToken> {
        self.send(self.api(Method::POST, "/tokens").json(input))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn get_token(&self, id: Uuid) -> Result<ApiToken> {
        self.send(self.api(Method::GET, &format!("/tokens/{id}")))
            .await
    }

    /// # Errors
    /// Any API or transport error.
    pub async fn revoke_token(&self, id: Uuid) -> Result<ApiToken> {
        self.send(self.api(Method::DELETE, &format!("/tokens/{id}")))
            .await
    }

    /// The bearer token this client sends, if any.
    #[must_use]
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}
