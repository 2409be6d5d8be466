//! Cache purge, split into requests within Cloudflare's per-request limit.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::client::CloudflareClient;
use crate::TargetError;

/// Most items one purge job accepts in total.
pub const MAX_PURGE_ITEMS: usize = 10_000;

/// What to purge from one zone's cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "items")]
pub enum PurgeRequest {
    Everything,
    Urls(Vec<String>),
    Hosts(Vec<String>),
    Prefixes(Vec<String>),
}

impl PurgeRequest {
    /// Checks sizes and shapes before anything is sent.
    ///
    /// # Errors
    /// A message for the operator: empty, too many, or a malformed item.
    pub fn validate(&self) -> Result<(), String> {
        let (items, what) = match self {
            Self::Everything => return Ok(()),
            Self::Urls(u) => (u, "URL"),
            Self::Hosts(h) => (h, "host"),
            Self::Prefixes(p) => (p, "prefix"),
        };
        if items.is_empty() {
            return Err(format!("at least one {what} is required"));
        }
        if items.len() > MAX_PURGE_ITEMS {
            return Err(format!("at most {MAX_PURGE_ITEMS} items per purge"));
        }
        for i in items {
            let bad = i.is_empty()
                || i.len() > 2048
                || i.chars().any(char::is_whitespace)
                || match self {
                    Self::Urls(_) => !(i.starts_with("https://") || i.starts_with("http://")),
                    Self::Hosts(_) => i.contains('/'),
                    Self::Prefixes(_) => i.contains("://"),
                    Self::Everything => false,
                };
            if bad {
                return Err(format!(
                    "`{}` is not a valid {what}",
                    i.chars().take(80).collect::<String>()
                ));
            }
        }
        Ok(())
    }

    /// The request bodies, each within `batch` items.
    #[must_use]
    pub fn bodies(&self, batch: usize) -> Vec<Value> {
        let (items, key) = match self {
            Self::Everything => return vec![json!({ "purge_everything": true })],
            Self::Urls(u) => (u, "files"),
            Self::Hosts(h) => (h, "hosts"),
            Self::Prefixes(p) => (p, "prefixes"),
        };
        items
            .chunks(batch.max(1))
            .map(|c| json!({ key: c }))
            .collect()
    }
}

/// Sends the purge, one request per batch; returns how many requests were made.
///
/// # Errors
/// The API failing on a batch (earlier batches stay purged; a retry repeats them harmlessly).
pub async fn purge(
    client: &CloudflareClient,
    zone_id: &str,
    request: &PurgeRequest,
    batch: usize,
) -> Result<usize, TargetError> {
    request.validate().map_err(TargetError::permanent)?;
    let path = format!("/zones/{zone_id}/purge_cache");
    let bodies = request.bodies(batch);
    for b in &bodies {
        client.send(Method::POST, &path, &[], Some(b)).await?;
    }
    Ok(bodies.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_the_batch_size() {
        let urls: Vec<String> = (0..61).map(|i| format!("https://x.example/{i}")).collect();
        let b = PurgeRequest::Urls(urls).bodies(30);
        assert_eq!(b.len(), 3);
        assert_eq!(b[2]["files"].as_array().map(Vec::len), Some(1));
        assert_eq!(PurgeRequest::Everything.bodies(30).len(), 1);
    }

    #[test]
    fn rejects_malformed_items() {
        assert!(PurgeRequest::Urls(vec!["ftp://x".into()])
            .validate()
            .is_err());
        assert!(PurgeRequest::Hosts(vec!["a/b".into()]).validate().is_err());
        assert!(PurgeRequest::Hosts(vec![]).validate().is_err());
        assert!(PurgeRequest::Prefixes(vec!["www.example.org/img".into()])
            .validate()
            .is_ok());
    }
}
