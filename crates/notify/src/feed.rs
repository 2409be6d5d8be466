//! The notifications feed: reads the event log (`job_events`) from a durable position and
//! turns discarded jobs, import outcomes and failing or recovering targets into
//! `notify.dispatch` jobs.
//!
//! Those records are already written in the transaction of their cause (a job's state
//! change, an import run's outcome, a target's notice), so the feed needs no change in the
//! code paths that write them and cannot lose one: it moves its position (migration 0016)
//! and enqueues the dispatch jobs in one transaction, guarded by the position it read, so
//! two workers reading at once cannot both enqueue. On PostgreSQL a transaction can commit a
//! lower sequence number after a higher one was read; the feed stops before such a gap and
//! waits for it to fill, skipping it only after [`GAP_PATIENCE`] (a rolled-back insert leaves
//! a gap for good) — or sooner, once the store says every transaction open when the gap was
//! seen has ended (`JobStore::event_gap_settled`: the number was rolled back).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cc_domain::{EventKind, JobState, NoticeTopic, NotificationEvent, StreamEvent};
use chrono::Utc;

use crate::Notifier;

/// The feed's name in `notification_feed`.
pub const FEED_NAME: &str = "events";
/// Events read per step.
const BATCH: u32 = 500;
/// How long a hole in the sequence is waited for.
const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// Events older than this when read are not notified (a feed that was off for a day does not
/// flood the channels with old news).
const MAX_AGE_HOURS: i64 = 24;

/// The notification an entry of the event log stands for, if any.
#[must_use]
pub fn event_for(e: &StreamEvent) -> Option<NotificationEvent> {
    match e {
        StreamEvent::Job(j) if j.state == JobState::Discarded => {
            let kind = j.kind.as_deref().unwrap_or("unknown");
            // A delivery that failed for good is in the deliveries log; announcing it through
            // the channels could loop.
            if kind.starts_with("notify.") {
                return None;
            }
            let mut n = NotificationEvent::new(
                EventKind::JobDiscarded,
                format!("job {}", j.job_id),
                format!(
                    "Job {} ({kind}) was discarded after {} attempt{}",
                    j.job_id,
                    j.attempt,
                    if j.attempt == 1 { "" } else { "s" }
                ),
            )
            .with_link(format!("/jobs/{}", j.job_id));
            n.occurred_at = j.at;
            if let Some(note) = &j.note {
                n = n.with_error(note.clone());
            }
            Some(n)
        }
        StreamEvent::Job(_) => None,
        StreamEvent::Notice(n) => {
            let (kind, summary, link) = match (n.topic, n.state.as_str()) {
                (NoticeTopic::Import, "applied") => (
                    EventKind::ImportApplied,
                    format!("Roster import {} was applied", n.subject),
                    format!("/imports/{}", n.subject),
                ),
                (NoticeTopic::Import, "refused") => (
                    EventKind::ImportRefused,
                    format!("Roster import {} was refused by a guard", n.subject),
                    format!("/imports/{}", n.subject),
                ),
                (NoticeTopic::Import, "failed") => (
                    EventKind::ImportFailed,
                    format!("Roster import {} failed", n.subject),
                    format!("/imports/{}", n.subject),
                ),
                (NoticeTopic::Target, "failing") => (
                    EventKind::TargetFailing,
                    format!("Target {} is failing", n.subject),
                    "/targets".to_owned(),
                ),
                (NoticeTopic::Target, "recovered") => (
                    EventKind::TargetRecovered,
                    format!("Target {} works again", n.subject),
                    "/targets".to_owned(),
                ),
                _ => return None,
            };
            let subject = format!("{} {}", n.topic.as_str(), n.subject);
            let mut event = NotificationEvent::new(kind, subject, summary).with_link(link);
            event.occurred_at = n.at;
            if let Some(note) = n.note.as_deref().filter(|s| !s.is_empty()) {
                if event.severity > cc_domain::notification::Severity::Info {
                    event = event.with_error(note);
                } else {
                    event.summary = format!("{} ({note})", event.summary);
                }
            }
            Some(event)
        }
    }
}

/// Holes in the sequence and when they were first seen, and what the store said is final.
#[derive(Default)]
pub(crate) struct Gaps {
    first_seen: HashMap<i64, Instant>,
    watch: cc_store::jobs::GapWatch,
    /// Holes ending at or below this are final (the store said so).
    settled_to: i64,
}

impl Gaps {
    /// Whether the hole from `missing` up to `next` (exclusive) may be passed: it is final, or
    /// has been waited for long enough.
    fn may_skip(&mut self, missing: i64, next: i64) -> bool {
        if next <= self.settled_to {
            return true;
        }
        let first = *self.first_seen.entry(missing).or_insert_with(Instant::now);
        first.elapsed() >= GAP_PATIENCE
    }

    fn forget_before(&mut self, seq: i64) {
        self.first_seen.retain(|s, _| *s > seq);
    }
}

impl Notifier {
    /// One step of the feed: reads what follows its position and enqueues the dispatch jobs.
    /// Returns how many entries it moved past.
    pub(crate) async fn feed_step(&self, gaps: &mut Gaps) -> Result<usize, cc_store::StoreError> {
        let start = self.store.last_job_event().await?;
        let notes = self.store.notifications();
        let from = notes.feed_position(FEED_NAME, start).await?;
        let settled = gaps.watch.settled_to(self.store.as_ref(), from).await;
        gaps.settled_to = gaps.settled_to.max(settled);
        let entries = self.store.job_events_after(from, BATCH).await?;
        let oldest = Utc::now() - chrono::Duration::hours(MAX_AGE_HOURS);
        let (mut to, mut jobs, mut passed) = (from, Vec::new(), 0);
        for e in &entries {
            let seq = e.seq();
            if seq > to + 1 && !gaps.may_skip(to + 1, seq) {
                if let Some(last) = entries.last() {
                    gaps.watch
                        .stopped_at_gap(self.store.as_ref(), last.seq())
                        .await;
                }
                break;
            }
            to = seq;
            passed += 1;
            let Some(mut event) = event_for(e) else {
                continue;
            };
            if event.occurred_at < oldest || !self.wants_any(&event) {
                continue;
            }
            if let StreamEvent::Job(j) = e {
                // The event's note says only that an attempt failed; the job keeps the error.
                if let Some(last) = self
                    .store
                    .get_job(j.job_id)
                    .await?
                    .and_then(|job| job.errors.last().map(|a| a.error.clone()))
                {
                    event.error = Some(last);
                }
            }
            jobs.push(event.dispatch_job());
        }
        if to > from && notes.advance_feed(FEED_NAME, from, to, &jobs).await? {
            gaps.forget_before(to);
            return Ok(passed);
        }
        Ok(0)
    }

    /// Runs the feed until `stop`: a step every `interval`, at once again while it finds a
    /// full batch. Errors are logged and the step tried again.
    pub async fn run_feed(&self, interval: Duration, stop: tokio_util::sync::CancellationToken) {
        let mut gaps = Gaps::default();
        loop {
            let wait = match self.feed_step(&mut gaps).await {
                Ok(n) if n >= BATCH as usize => Duration::ZERO,
                Ok(_) => interval,
                Err(e) => {
                    tracing::warn!(error = %e, "the notifications feed could not read the event log");
                    interval
                }
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    fn wants_any(&self, event: &NotificationEvent) -> bool {
        self.channels.iter().any(|s| s.wants(event))
    }
}

#[cfg(test)]
mod tests {
    use super::Gaps;

    #[test]
    fn a_hole_the_store_settled_is_passed_at_once_and_one_beyond_it_waits() {
        let mut gaps = Gaps {
            settled_to: 10,
            ..Gaps::default()
        };
        assert!(gaps.may_skip(5, 7));
        assert!(gaps.may_skip(9, 10));
        assert!(!gaps.may_skip(11, 12), "beyond what the marked read saw");
        assert!(!Gaps::default().may_skip(1, 3), "new holes are waited for");
    }
}
