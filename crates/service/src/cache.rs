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

    /// A read that counts its runs and finishes only when `release` is notified.
    async fn slow_read(
        runs: &AtomicUsize,
        release: &Notify,
        value: u32,
    ) -> Result<u32, &'static str> {
        runs.fetch_add(1, Ordering::SeqCst);
        release.notified().await;
        Ok(value)
    }

    /// `fut`'s output, or a failed test after 5 s (a request that waits on the wrong read
    /// would otherwise hang the test).
    async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
        tokio::time::timeout(std::time::Duration::from_secs(5), fut)
            .await
            .expect("finished within 5 s")
    }

    /// Waits (with a deadline, no fixed sleep) until `cond` holds.
    async fn until(cond: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while !cond() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "condition not met in 5 s"
            );
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test]
    async fn requests_for_one_key_and_generation_share_one_read() {
        let c = Arc::new(GenerationCache::<&str, u32>::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        for i in 0..5u32 {
            let (c, runs, release) = (c.clone(), runs.clone(), release.clone());
            tasks.push(tokio::spawn(async move {
                c.get_or_load("page", 7, || async move {
                    slow_read(&runs, &release, 100 + i).await
                })
                .await
            }));
        }
        until(|| runs.load(Ordering::SeqCst) == 1).await;
        // Let the others reach the shared read before it finishes.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        release.notify_waiters();
        let mut values = Vec::new();
        for t in tasks {
            values.push(within(t).await.expect("task").expect("read"));
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one read for five requests");
        assert!(values.windows(2).all(|w| w[0] == w[1]), "{values:?}");
        assert_eq!(
            c.get(&"page", 7),
            Some(values[0]),
            "the shared read is kept"
        );
        assert_eq!(c.loading(), 0, "no read left in flight");
    }

    #[tokio::test]
    async fn a_newer_generation_does_not_join_an_older_read() {
        let c = Arc::new(GenerationCache::<&str, u32>::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let (c1, r1, n1) = (c.clone(), runs.clone(), release.clone());
        let old = tokio::spawn(async move {
            c1.get_or_load("page", 1, || async move { slow_read(&r1, &n1, 1).await })
                .await
        });
        until(|| runs.load(Ordering::SeqCst) == 1).await;
        let newer = within(c.get_or_load("page", 2, || async { Ok::<_, &str>(2) }))
            .await
            .expect("read");
        assert_eq!(newer, 2, "the request under generation 2 read for itself");
        release.notify_waiters();
        assert_eq!(old.await.expect("task"), Ok(1));
        assert_eq!(
            c.get(&"page", 2),
            Some(2),
            "the older read did not replace the newer"
        );
        assert_eq!(c.get(&"page", 1), None);
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept_and_a_waiter_reads_again() {
        let c = Arc::new(GenerationCache::<&str, u32>::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let release = Arc::new(Notify::new());
        let (c1, r1, n1) = (c.clone(), runs.clone(), release.clone());
        let failing = tokio::spawn(async move {
            c1.get_or_load("page", 3, || async move {
                r1.fetch_add(1, Ordering::SeqCst);
                n1.notified().await;
                Err::<u32, _>("database unavailable")
            })
            .await
        });
        until(|| runs.load(Ordering::SeqCst) == 1).await;
        let (c2, r2) = (c.clone(), runs.clone());
        let waiter = tokio::spawn(async move {
            c2.get_or_load("page", 3, || async move {
                r2.fetch_add(1, Ordering::SeqCst);
                Ok::<_, &str>(33)
            })
            .await
        });
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        release.notify_waiters();
        assert_eq!(failing.await.expect("task"), Err("database unavailable"));
        assert_eq!(within(waiter).await.expect("task"), Ok(33));
        assert_eq!(runs.load(Ordering::SeqCst), 2, "the waiter read on its own");
        assert_eq!(c.get(&"page", 3), Some(33));
    }

    #[tokio::test]
    async fn a_cancelled_request_leaves_no_read_behind_and_its_waiters_still_get_an_answer() {
        let c = Arc::new(GenerationCache::<&str, u32>::new(8));
        let runs = Arc::new(AtomicUsize::new(0));
        let never = Arc::new(Notify::new());
        let (c1, r1, n1) = (c.clone(), runs.clone(), never.clone());
        let first = tokio::spawn(async move {
            c1.get_or_load("page", 4, || async move { slow_read(&r1, &n1, 1).await })
                .await
        });
        until(|| runs.load(Ordering::SeqCst) == 1).await;
        assert_eq!(c.loading(), 1);
        let (c2, r2) = (c.clone(), runs.clone());
        let waiter = tokio::spawn(async move {
            c2.get_or_load("page", 4, || async move {
                r2.fetch_add(1, Ordering::SeqCst);
                Ok::<_, &str>(44)
            })
            .await
        });
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        first.abort();
        assert!(first.await.expect_err("aborted").is_cancelled());
        assert_eq!(within(waiter).await.expect("task"), Ok(44));
        assert_eq!(
            c.loading(),
            0,
            "the cancelled request's read is gone from the map"
        );
        assert_eq!(c.get(&"page", 4), Some(44));
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
