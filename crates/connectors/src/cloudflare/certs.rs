//! SSL/TLS monitoring: certificate packs and their validation, the expiry metric, and one
//! warning per threshold crossed.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::client::CloudflareClient;
use crate::TargetError;

/// The gauge each certificate's expiry is published as (`{zone,host}`).
pub const EXPIRY_METRIC: &str = "cc_cloudflare_certificate_expiry_timestamp_seconds";

/// One host's certificate in one pack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    pub zone: String,
    pub host: String,
    pub pack_id: String,
    pub pack_type: String,
    /// The pack's status (`active`, `pending_validation`, …).
    pub status: String,
    /// The earliest expiry among the pack's certificates covering the host.
    pub expires_on: Option<DateTime<Utc>>,
    /// From `/ssl/verification`: the certificate's status there, when listed.
    pub verification_status: Option<String>,
}

/// Reads a zone's certificate packs and verification status.
///
/// # Errors
/// The API failing.
pub async fn read_zone(
    client: &CloudflareClient,
    zone: &str,
    zone_id: &str,
) -> Result<Vec<CertificateInfo>, TargetError> {
    let packs = client
        .get(&format!("/zones/{zone_id}/ssl/certificate_packs"), &[])
        .await?;
    let verification = client
        .get(&format!("/zones/{zone_id}/ssl/verification"), &[])
        .await?;
    let verified: HashMap<&str, &str> = verification
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| {
                    Some((
                        v.get("cert_pack_uuid")?.as_str()?,
                        v.get("certificate_status")?.as_str()?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for pack in packs.as_array().into_iter().flatten() {
        let s = |v: &Value, k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let pack_id = s(pack, "id");
        let certs = pack
            .get("certificates")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for host in pack
            .get("hosts")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(host) = host.as_str() else { continue };
            let expires_on = certs
                .iter()
                .filter(|c| {
                    c.get("hosts")
                        .and_then(Value::as_array)
                        .is_none_or(|h| h.iter().any(|x| x.as_str() == Some(host)))
                })
                .filter_map(|c| c.get("expires_on")?.as_str()?.parse::<DateTime<Utc>>().ok())
                .min();
            out.push(CertificateInfo {
                zone: zone.to_owned(),
                host: host.to_owned(),
                pack_id: pack_id.clone(),
                pack_type: s(pack, "type"),
                status: s(pack, "status"),
                expires_on,
                verification_status: verified.get(pack_id.as_str()).map(|v| (*v).to_owned()),
            });
        }
    }
    Ok(out)
}

/// Publishes each certificate's expiry as [`EXPIRY_METRIC`].
pub fn record_metrics(certs: &[CertificateInfo]) {
    for c in certs {
        if let Some(t) = c.expires_on {
            metrics::gauge!(EXPIRY_METRIC, "zone" => c.zone.clone(), "host" => c.host.clone())
                .set(t.timestamp() as f64);
        }
    }
}

/// A certificate crossed a warning threshold: what notifications deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateExpiring {
    pub zone: String,
    pub host: String,
    pub pack_id: String,
    pub expires_on: DateTime<Utc>,
    pub days_left: i64,
    /// The threshold crossed (days).
    pub threshold_days: u32,
}

/// Where warnings go. The notifications subsystem implements this; the certificate job
/// also records each warning as an audit event and in its result.
pub trait CertificateNotifier: Send + Sync {
    /// The job that delivers this warning (a notification dispatch), or `None` when nobody
    /// wants it. The certificate job enqueues it in the transaction that records the warning
    /// and its audit event, so a warning is recorded together with its delivery or not at
    /// all (a crash in between cannot record it as sent and lose the message).
    fn certificate_expiring(&self, event: &CertificateExpiring) -> Option<cc_domain::NewJob>;
}

/// For each certificate within a warning threshold, the smallest such threshold: what is
/// due unless already warned about (see [`CertificateWatch`], and the durable record the
/// certificate job keeps).
#[must_use]
pub fn crossings(
    certs: &[CertificateInfo],
    thresholds: &[u32],
    now: DateTime<Utc>,
) -> Vec<CertificateExpiring> {
    let mut out = Vec::new();
    for c in certs {
        let Some(expires_on) = c.expires_on else {
            continue;
        };
        let left = expires_on - now;
        let Some(threshold) = thresholds
            .iter()
            .copied()
            .filter(|t| left <= chrono::Duration::days(i64::from(*t)))
            .min()
        else {
            continue;
        };
        out.push(CertificateExpiring {
            zone: c.zone.clone(),
            host: c.host.clone(),
            pack_id: c.pack_id.clone(),
            expires_on,
            days_left: left.num_days(),
            threshold_days: threshold,
        });
    }
    out
}

/// Remembers in memory which threshold each certificate was last warned at, so each
/// crossing warns once in this process. Keyed by zone, host and expiry: a renewed
/// certificate starts afresh. (The worker's certificate job keeps this record in the
/// database instead, so a restarted worker does not warn again.)
#[derive(Debug, Default)]
pub struct CertificateWatch {
    warned: Mutex<HashMap<(String, String, i64), u32>>,
}

impl CertificateWatch {
    /// The warnings due now: for each certificate, the smallest threshold it is within,
    /// when that is smaller than the last one warned about.
    pub fn due(
        &self,
        certs: &[CertificateInfo],
        thresholds: &[u32],
        now: DateTime<Utc>,
    ) -> Vec<CertificateExpiring> {
        let mut warned = self
            .warned
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crossings(certs, thresholds, now)
            .into_iter()
            .filter(|e| {
                let key = (e.zone.clone(), e.host.clone(), e.expires_on.timestamp());
                if warned.get(&key).is_some_and(|w| *w <= e.threshold_days) {
                    return false;
                }
                warned.insert(key, e.threshold_days);
                true
            })
            .collect()
    }
}

/// Asks Cloudflare to validate a pack again: an advanced pack is restarted through its
/// own endpoint, other packs through `/ssl/verification?retry=true`.
///
/// # Errors
/// The API failing (e.g. the pack is not waiting for validation).
pub async fn retry_validation(
    client: &CloudflareClient,
    zone_id: &str,
    pack_id: &str,
    pack_type: &str,
) -> Result<(), TargetError> {
    if pack_type == "advanced" {
        client
            .send(
                Method::PATCH,
                &format!("/zones/{zone_id}/ssl/certificate_packs/{pack_id}"),
                &[],
                Some(&json!({})),
            )
            .await?;
    } else {
        client
            .get(
                &format!("/zones/{zone_id}/ssl/verification"),
                &[("retry", "true".to_owned())],
            )
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(days: i64, now: DateTime<Utc>) -> CertificateInfo {
        CertificateInfo {
            zone: "z".into(),
            host: "h".into(),
            pack_id: "p".into(),
            pack_type: "universal".into(),
            status: "active".into(),
            expires_on: Some(now + chrono::Duration::days(days)),
            verification_status: None,
        }
    }

    #[test]
    fn one_warning_per_threshold_crossed() {
        let now = Utc::now();
        let w = CertificateWatch::default();
        let c = [cert(10, now)];
        let first = w.due(&c, &[30, 14, 7], now);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].threshold_days, 14);
        assert!(w.due(&c, &[30, 14, 7], now).is_empty());
        let later = now + chrono::Duration::days(4);
        let next = w.due(&c, &[30, 14, 7], later);
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].threshold_days, 7);
        assert!(w.due(&[cert(60, now)], &[30, 14, 7], now).is_empty());
    }
}
