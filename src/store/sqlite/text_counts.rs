//! Counts of `q`-only searches, kept between requests and brought up to date by
//! testing only the rows inserted since. Messages are never updated or deleted, and
//! each new row takes the next rowid, so a count of the rows up to rowid `r` stays
//! true forever: the total of a repeated search costs a lookup plus the new rows,
//! instead of a pass over every match.

use std::collections::HashMap;
use std::sync::Mutex;

use sqlx::SqliteConnection;

use crate::store::{non_negative, StoreError};

/// Searches remembered at most; the least recently used one makes room.
const CAPACITY: usize = 1024;

/// Longer searches are not remembered: 1,024 of them must stay small in memory (a
/// URL may carry tens of kilobytes), and long needles are rare, so cheap to count.
const LONGEST_NEEDLE_BYTES: usize = 256;

/// Beyond this many new rows, counting them one by one may cost more than counting
/// the matches afresh.
const MOST_NEW_ROWS: i64 = 50_000;

#[derive(Default)]
pub(super) struct TextCounts {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    by_needle: HashMap<String, Counted>,
    clock: u64,
}

/// How many rows with rowid up to `up_to` contain the needle.
#[derive(Clone, Copy)]
struct Counted {
    up_to: i64,
    count: u64,
    used: u64,
}

/// The rows of a snapshot: how many there are and the highest rowid. They are equal
/// while rowids run 1..n without gaps, which the cache relies on.
#[derive(Clone, Copy)]
pub(super) struct Extent {
    pub(super) rows: u64,
    pub(super) max_rowid: i64,
}

impl Extent {
    pub(super) async fn of(
        connection: &mut SqliteConnection,
        rows: u64,
    ) -> Result<Self, StoreError> {
        let max_rowid: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(rowid), 0) FROM messages")
            .fetch_one(connection)
            .await?;
        Ok(Self { rows, max_rowid })
    }

    fn contiguous(self) -> bool {
        u64::try_from(self.max_rowid).is_ok_and(|max| max == self.rows)
    }
}

impl TextCounts {
    /// The number of rows of `extent` whose folded text contains `needle` (already
    /// folded): from the cache and the rows added since when it can, else from
    /// `count_afresh`.
    pub(super) async fn count<F>(
        &self,
        connection: &mut SqliteConnection,
        needle: &str,
        extent: Extent,
        count_afresh: F,
    ) -> Result<u64, StoreError>
    where
        F: AsyncFnOnce(&mut SqliteConnection) -> Result<u64, StoreError>,
    {
        if !extent.contiguous() || needle.len() > LONGEST_NEEDLE_BYTES {
            return count_afresh(connection).await;
        }
        let known = self.lookup(needle).filter(|known| {
            known.up_to <= extent.max_rowid && extent.max_rowid - known.up_to <= MOST_NEW_ROWS
        });
        let count = match known {
            Some(known) => {
                let added: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM messages \
                     WHERE rowid > ? AND rowid <= ? AND instr(text_folded, ?) > 0",
                )
                .bind(known.up_to)
                .bind(extent.max_rowid)
                .bind(needle)
                .fetch_one(&mut *connection)
                .await?;
                known.count + non_negative(added)
            }
            None => count_afresh(connection).await?,
        };
        self.remember(needle, extent.max_rowid, count);
        Ok(count)
    }

    fn lookup(&self, needle: &str) -> Option<Counted> {
        let mut entries = self.entries.lock().expect("text counts lock");
        entries.clock += 1;
        let clock = entries.clock;
        let known = entries.by_needle.get_mut(needle)?;
        known.used = clock;
        Some(*known)
    }

    fn remember(&self, needle: &str, up_to: i64, count: u64) {
        let mut entries = self.entries.lock().expect("text counts lock");
        entries.clock += 1;
        let used = entries.clock;
        if let Some(known) = entries.by_needle.get_mut(needle) {
            // Readers of older snapshots may finish later: keep the newest count.
            if known.up_to <= up_to {
                *known = Counted { up_to, count, used };
            }
            return;
        }
        if entries.by_needle.len() >= CAPACITY {
            let oldest = entries
                .by_needle
                .iter()
                .min_by_key(|(_, counted)| counted.used)
                .map(|(needle, _)| needle.clone());
            if let Some(oldest) = oldest {
                entries.by_needle.remove(&oldest);
            }
        }
        entries
            .by_needle
            .insert(needle.to_owned(), Counted { up_to, count, used });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_search_makes_room_and_counts_only_move_forward() {
        let counts = TextCounts::default();
        for index in 0..CAPACITY {
            counts.remember(&format!("needle {index}"), 10, index as u64);
        }
        // Used again: now the most recent.
        assert_eq!(counts.lookup("needle 0").map(|known| known.count), Some(0));
        counts.remember("one more", 10, 7);

        let entries = counts.entries.lock().unwrap();
        assert_eq!(entries.by_needle.len(), CAPACITY);
        assert!(entries.by_needle.contains_key("needle 0"));
        assert!(
            !entries.by_needle.contains_key("needle 1"),
            "the oldest left"
        );
        drop(entries);

        // A reader of an older snapshot finishing late does not move a count back.
        counts.remember("one more", 5, 3);
        let known = counts.lookup("one more").unwrap();
        assert_eq!((known.up_to, known.count), (10, 7));
    }
}
