//! A small cache of reads, valid while the store's change generation stays the same.
//!
//! The rule that keeps it exact: take the generation *before* reading from the database,
//! store the result under that generation, and use an entry only while the store still
//! reports the same generation ([`cc_store::Store::change_generation`]). A commit that the
//! read may have missed raises the generation, so the entry is never used again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

/// Entries keyed by `K`, each valid for one generation; at most `capacity` of them.
pub struct GenerationCache<K, V> {
    entries: Mutex<HashMap<K, (u64, V)>>,
    capacity: usize,
}

impl<K: Eq + Hash, V: Clone> GenerationCache<K, V> {
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
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
