//! Certificate expiry warnings from the Cloudflare certificate job, as notifications.

use cc_connectors::cloudflare::{CertificateExpiring, CertificateNotifier};
use cc_domain::{EventKind, NotificationEvent, Subscriptions};

/// The [`CertificateNotifier`] given to the Cloudflare jobs: each warning becomes a
/// `certificate.expiring` event when a channel subscribes to it: the dispatch job, which the
/// certificate job enqueues in the transaction that records the warning and its audit event.
#[derive(Clone)]
pub struct CertificateAlerts {
    subscriptions: Subscriptions,
}

impl CertificateAlerts {
    /// Warnings as notifications to the channels `subscriptions` describes
    /// (see [`crate::Notifier::certificate_alerts`]).
    #[must_use]
    pub fn new(subscriptions: Subscriptions) -> Self {
        Self { subscriptions }
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
    fn certificate_expiring(&self, w: &CertificateExpiring) -> Option<cc_domain::NewJob> {
        self.subscriptions.dispatch_job(&Self::event(w))
    }
}
