//! The `notify.dispatch` and `notify.deliver` job kinds.

use async_trait::async_trait;
use cc_domain::notification::{NOTIFY_DELIVER_KIND, NOTIFY_DISPATCH_KIND};
use cc_domain::{DeliveryState, EventKind, NewDelivery, NewJob, NotificationEvent};
use cc_queue::{JobContext, JobError, JobHandler};
use cc_store::{DeliveryUpdate, DispatchRule};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::channel::{Channel, SendError};
use crate::message::Message;
use crate::{Notifier, Subscribed, SENT_METRIC};

/// Attempts a delivery gets: with the default backoff about half an hour of receiver outage.
const DELIVER_ATTEMPTS: i32 = 12;

/// Args of a `notify.deliver` job: one recorded delivery, or the digest of one channel's
/// held events of one kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DeliverArgs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestArgs>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DigestArgs {
    pub channel: String,
    pub event: EventKind,
}

/// A `notify.deliver` job (the store adds `delivery_id` when it records the delivery).
pub(crate) fn deliver_job(digest: Option<DigestArgs>) -> NewJob {
    let mut job = NewJob::new(
        NOTIFY_DELIVER_KIND,
        serde_json::to_value(DeliverArgs {
            delivery_id: None,
            digest,
        })
        .unwrap_or_default(),
    );
    job.max_attempts = DELIVER_ATTEMPTS;
    job
}

fn count(channel: &str, outcome: &'static str) {
    metrics::counter!(SENT_METRIC, "channel" => channel.to_owned(), "outcome" => outcome)
        .increment(1);
}

pub(crate) struct DispatchHandler(pub(crate) Notifier);

#[async_trait]
impl JobHandler for DispatchHandler {
    type Args = NotificationEvent;
    type Output = ();

    fn kind(&self) -> &str {
        NOTIFY_DISPATCH_KIND
    }

    async fn run(&self, _ctx: JobContext, event: NotificationEvent) -> Result<(), JobError> {
        for s in self.0.channels.iter().filter(|s| s.wants(&event)) {
            self.0
                .dispatch_to(s, &event)
                .await
                .map_err(JobError::retryable)?;
        }
        Ok(())
    }
}

impl Notifier {
    /// Records `event` for one channel: deduplicated, held for a digest, or pending with its
    /// delivery job.
    async fn dispatch_to(
        &self,
        s: &Subscribed,
        event: &NotificationEvent,
    ) -> Result<(), cc_store::StoreError> {
        let name = s.channel.name();
        let now = Utc::now();
        let since = |d: std::time::Duration| {
            now - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
        };
        let mut digest_job = deliver_job(Some(DigestArgs {
            channel: name.to_owned(),
            event: event.kind,
        }));
        digest_job.unique_key = Some(format!("notify.digest:{name}:{}", event.kind.as_str()));
        digest_job.run_at = Some(
            now + chrono::Duration::from_std(self.digest_window)
                .unwrap_or(chrono::Duration::zero()),
        );
        let rule = DispatchRule {
            dedupe_since: since(self.dedupe_window),
            digest_since: since(self.digest_window),
            digest_threshold: i64::from(self.digest_threshold),
            deliver_job: deliver_job(None),
            digest_job,
        };
        let d = NewDelivery {
            channel: name.to_owned(),
            event: event.clone(),
            state: DeliveryState::Pending,
            title: event.summary.clone(),
            job_id: None,
        };
        match self.store.notifications().dispatch(&d, rule).await? {
            DeliveryState::Deduplicated => count(name, "deduplicated"),
            DeliveryState::Held => count(name, "held"),
            _ => {}
        }
        Ok(())
    }
}

pub(crate) struct DeliverHandler(pub(crate) Notifier);

#[async_trait]
impl JobHandler for DeliverHandler {
    type Args = DeliverArgs;
    type Output = ();

    fn kind(&self) -> &str {
        NOTIFY_DELIVER_KIND
    }

    async fn run(&self, ctx: JobContext, args: DeliverArgs) -> Result<(), JobError> {
        let store = self.0.store.notifications();
        let (id, channel_name, message) = if let Some(d) = args.digest {
            let id = match store
                .delivery_for_job(ctx.job_id)
                .await
                .map_err(JobError::retryable)?
            {
                Some(id) => id,
                None => {
                    let event = NotificationEvent::new(
                        d.event,
                        format!("digest of {}", d.event.as_str()),
                        format!("Digest of {}", d.event.digest_phrase()),
                    );
                    let new = NewDelivery {
                        channel: d.channel.clone(),
                        title: event.summary.clone(),
                        event,
                        state: DeliveryState::Pending,
                        job_id: Some(ctx.job_id),
                    };
                    store
                        .record_delivery(&new, None)
                        .await
                        .map_err(JobError::retryable)?
                }
            };
            let held = store
                .take_held(&d.channel, d.event.as_str(), id)
                .await
                .map_err(JobError::retryable)?;
            let message = Message::digest(
                d.event,
                &held,
                self.0.digest_window.as_secs(),
                self.0.public_url.as_deref(),
            );
            (id, d.channel, message)
        } else {
            let id = args
                .delivery_id
                .ok_or_else(|| JobError::Permanent("no delivery_id".into()))?;
            let Some((delivery, event)) =
                store.get_delivery(id).await.map_err(JobError::retryable)?
            else {
                return Err(JobError::Permanent(format!("delivery {id} does not exist")));
            };
            if delivery.state == DeliveryState::Sent {
                return Ok(());
            }
            let message = Message::single(&event, self.0.public_url.as_deref());
            (id, delivery.channel, message)
        };
        let Some(s) = self.0.find(&channel_name) else {
            let error = format!("channel {channel_name:?} is no longer configured");
            self.0
                .finish(id, DeliveryState::Failed, Some(error.clone()))
                .await?;
            return Err(JobError::Permanent(error));
        };
        self.0.deliver(&ctx, id, s.channel.as_ref(), &message).await
    }
}

impl Notifier {
    async fn deliver(
        &self,
        ctx: &JobContext,
        id: i64,
        channel: &dyn Channel,
        message: &Message,
    ) -> Result<(), JobError> {
        match channel.send(message).await {
            Ok(()) => {
                self.finish(id, DeliveryState::Sent, None).await?;
                count(channel.name(), "sent");
                Ok(())
            }
            Err(SendError::Retryable { message, after }) => {
                let last = ctx.is_last_attempt();
                let state = if last {
                    DeliveryState::Failed
                } else {
                    DeliveryState::Pending
                };
                self.finish(id, state, Some(message.clone())).await?;
                count(channel.name(), if last { "failed" } else { "retry" });
                Err(match after {
                    Some(after) => JobError::RetryableAfter { message, after },
                    None => JobError::Retryable(message),
                })
            }
            Err(SendError::Permanent(message)) => {
                self.finish(id, DeliveryState::Failed, Some(message.clone()))
                    .await?;
                count(channel.name(), "failed");
                Err(JobError::Permanent(message))
            }
        }
    }

    async fn finish(
        &self,
        id: i64,
        state: DeliveryState,
        error: Option<String>,
    ) -> Result<(), JobError> {
        self.store
            .notifications()
            .update_delivery(&DeliveryUpdate {
                id,
                state,
                error,
                now: Utc::now(),
            })
            .await
            .map_err(JobError::retryable)
    }
}
