//! Notifications: channels (Slack-compatible webhooks, email, signed webhooks) behind one
//! [`Channel`] trait, delivered as durable jobs.
//!
//! - An event ([`cc_domain::NotificationEvent`]) is emitted by enqueueing its
//!   `notify.dispatch` job in the transaction of its cause, so notifications commit (or roll
//!   back) with what they are about.
//! - The dispatch job records, for every channel subscribed to the event's kind and severity,
//!   one row in the deliveries log: deduplicated (the same event about the same subject went
//!   to the channel within the dedupe window), held for a digest (the channel already got the
//!   threshold of this kind within the digest window), or pending with its `notify.deliver`
//!   job enqueued in the same transaction.
//! - Backup freshness ([`backups`]) is checked by a cron job of its own and emits
//!   `backup.stale` once per stale period.
//! - The deliver job sends one message to one channel: retried on network errors, 429 and
//!   5xx (honouring `Retry-After`), failed for good on any other refusal.

pub mod backups;
mod certificates;
mod channel;
pub mod config;
mod email;
mod feed;
mod handler;
mod http;
pub mod message;
pub mod slack;
mod webhook;

use std::sync::Arc;
use std::time::Duration;

use cc_domain::{
    DeliveryState, EventKind, NewDelivery, NotificationEvent, Subscription, Subscriptions,
};
use cc_store::Store;

pub use backups::BackupWatch;
pub use certificates::CertificateAlerts;
pub use channel::{Channel, SendError};
pub use config::{ChannelConfig, ChannelKind, NotificationsConfig};
pub use feed::{event_for, FEED_NAME};
pub use message::Message;

/// Counter of deliveries by `channel` and `outcome` (`sent`, `retry`, `failed`,
/// `deduplicated`, `held`).
pub const SENT_METRIC: &str = "cc_notifications_sent_total";
/// The `outcome` label values of [`SENT_METRIC`].
pub const OUTCOMES: [&str; 5] = ["sent", "retry", "failed", "deduplicated", "held"];

/// Registers the metric descriptions (call once where the exporter is installed).
pub fn describe_metrics() {
    metrics::describe_counter!(
        SENT_METRIC,
        "Notification deliveries by channel and outcome (sent, retry, failed, deduplicated, held)."
    );
}

/// A channel with its subscription.
#[derive(Clone)]
pub(crate) struct Subscribed {
    pub(crate) channel: Arc<dyn Channel>,
    pub(crate) subscription: Subscription,
}

impl Subscribed {
    fn wants(&self, e: &NotificationEvent) -> bool {
        self.subscription.wants(e)
    }
}

/// A configured channel as it may be shown (the console's Notifications page): nothing that
/// is a credential or says where messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelSubscription {
    pub name: String,
    /// `slack`, `email` or `webhook`.
    pub kind: &'static str,
    /// The event kinds it receives; every kind when `None`.
    pub events: Option<Vec<EventKind>>,
    /// Events below this severity are not sent to it.
    pub min_severity: cc_domain::notification::Severity,
}

/// Why a test message could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    #[error("no notification channel is named {0:?}")]
    UnknownChannel(String),
    #[error(transparent)]
    Store(#[from] cc_store::StoreError),
}

/// The configured channels and what their jobs need. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    store: Arc<dyn Store>,
    channels: Arc<Vec<Subscribed>>,
    public_url: Option<Arc<str>>,
    dedupe_window: Duration,
    digest_window: Duration,
    digest_threshold: u32,
}

impl Notifier {
    /// Builds the channels (reads their secret files).
    ///
    /// # Errors
    /// A channel's settings are invalid or a file cannot be read; the message names it.
    pub fn new(
        store: Arc<dyn Store>,
        config: &NotificationsConfig,
        public_url: Option<String>,
    ) -> Result<Self, String> {
        let mut channels = Vec::new();
        for c in &config.channels {
            if channels
                .iter()
                .any(|s: &Subscribed| s.channel.name() == c.name)
            {
                return Err(format!(
                    "notification channel {:?} is defined twice",
                    c.name
                ));
            }
            let channel = build_channel(c).map_err(|e| format!("channel {:?}: {e}", c.name))?;
            channels.push(Subscribed {
                channel,
                subscription: c.subscription(),
            });
        }
        let public_url = public_url
            .or_else(|| (!config.public_url.is_empty()).then(|| config.public_url.clone()));
        Ok(Self {
            store,
            channels: Arc::new(channels),
            public_url: public_url.map(Into::into),
            dedupe_window: Duration::from_secs(config.dedupe_window_secs),
            digest_window: Duration::from_secs(config.digest_window_secs.max(1)),
            digest_threshold: config.digest_threshold.max(1),
        })
    }

    /// A notifier with no channels (events are dropped at dispatch).
    #[must_use]
    pub fn disabled(store: Arc<dyn Store>) -> Self {
        Self::new(store, &NotificationsConfig::default(), None)
            .unwrap_or_else(|_| unreachable!("no channels to build"))
    }

    /// The channel names and kinds, in configuration order.
    #[must_use]
    pub fn channels(&self) -> Vec<(String, &'static str)> {
        self.channels
            .iter()
            .map(|s| (s.channel.name().to_owned(), s.channel.kind()))
            .collect()
    }

    /// Each channel's name, kind and subscription, in configuration order: what may be shown
    /// of a channel (no URL, address or secret).
    #[must_use]
    pub fn channel_subscriptions(&self) -> Vec<ChannelSubscription> {
        self.channels
            .iter()
            .map(|s| ChannelSubscription {
                name: s.channel.name().to_owned(),
                kind: s.channel.kind(),
                events: s.subscription.events.clone(),
                min_severity: s.subscription.min_severity,
            })
            .collect()
    }

    /// Registers the `notify.dispatch` and `notify.deliver` job kinds and creates the metric
    /// series at 0.
    pub fn register(&self, registry: &mut cc_queue::Registry) {
        registry.register(handler::DispatchHandler(self.clone()));
        registry.register(handler::DeliverHandler(self.clone()));
        self.export_metrics();
    }

    /// Creates every channel's [`SENT_METRIC`] series at 0 (so the first scrape shows them,
    /// in API-only processes too).
    pub fn export_metrics(&self) {
        for s in self.channels.iter() {
            for outcome in OUTCOMES {
                metrics::counter!(SENT_METRIC, "channel" => s.channel.name().to_owned(), "outcome" => outcome)
                    .increment(0);
            }
        }
    }

    /// Queues a test message to `channel` (past its subscription filters and dedupe);
    /// returns the delivery's id.
    ///
    /// # Errors
    /// No such channel, or the store failed.
    pub async fn send_test(&self, channel: &str, actor: &str) -> Result<i64, TestError> {
        let s = self
            .find(channel)
            .ok_or_else(|| TestError::UnknownChannel(channel.to_owned()))?;
        let event = NotificationEvent::new(
            EventKind::Test,
            format!("channel {channel}"),
            format!("Test message to channel {channel}, sent by {actor}"),
        );
        let id = self
            .store
            .notifications()
            .record_delivery(
                &NewDelivery {
                    channel: s.channel.name().to_owned(),
                    title: event.summary.clone(),
                    event,
                    state: DeliveryState::Pending,
                    job_id: None,
                },
                Some(handler::deliver_job(None)),
            )
            .await?;
        Ok(id)
    }

    /// Checks every channel without sending: `(name, kind, outcome)` in configuration order.
    pub async fn check(&self) -> Vec<(String, &'static str, Result<String, String>)> {
        let mut out = Vec::new();
        for s in self.channels.iter() {
            let c = &s.channel;
            out.push((c.name().to_owned(), c.kind(), c.check().await));
        }
        out
    }

    /// Whether any channel is configured.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        !self.channels.is_empty()
    }

    /// What the channels subscribe to: the emitters enqueue only the events some channel
    /// wants.
    #[must_use]
    pub fn subscriptions(&self) -> Subscriptions {
        Subscriptions::new(
            self.channels
                .iter()
                .map(|s| s.subscription.clone())
                .collect(),
        )
    }

    /// A watch of the backup directory `dir` (`[backups]`) whose stale periods are
    /// `backup.stale` notifications to these channels.
    #[must_use]
    pub fn backup_watch(&self, dir: std::path::PathBuf, max_age: Duration) -> BackupWatch {
        BackupWatch::new(self.store.clone(), dir, max_age, self.subscriptions())
    }

    /// The certificate warnings of the Cloudflare jobs, as notifications to these channels.
    #[must_use]
    pub fn certificate_alerts(&self) -> CertificateAlerts {
        CertificateAlerts::new(self.subscriptions())
    }

    pub(crate) fn find(&self, name: &str) -> Option<&Subscribed> {
        self.channels.iter().find(|s| s.channel.name() == name)
    }
}

fn build_channel(c: &ChannelConfig) -> Result<Arc<dyn Channel>, String> {
    let timeout = Duration::from_millis(c.timeout_ms.max(1));
    let client = || {
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("HTTP client: {e}"))
    };
    Ok(match &c.kind {
        ChannelKind::Slack { url, url_file } => {
            let url = config::read_secret("url", url.as_ref(), url_file.as_deref())?;
            check_http_url(secrecy::ExposeSecret::expose_secret(&url))?;
            Arc::new(slack::SlackChannel {
                name: c.name.clone(),
                url,
                client: client()?,
            })
        }
        ChannelKind::Webhook {
            url,
            secret,
            secret_file,
        } => {
            check_http_url(url)?;
            let secret = if secret.is_some() || secret_file.is_some() {
                Some(config::read_secret(
                    "secret",
                    secret.as_ref(),
                    secret_file.as_deref(),
                )?)
            } else {
                None
            };
            Arc::new(webhook::WebhookChannel {
                name: c.name.clone(),
                url: url.clone(),
                secret,
                client: client()?,
            })
        }
        ChannelKind::Email(e) => Arc::new(email::EmailChannel::build(&c.name, e, timeout)?),
    })
}

fn check_http_url(url: &str) -> Result<(), String> {
    check_url(url)
}

/// An absolute `http://` or `https://` URL with a host.
pub(crate) fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err("the URL must start with http:// or https:// and name a host".into()),
        Err(e) => Err(format!("not a valid URL ({e})")),
    }
}

/// Scheme, host and port of `url`: what may be shown of a URL that is a credential.
pub(crate) fn url_origin(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(
        |_| "an invalid URL".to_owned(),
        |u| u.origin().ascii_serialization(),
    )
}
