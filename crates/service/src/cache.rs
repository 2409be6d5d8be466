//! A small cache of reads, valid while the store's change generation stays the same.
//!
//! The rule that keeps it exact: take the generation *before* reading from the database,
//! store the result under that generation, and use an entry only while the store still
//! reports the same generation ([`cc_store::Store::change_generation`]). A commit that the
//! read may have missed raises the generation, so the entry is never used again.
//!
//! [`GenerationCache::get_or_load`] also makes the reads single-flight: while writes stream
//! in, every commit leaves the cache empty, and the requests that arrive before the first
//! read of a key is back would each read it again (a burst of identical reads after each
//! commit). Requests for the same key under the same generation share one read instead.
//! Sharing is exact by the same rule: the shared read started after that generation was
//! taken, and a request that saw a newer generation does not join it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// Reads in flight by key: the generation each was started under, and the cell its value
/// arrives in.
type Loading<K, V> = Mutex<HashMap<K, (u64, Arc<OnceCell<V>>)>>;

/// Entries keyed by `K`, each valid for one generation; at most `capacity` of them.
pub struct GenerationCache<K, V> {
    entries: Mutex<HashMap<K, (u64, V)>>,
    /// Reads in flight, by key, with the generation each was started under. An entry lives
    /// as long as the request that started the read (see [`Flight`]).
    loading: Loading<K, V>,
    capacity: usize,
}

/// Removes its read from `loading` when the request that started it ends, finished or not
/// (a client that goes away cancels its request): the map never keeps a read nobody runs.
/// Requests already waiting keep their handle on the cell, and one of them reads instead.
struct Flight<'a, K: Eq + Hash, V> {
    loading: &'a Loading<K, V>,
    key: K,
    cell: Arc<OnceCell<V>>,
}

impl<K: Eq + Hash, V> Drop for Flight<'_, K, V> {
    fn drop(&mut self) {
        if let Ok(mut loading) = self.loading.lock() {
            if loading
                .get(&self.key)
                .is_some_and(|(_, c)| Arc::ptr_eq(c, &self.cell))
            {
                loading.remove(&self.key);
            }
        }
    }
}

impl<K: Eq + Hash, V: Clone> GenerationCache<K, V> {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            loading: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// The value stored for `key` under exactly `generation`.
    pub fn get(&self, key: &K, generation: u64) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, v)| v.clone())
    }

    /// Stores `value`, read after `generation` was taken. When full, entries of older
    /// generations go first; if all are current, everything goes (the cache refills).
    pub fn insert(&self, key: K, generation: u64, value: V) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (g, _)| *g >= generation);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        match entries.get(&key) {
            // Never replace a newer generation's entry with an older read.
            Some((g, _)) if *g > generation => {}
            _ => {
                entries.insert(key, (generation, value));
            }
        }
    }

    /// The value for `key` under `generation`: from the cache, from a read of the same key
    /// under the same generation already in flight, or from `load` (then kept). A failed
    /// read is not kept: a request that was waiting on it runs its own `load`.
    ///
    /// # Errors
    ///
    /// What `load` returned, for this request's read or the shared one it waited on last.
    pub async fn get_or_load<E, Fut>(
        &self,
        key: K,
        generation: u64,
        load: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        K: Clone,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(value) = self.get(&key, generation) {
            return Ok(value);
        }
        let (cell, _flight) = {
            let Ok(mut loading) = self.loading.lock() else {
                return load().await;
            };
            match loading.get(&key) {
                Some((g, cell)) if *g == generation => (cell.clone(), None),
                // A read under a newer generation is in flight: this request saw an older
                // one, so it reads on its own and leaves that flight to the newer requests.
                Some((g, _)) if *g > generation => (Arc::new(OnceCell::new()), None),
                _ => {
                    let cell = Arc::new(OnceCell::new());
                    loading.insert(key.clone(), (generation, cell.clone()));
                    let flight = Flight {
                        loading: &self.loading,
                        key: key.clone(),
                        cell: cell.clone(),
                    };
                    (cell, Some(flight))
                }
            }
        };
        let value = cell.get_or_try_init(load).await?.clone();
        self.insert(key, generation, value.clone());
        Ok(value)
    }

    /// Number of reads in flight (for tests).
    #[doc(hidden)]
    pub fn loading(&self) -> usize {
        self.loading.lock().map_or(0, |l| l.len())
    }

    /// Removes `key` (e.g. after this process changed what it stands for).
    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    /// Number of entries held (current or not).
    pub fn len(&self) -> usize {
        self.entries.lock().map_or(0, |e| e.len())
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::GenerationCache;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use tokio::sync::Notify;

    type Outcome = Result<u32, &'static str>;

    /// Requests for the key `"page"` on one cache; each read that runs counts itself.
    struct Requests {
        cache: Arc<GenerationCache<&'static str, u32>>,
        runs: Arc<AtomicUsize>,
        /// Held reads finish when this is notified.
        release: Arc<Notify>,
    }

    impl Requests {
        fn new() -> Self {
            Self {
                cache: Arc::new(GenerationCache::new(8)),
                runs: Arc::new(AtomicUsize::new(0)),
                release: Arc::new(Notify::new()),
            }
        }

        /// A request under `generation`; its own read, if it runs, waits for `release` when
        /// `held` and answers `outcome`.
        fn send(
            &self,
            generation: u64,
            held: bool,
            outcome: Outcome,
        ) -> tokio::task::JoinHandle<Outcome> {
            let (cache, runs, release) =
                (self.cache.clone(), self.runs.clone(), self.release.clone());
            tokio::spawn(async move {
                cache
                    .get_or_load("page", generation, || async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        if held {
                            release.notified().await;
                        }
                        outcome
                    })
                    .await
            })
        }

        fn runs(&self) -> usize {
            self.runs.load(Ordering::SeqCst)
        }

        /// Waits (with a deadline, no fixed sleep) until `n` reads have started.
        async fn started(&self, n: usize) {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while self.runs() < n {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{n} reads not started in 5 s"
                );
                tokio::task::yield_now().await;
            }
        }
    }

    /// Lets the other tasks of this (single-threaded) test runtime run until they wait.
    async fn settle() {
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
    }

    /// `fut`'s output, or a failed test after 5 s (a request that waits on the wrong read
    /// would otherwise hang the test).
    async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(5), fut)
            .await
            .expect("finished within 5 s")
    }

    #[tokio::test]
    async fn requests_for_one_key_and_generation_share_one_read() {
        let r = Requests::new();
        let tasks: Vec<_> = (0..5).map(|i| r.send(7, true, Ok(100 + i))).collect();
        r.started(1).await;
        settle().await; // the others reach the shared read before it finishes
        r.release.notify_waiters();
        let mut values = Vec::new();
        for t in tasks {
            values.push(within(t).await.expect("task").expect("read"));
        }
        assert_eq!(r.runs(), 1, "one read for five requests");
        assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
        assert_eq!(
            r.cache.get(&"page", 7),
            Some(values[0]),
            "the shared read is kept"
        );
        assert_eq!(r.cache.loading(), 0, "no read left in flight");
    }

    #[tokio::test]
    async fn a_newer_generation_does_not_join_an_older_read() {
        let r = Requests::new();
        let old = r.send(1, true, Ok(1));
        r.started(1).await;
        let newer = within(r.send(2, false, Ok(2))).await.expect("task");
        assert_eq!(
            newer,
            Ok(2),
            "the request under generation 2 read for itself"
        );
        r.release.notify_waiters();
        assert_eq!(within(old).await.expect("task"), Ok(1));
        assert_eq!(
            r.cache.get(&"page", 2),
            Some(2),
            "the older read did not replace the newer"
        );
        assert_eq!(r.cache.get(&"page", 1), None);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept_and_a_waiter_reads_again() {
        let r = Requests::new();
        let failing = r.send(3, true, Err("database unavailable"));
        r.started(1).await;
        let waiter = r.send(3, false, Ok(33));
        settle().await;
        r.release.notify_waiters();
        assert_eq!(
            within(failing).await.expect("task"),
            Err("database unavailable")
        );
        assert_eq!(within(waiter).await.expect("task"), Ok(33));
        assert_eq!(r.runs(), 2, "the waiter read on its own");
        assert_eq!(r.cache.get(&"page", 3), Some(33));
    }

    #[tokio::test]
    async fn a_cancelled_request_leaves_no_read_behind_and_its_waiters_still_get_an_answer() {
        let r = Requests::new();
        let first = r.send(4, true, Ok(1)); // never released
        r.started(1).await;
        assert_eq!(r.cache.loading(), 1);
        let waiter = r.send(4, false, Ok(44));
        settle().await;
        first.abort();
        assert!(first.await.expect_err("aborted").is_cancelled());
        assert_eq!(within(waiter).await.expect("task"), Ok(44));
        assert_eq!(
            r.cache.loading(),
            0,
            "the cancelled request's read is gone from the map"
        );
        assert_eq!(r.cache.get(&"page", 4), Some(44));
    }

    #[test]
    fn entries_are_valid_for_their_generation_only() {
        let c = GenerationCache::new(4);
        c.insert("a", 1, 10);
        assert_eq!(c.get(&"a", 1), Some(10));
        assert_eq!(c.get(&"a", 2), None);
        assert_eq!(c.get(&"b", 1), None);
    }

    #[test]
    fn an_older_read_does_not_replace_a_newer_one() {
        let c = GenerationCache::new(4);
        c.insert("a", 5, 50);
        c.insert("a", 4, 40);
        assert_eq!(c.get(&"a", 5), Some(50));
        c.insert("a", 6, 60);
        assert_eq!(c.get(&"a", 6), Some(60));
    }

    #[test]
    fn capacity_is_kept_old_generations_first() {
        let c = GenerationCache::new(2);
        c.insert(1, 1, ());
        c.insert(2, 2, ());
        c.insert(3, 2, ());
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&2, 2), Some(()));
        assert_eq!(c.get(&3, 2), Some(()));
        c.insert(4, 2, ());
        assert!(c.len() <= 2);
        assert_eq!(c.get(&4, 2), Some(()));
    }
}
