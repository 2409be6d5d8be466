//! Cloudflare automation (API v4, token auth): DNS records and WAF custom rules as declared
//! state, cache purge, and SSL/TLS certificate monitoring.
//!
//! Contract, as for targets: `plan` only reads; `apply` converges (a second plan after an
//! apply is empty); only records whose comment starts with the managed prefix, and only
//! rules whose `ref` does, are ever changed or deleted; a delete guard refuses an apply that
//! would remove too many; errors say whether a retry can help and never contain the token.

pub mod certs;
pub mod client;
pub mod config;
pub mod dns;
mod guard;
pub mod purge;
pub mod waf;

use std::collections::HashMap;

use serde::Serialize;
use tokio::sync::Mutex;

pub use certs::{CertificateExpiring, CertificateInfo, CertificateNotifier, CertificateWatch};
pub use client::CloudflareClient;
pub use config::{CloudflareConfig, DeleteGuard, DnsRecordSpec, WafRuleSpec};
pub use dns::DnsPlan;
pub use guard::check_deletes;
pub use purge::PurgeRequest;
pub use waf::WafPlan;

use crate::{ConfigError, TargetError};

/// The plan for every configured zone.
#[derive(Debug, Clone, Serialize)]
pub struct CloudflarePlan {
    pub dns: Vec<DnsPlan>,
    pub waf: Vec<WafPlan>,
}

impl CloudflarePlan {
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.dns.iter().all(DnsPlan::is_empty) && self.waf.iter().all(WafPlan::is_empty)
    }
}

/// What an apply changed.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ApplySummary {
    pub dns_changes: usize,
    pub waf_changes: usize,
}

/// The configured service: the client, the declared state and the zone ids looked up.
pub struct Cloudflare {
    config: CloudflareConfig,
    client: CloudflareClient,
    zone_ids: Mutex<HashMap<String, String>>,
}

impl Cloudflare {
    /// Builds from configuration (reads the token file; no request yet).
    ///
    /// # Errors
    /// An invalid configuration or unreadable token file.
    pub fn new(config: CloudflareConfig) -> Result<Self, ConfigError> {
        let client = CloudflareClient::new(&config)?;
        Ok(Self {
            config,
            client,
            zone_ids: Mutex::new(HashMap::new()),
        })
    }

    #[must_use]
    pub fn config(&self) -> &CloudflareConfig {
        &self.config
    }

    #[must_use]
    pub fn client(&self) -> &CloudflareClient {
        &self.client
    }

    /// Verifies the token and that every configured zone is visible: what `check` and
    /// health report.
    ///
    /// # Errors
    /// The first failure.
    pub async fn check(&self) -> Result<String, TargetError> {
        let status = self.client.verify_token().await?;
        for z in &self.config.zones {
            self.zone_id(z).await?;
        }
        Ok(format!(
            "token {status}; {} zone(s) visible",
            self.config.zones.len()
        ))
    }

    /// A zone's id, looked up once.
    ///
    /// # Errors
    /// The zone not visible to the token, or the request failing.
    pub async fn zone_id(&self, zone: &str) -> Result<String, TargetError> {
        let mut ids = self.zone_ids.lock().await;
        if let Some(id) = ids.get(zone) {
            return Ok(id.clone());
        }
        let id = self.client.zone_id(zone).await?;
        ids.insert(zone.to_owned(), id.clone());
        Ok(id)
    }

    /// Plans DNS records and WAF rules for every configured zone (read-only).
    ///
    /// # Errors
    /// The API failing.
    pub async fn plan(&self) -> Result<CloudflarePlan, TargetError> {
        let c = &self.config;
        let mut plan = CloudflarePlan {
            dns: vec![],
            waf: vec![],
        };
        for zone in &c.zones {
            let id = self.zone_id(zone).await?;
            plan.dns
                .push(dns::plan(&self.client, zone, &id, &c.managed_prefix, &c.dns).await?);
            // WAF rules are read only when some are declared, so a token without ruleset
            // permission serves DNS alone.
            if !c.waf.is_empty() {
                plan.waf
                    .push(waf::plan(&self.client, zone, &id, &c.managed_prefix, &c.waf).await?);
            }
        }
        Ok(plan)
    }

    /// Applies a plan: every zone's guard is checked before anything is written.
    ///
    /// # Errors
    /// A guard refusing, or the API failing part way (the next plan shows what is left).
    pub async fn apply(
        &self,
        plan: &CloudflarePlan,
        force: bool,
    ) -> Result<ApplySummary, TargetError> {
        let g = &self.config.delete_guard;
        if !force {
            for d in &plan.dns {
                check_deletes(g, "DNS records", d.deletes.len(), d.managed_count)
                    .map_err(|e| e.context(&d.zone))?;
            }
            for w in &plan.waf {
                check_deletes(g, "WAF rules", w.deletes.len(), w.managed_count)
                    .map_err(|e| e.context(&w.zone))?;
            }
        }
        let mut summary = ApplySummary::default();
        for d in &plan.dns {
            summary.dns_changes += dns::apply(&self.client, d, g, force).await?;
        }
        for w in &plan.waf {
            summary.waf_changes +=
                waf::apply(&self.client, w, &self.config.managed_prefix, g, force).await?;
        }
        Ok(summary)
    }

    /// Purges one zone's cache.
    ///
    /// # Errors
    /// An invalid request or the API failing.
    pub async fn purge(&self, zone: &str, request: &PurgeRequest) -> Result<usize, TargetError> {
        if !self.config.zones.iter().any(|z| z == zone) {
            return Err(TargetError::permanent(format!(
                "zone `{zone}` is not configured"
            )));
        }
        let id = self.zone_id(zone).await?;
        purge::purge(&self.client, &id, request, self.config.purge_batch_size).await
    }

    /// Reads every zone's certificates and publishes the expiry metric.
    ///
    /// # Errors
    /// The API failing.
    pub async fn certificates(&self) -> Result<Vec<CertificateInfo>, TargetError> {
        let mut all = Vec::new();
        for zone in &self.config.zones {
            let id = self.zone_id(zone).await?;
            all.extend(certs::read_zone(&self.client, zone, &id).await?);
        }
        certs::record_metrics(&all);
        Ok(all)
    }

    /// Certificate monitoring without a database: read, publish the expiry metric, and
    /// return each threshold crossing `watch` has not returned before. (The worker's
    /// certificate job keeps the record in the database instead, and hands each warning to
    /// its [`CertificateNotifier`] in the transaction that records it.)
    ///
    /// # Errors
    /// The API failing.
    pub async fn monitor_certificates(
        &self,
        watch: &CertificateWatch,
    ) -> Result<Vec<CertificateExpiring>, TargetError> {
        let all = self.certificates().await?;
        Ok(watch.due(
            &all,
            &self.config.certificate_warning_days,
            chrono::Utc::now(),
        ))
    }

    /// Asks Cloudflare to validate a certificate pack again.
    ///
    /// # Errors
    /// The pack not found in the zone, or the API failing.
    pub async fn retry_validation(&self, zone: &str, pack_id: &str) -> Result<(), TargetError> {
        let id = self.zone_id(zone).await?;
        let certs = certs::read_zone(&self.client, zone, &id).await?;
        let pack = certs.iter().find(|c| c.pack_id == pack_id).ok_or_else(|| {
            TargetError::permanent(format!("no certificate pack `{pack_id}` in `{zone}`"))
        })?;
        certs::retry_validation(&self.client, &id, pack_id, &pack.pack_type).await
    }
}
