//! Containers this target saw exist a moment ago, so that the thousands of accounts of one
//! school and grade do not each read the same `ou=` entries again before being added. An
//! entry is trusted for [`TRUST`] after it was read or created here; a write that finds a
//! container missing after all (someone removed it) forgets it and plans again.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dn;

/// How long a container seen to exist is trusted without reading it again.
pub(crate) const TRUST: Duration = Duration::from_secs(60);
/// Containers remembered at most (more are forgotten all at once).
const MAX: usize = 50_000;

#[derive(Default)]
pub(crate) struct KnownEntries(Mutex<HashMap<String, Instant>>);

impl KnownEntries {
    /// Whether `entry_dn` was seen to exist less than [`TRUST`] ago.
    pub fn exists(&self, entry_dn: &str) -> bool {
        let key = dn::normalize(entry_dn);
        self.0
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied())
            .is_some_and(|seen| seen.elapsed() < TRUST)
    }

    /// Notes that `entry_dn` exists now.
    pub fn saw(&self, entry_dn: &str) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= MAX {
                m.clear();
            }
            m.insert(dn::normalize(entry_dn), Instant::now());
        }
    }

    /// Forgets `entry_dn` and every container above it.
    pub fn forget_with_parents(&self, entry_dn: &str) {
        if let Ok(mut m) = self.0.lock() {
            let mut d = entry_dn.to_owned();
            while !d.is_empty() {
                m.remove(&dn::normalize(&d));
                d = dn::split_first(&d).1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_known_until_forgotten_with_their_children() {
        let k = KnownEntries::default();
        let ou = "ou=grade-6,ou=Bars MS,ou=Students,dc=example,dc=org";
        assert!(!k.exists(ou));
        k.saw(ou);
        k.saw("ou=Students,dc=example,dc=org");
        assert!(k.exists("OU=grade-6, ou=bars ms,ou=Students,DC=example,dc=org"));
        k.forget_with_parents("uid=ada,ou=Students,dc=example,dc=org");
        assert!(!k.exists("ou=Students,dc=example,dc=org"));
        assert!(k.exists(ou), "a child of a forgotten entry stays known");
    }
}
