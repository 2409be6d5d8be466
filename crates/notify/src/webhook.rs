//! The generic webhook: the message as JSON, signed like the webhook target's events
//! (`X-CC-Timestamp`, `X-CC-Signature: sha256=…` over `"{timestamp}.{body}"`).

use async_trait::async_trait;
use cc_connectors::webhook::signature;
use secrecy::{ExposeSecret, SecretString};

use crate::channel::{Channel, SendError};
use crate::http::post_bytes;
use crate::message::Message;

pub struct WebhookChannel {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) secret: Option<SecretString>,
    pub(crate) client: reqwest::Client,
}

#[async_trait]
impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn check(&self) -> Result<String, String> {
        crate::check_url(&self.url).map(|()| {
            let signed = if self.secret.is_some() {
                "signed"
            } else {
                "unsigned"
            };
            format!(
                "{signed} webhook to {} (nothing sent)",
                crate::url_origin(&self.url)
            )
        })
    }

    async fn send(&self, message: &Message) -> Result<(), SendError> {
        let body = serde_json::to_vec(message).map_err(|e| SendError::Permanent(e.to_string()))?;
        let ts = chrono::Utc::now().timestamp();
        let mut headers = vec![("x-cc-timestamp", ts.to_string())];
        if let Some(secret) = &self.secret {
            headers.push((
                "x-cc-signature",
                signature::sign(secret.expose_secret().as_bytes(), ts, &body),
            ));
        }
        post_bytes(&self.client, &self.url, body, &headers).await
    }
}
