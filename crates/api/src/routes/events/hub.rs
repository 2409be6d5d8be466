//! One poller per process: reads the event log (`job_events`: job state changes and notices)
//! in sequence order and broadcasts each batch to
//! every open stream, so a thousand streams cost one database query per poll, not a thousand.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cc_domain::StreamEvent;
use cc_store::Store;
use tokio::sync::{broadcast, OnceCell};
use tokio_util::sync::CancellationToken;

/// How often the poller looks for new events.
const POLL: Duration = Duration::from_millis(200);
/// How long a gap in sequence numbers is waited for (a transaction that took a number may
/// still commit) before it is skipped (it rolled back).
const GAP_WAIT: Duration = Duration::from_secs(2);
/// Most events read per poll.
pub(super) const BATCH: u32 = 500;
/// Batches buffered per stream; a stream that falls further behind re-reads from the store.
const CHANNEL: usize = 64;

/// A batch of events in sequence order.
pub type Batch = Arc<[StreamEvent]>;

/// The shared poller and its broadcast channel.
pub struct EventHub {
    store: Arc<dyn Store>,
    tx: broadcast::Sender<Batch>,
    /// The last sequence number broadcast (every event up to it was sent or skipped).
    position: AtomicI64,
    started: OnceCell<()>,
    stop: CancellationToken,
}

impl EventHub {
    #[must_use]
    pub fn new(store: Arc<dyn Store>, stop: CancellationToken) -> Self {
        Self {
            store,
            tx: broadcast::channel(CHANNEL).0,
            position: AtomicI64::new(0),
            started: OnceCell::new(),
            stop,
        }
    }

    /// Subscribes to new batches, starting the poller on first use. Returns the receiver
    /// and the position it starts after: every event up to that position must be read from
    /// the store, every later one arrives on the receiver.
    ///
    /// # Errors
    /// The newest event's number cannot be read (first use only).
    pub async fn subscribe(
        self: &Arc<Self>,
    ) -> Result<(broadcast::Receiver<Batch>, i64), cc_store::StoreError> {
        self.start().await?;
        // Subscribe before reading the position: a batch published after the position
        // moved past it is then always on the receiver.
        let rx = self.tx.subscribe();
        Ok((rx, self.position.load(Ordering::SeqCst)))
    }

    /// Starts the poller on first use and returns the position: a page rendered after this
    /// call reflects every event up to it, so a stream opened later with `after` set to it
    /// misses nothing that happened in between (console pages embed it as
    /// `data-events-after`).
    ///
    /// # Errors
    /// The newest event's number cannot be read (first use only).
    pub async fn start(self: &Arc<Self>) -> Result<i64, cc_store::StoreError> {
        self.started
            .get_or_try_init(|| async {
                let last = self.store.last_job_event().await?;
                self.position.store(last, Ordering::SeqCst);
                tokio::spawn(self.clone().run());
                Ok::<_, cc_store::StoreError>(())
            })
            .await?;
        Ok(self.position.load(Ordering::SeqCst))
    }

    /// The last sequence number broadcast.
    #[must_use]
    pub fn position(&self) -> i64 {
        self.position.load(Ordering::SeqCst)
    }

    async fn run(self: Arc<Self>) {
        let mut gap_since = None;
        let mut gaps = cc_store::jobs::GapWatch::default();
        loop {
            let skip_to = gaps.settled_to(self.store.as_ref(), self.position()).await;
            match self.store.job_events_after(self.position(), BATCH).await {
                Ok(events) => {
                    let seen = events.last().map(StreamEvent::seq);
                    let ready = in_order(self.position(), &mut gap_since, skip_to, events);
                    if let Some(last) = ready.last() {
                        self.position.store(last.seq(), Ordering::SeqCst);
                        // No receiver is not an error: nobody is listening right now.
                        let _ = self.tx.send(ready.into());
                    }
                    if let (Some(seen), true) = (seen, gap_since.is_some()) {
                        if gaps.stopped_at_gap(self.store.as_ref(), seen).await {
                            continue;
                        }
                    }
                    if seen.is_some_and(|s| s == self.position()) {
                        // Everything read was sent: there may be more.
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading job events failed"),
            }
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// The events that can be sent now: those following `after` without a gap, or past a gap
/// that has been open longer than [`GAP_WAIT`], or that ends at or below `skip_to` (a gap the
/// store said is final: [`cc_store::jobs::JobStore::event_gap_settled`]).
fn in_order(
    mut after: i64,
    gap_since: &mut Option<Instant>,
    skip_to: i64,
    events: Vec<StreamEvent>,
) -> Vec<StreamEvent> {
    let mut out = Vec::new();
    for e in events {
        if e.seq() != after + 1 && e.seq() > skip_to {
            let since = *gap_since.get_or_insert_with(Instant::now);
            if since.elapsed() < GAP_WAIT {
                break;
            }
        }
        *gap_since = None;
        after = e.seq();
        out.push(e);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cc_domain::{JobEvent, JobState};

    fn events(seqs: &[i64]) -> Vec<StreamEvent> {
        seqs.iter()
            .map(|&seq| {
                StreamEvent::Job(JobEvent {
                    seq,
                    job_id: 1,
                    at: cc_domain::now(),
                    state: JobState::Running,
                    attempt: 1,
                    worker_id: None,
                    note: None,
                    kind: None,
                    queue: None,
                })
            })
            .collect()
    }

    fn seqs(events: &[StreamEvent]) -> Vec<i64> {
        events.iter().map(StreamEvent::seq).collect()
    }

    #[test]
    fn a_gap_holds_back_what_follows_it() {
        let mut gap = None;
        assert_eq!(
            seqs(&in_order(0, &mut gap, 0, events(&[1, 2, 4, 5]))),
            [1, 2]
        );
        assert!(gap.is_some());
        // Filled: everything goes, and the gap is over.
        assert_eq!(
            seqs(&in_order(2, &mut gap, 0, events(&[3, 4, 5]))),
            [3, 4, 5]
        );
        assert!(gap.is_none());
    }

    #[test]
    fn a_gap_the_store_says_is_final_is_skipped_up_to_its_bound_only() {
        let mut gap = None;
        assert_eq!(seqs(&in_order(0, &mut gap, 0, events(&[1, 3, 4]))), [1]);
        // Settled below 4: the missing 2 is skipped at once; the missing 5 (beyond what the
        // marked read saw) still holds back 6.
        let out = in_order(1, &mut gap, 4, events(&[3, 4, 6]));
        assert_eq!(seqs(&out), [3, 4]);
        assert!(gap.is_some());
    }

    #[test]
    fn a_gap_open_longer_than_the_wait_is_skipped() {
        let mut gap = Some(Instant::now().checked_sub(GAP_WAIT).unwrap());
        assert_eq!(seqs(&in_order(0, &mut gap, 0, events(&[2, 3]))), [2, 3]);
        assert!(gap.is_none());
    }
}
