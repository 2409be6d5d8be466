//! One JSON POST, its response classified the way every HTTP channel needs.

use std::time::Duration;

use crate::channel::SendError;

/// Response bodies quoted in errors at most.
const MAX_QUOTED: usize = 200;

/// POSTs `body`; 2xx is success, 429 and 5xx are retryable (honouring `Retry-After`
/// seconds), any other status is permanent. Errors never include the URL (it may hold a
/// token).
pub(crate) async fn post_json(
    client: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    headers: &[(&str, String)],
) -> Result<(), SendError> {
    let bytes = serde_json::to_vec(body).map_err(|e| SendError::Permanent(e.to_string()))?;
    post_bytes(client, url, bytes, headers).await
}

pub(crate) async fn post_bytes(
    client: &reqwest::Client,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> Result<(), SendError> {
    let mut req = client
        .post(url)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.map_err(|e| SendError::Retryable {
        message: format!("request failed: {}", e.without_url()),
        after: None,
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let text = resp.text().await.unwrap_or_default();
    let quoted: String = text.chars().take(MAX_QUOTED).collect();
    let message = format!("the receiver answered {status}: {}", quoted.trim());
    if status.as_u16() == 429 || status.is_server_error() {
        Err(SendError::Retryable { message, after })
    } else {
        Err(SendError::Permanent(message))
    }
}
