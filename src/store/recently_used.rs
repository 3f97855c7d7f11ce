//! A bounded map from a search to what is remembered of it, shared by the requests of
//! one process: when full, the least recently used entry makes room. Long searches
//! are never remembered.

use std::collections::HashMap;
use std::sync::Mutex;

/// Searches whose totals are remembered at most.
pub(super) const SEARCHES: usize = 1024;

/// Longer searches are not remembered: 1,024 of them must stay small in memory (a
/// URL may carry tens of kilobytes), and long needles are rare, so cheap to count.
const LONGEST_KEY_BYTES: usize = 256;

pub(super) struct RecentlyUsed<V> {
    entries: Mutex<Entries<V>>,
    capacity: usize,
}

struct Entries<V> {
    by_key: HashMap<String, (V, u64)>,
    clock: u64,
}

impl<V: Clone> RecentlyUsed<V> {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                by_key: HashMap::new(),
                clock: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    /// The value under `key`, which becomes the most recently used.
    pub(super) fn get(&self, key: &str) -> Option<V> {
        if key.len() > LONGEST_KEY_BYTES {
            return None;
        }
        let mut entries = self.entries.lock().expect("recently used lock");
        entries.clock += 1;
        let clock = entries.clock;
        let (value, used) = entries.by_key.get_mut(key)?;
        *used = clock;
        Some(value.clone())
    }

    /// Puts `value` under `key`, unless `keeps(existing, &value)` says the value
    /// already there is to be kept (a reader that finished late must not replace a
    /// newer value with an older one).
    pub(super) fn put(&self, key: &str, value: V, keeps: impl FnOnce(&V, &V) -> bool) {
        if key.len() > LONGEST_KEY_BYTES {
            return;
        }
        let mut entries = self.entries.lock().expect("recently used lock");
        entries.clock += 1;
        let clock = entries.clock;
        if let Some((existing, used)) = entries.by_key.get_mut(key) {
            if !keeps(existing, &value) {
                *existing = value;
                *used = clock;
            }
            return;
        }
        if entries.by_key.len() >= self.capacity {
            let oldest = entries
                .by_key
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                entries.by_key.remove(&oldest);
            }
        }
        entries.by_key.insert(key.to_owned(), (value, clock));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_makes_room_and_a_kept_value_stays() {
        let recent = RecentlyUsed::with_capacity(3);
        let newer = |existing: &u64, value: &u64| existing > value;
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
            recent.put(key, value, newer);
        }
        // Used again: now the most recent, so "b" is the oldest.
        assert_eq!(recent.get("a"), Some(1));
        recent.put("d", 4, newer);
        assert_eq!(recent.get("b"), None, "the least recently used left");
        assert_eq!(
            [recent.get("a"), recent.get("c"), recent.get("d")],
            [Some(1), Some(3), Some(4)]
        );

        recent.put("d", 2, newer);
        assert_eq!(recent.get("d"), Some(4), "kept: the value there is newer");
        recent.put("d", 9, newer);
        assert_eq!(recent.get("d"), Some(9));

        let long = "x".repeat(LONGEST_KEY_BYTES + 1);
        recent.put(&long, 5, newer);
        assert_eq!(recent.get(&long), None, "a long key is not remembered");
    }
}
