//! Certificate expiry warnings from the Cloudflare certificate job, as notifications.

use std::sync::Arc;

use cc_connectors::cloudflare::{CertificateExpiring, CertificateNotifier};
use cc_domain::{EventKind, NotificationEvent, Subscriptions};
use cc_store::Store;

/// The [`CertificateNotifier`] given to the Cloudflare jobs: each warning becomes a
/// `certificate.expiring` event when a channel subscribes to it. The certificate job has
/// already written the warning's audit event; the dispatch job is enqueued right after (the
/// trait is synchronous, so on a task of its own), and a failure to enqueue is logged.
#[derive(Clone)]
pub struct CertificateAlerts {
    store: Arc<dyn Store>,
    subscriptions: Subscriptions,
}

impl CertificateAlerts {
    /// Warnings as notifications to the channels `subscriptions` describes
    /// (see [`crate::Notifier::certificate_alerts`]).
    #[must_use]
    pub fn new(store: Arc<dyn Store>, subscriptions: Subscriptions) -> Self {
        Self {
            store,
            subscriptions,
        }
    }

    /// The event for one warning.
    #[must_use]
    pub fn event(w: &CertificateExpiring) -> NotificationEvent {
        let mut e = NotificationEvent::new(
            EventKind::CertificateExpiring,
            format!("certificate {} {}", w.host, w.expires_on.date_naive()),
            format!(
                "The certificate of {} (zone {}) expires on {} ({} day{} left; warning at {} days)",
                w.host,
                w.zone,
                w.expires_on.format("%Y-%m-%d %H:%M UTC"),
                w.days_left,
                if w.days_left == 1 { "" } else { "s" },
                w.threshold_days
            ),
        );
        if w.days_left <= 3 {
            e.severity = cc_domain::notification::Severity::Critical;
        }
        e
    }
}

impl CertificateNotifier for CertificateAlerts {
    fn certificate_expiring(&self, w: &CertificateExpiring) {
        let Some(job) = self.subscriptions.dispatch_job(&Self::event(w)) else {
            return;
        };
        let store = self.store.clone();
        let host = w.host.clone();
        tokio::spawn(async move {
            let queued = async {
                let mut tx = store.begin().await?;
                tx.enqueue(&job).await?;
                tx.commit().await
            }
            .await;
            if let Err(e) = queued {
                tracing::warn!(error = %e, host, "could not queue a certificate expiry notification");
            }
        });
    }
}
