//! Notification channels: a test message, the channels checked, the deliveries log.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{Client, Result};

impl Client {
    /// `POST /api/v1/notifications/test`: queues a test message to `channel`; answers
    /// `{"delivery_id", "channel"}`.
    ///
    /// # Errors
    /// Any API or transport error (404 for a channel that is not configured).
    pub async fn test_notification(&self, channel: &str) -> Result<Value> {
        self.send(
            self.api(Method::POST, "/notifications/test")
                .json(&json!({ "channel": channel })),
        )
        .await
    }

    /// `POST /api/v1/notifications/channels/check`: every channel checked without sending.
    ///
    /// # Errors
    /// Any API or transport error.
    pub async fn check_notification_channels(&self) -> Result<Value> {
        self.send(self.api(Method::POST, "/notifications/channels/check"))
            .await
    }
}
