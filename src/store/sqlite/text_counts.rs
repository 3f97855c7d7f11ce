//! Counts of `q`-only searches, kept between requests and brought up to date by
//! testing only the rows inserted since. Messages are never updated or deleted, and
//! each new row takes the next rowid, so a count of the rows up to rowid `r` stays
//! true forever: the total of a repeated search costs a lookup plus the new rows,
//! instead of a pass over every match.
//!
//! A search the trigram index cannot serve (under three characters) is counted by
//! testing every row, which at ten million rows outlasts a request's time limit. Such
//! counts go in rowid order, a chunk at a time, and each chunk's progress is kept: a
//! request that times out leaves the count further along, and a later one finishes it.

use sqlx::SqliteConnection;

use crate::store::recently_used::{RecentlyUsed, SEARCHES};
use crate::store::{non_negative, StoreError};

/// Beyond this many new rows, counting them one by one may cost more than counting
/// the matches afresh.
const MOST_NEW_ROWS: i64 = 50_000;

/// Rows tested per step of a resumable count (about a quarter of a second).
const SCAN_CHUNK_ROWS: i64 = 100_000;

pub(super) struct TextCounts {
    by_needle: RecentlyUsed<Counted>,
    scan_chunk_rows: i64,
}

impl Default for TextCounts {
    fn default() -> Self {
        Self::scanning_chunks_of(SCAN_CHUNK_ROWS)
    }
}

/// How a search is counted when nothing remembered serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Counting {
    /// Afresh from the trigram index, whose cost follows the matches: a count
    /// remembered long ago is not brought up to date row by row.
    FromIndex,
    /// Only a pass over every row can count it: resumably, in chunks of rows.
    ByScanning,
}

/// How many rows with rowid up to `up_to` contain the needle.
#[derive(Clone, Copy, Default)]
struct Counted {
    up_to: i64,
    count: u64,
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
    pub(super) fn scanning_chunks_of(rows: i64) -> Self {
        Self {
            by_needle: RecentlyUsed::with_capacity(SEARCHES),
            scan_chunk_rows: rows.max(1),
        }
    }

    /// The number of rows of `extent` whose folded text contains `needle` (already
    /// folded): from the cache and the rows added since when it can, else from
    /// `count_afresh` (`Counting` says how a search is counted).
    pub(super) async fn count<F>(
        &self,
        connection: &mut SqliteConnection,
        needle: &str,
        extent: Extent,
        counting: Counting,
        count_afresh: F,
    ) -> Result<u64, StoreError>
    where
        F: AsyncFnOnce(&mut SqliteConnection) -> Result<u64, StoreError>,
    {
        if !extent.contiguous() {
            return count_afresh(connection).await;
        }
        let known = self.by_needle.get(needle);
        if counting == Counting::ByScanning {
            // Nothing remembered: from the start.
            let known = known.unwrap_or_default();
            if known.up_to > extent.max_rowid {
                // Counted further by a newer snapshot than this one.
                return count_afresh(connection).await;
            }
            return self.resume(connection, needle, extent, known).await;
        }
        let known = known.filter(|known| {
            known.up_to <= extent.max_rowid && extent.max_rowid - known.up_to <= MOST_NEW_ROWS
        });
        let count = match known {
            Some(known) => {
                known.count
                    + count_between(connection, needle, known.up_to, extent.max_rowid).await?
            }
            None => count_afresh(connection).await?,
        };
        self.remember(needle, extent.max_rowid, count);
        Ok(count)
    }

    /// Tests the rows after `known` up to the end of `extent`, a chunk at a time,
    /// remembering the progress after every chunk.
    async fn resume(
        &self,
        connection: &mut SqliteConnection,
        needle: &str,
        extent: Extent,
        mut known: Counted,
    ) -> Result<u64, StoreError> {
        while known.up_to < extent.max_rowid {
            let end = extent.max_rowid.min(known.up_to + self.scan_chunk_rows);
            known.count += count_between(connection, needle, known.up_to, end).await?;
            known.up_to = end;
            self.remember(needle, known.up_to, known.count);
        }
        Ok(known.count)
    }

    fn remember(&self, needle: &str, up_to: i64, count: u64) {
        // Readers of older snapshots may finish later: keep the newest count.
        let newer = |known: &Counted, counted: &Counted| known.up_to > counted.up_to;
        self.by_needle.put(needle, Counted { up_to, count }, newer);
    }
}

/// Rows with rowid in `(after, up_to]` whose folded text contains `needle`.
async fn count_between(
    connection: &mut SqliteConnection,
    needle: &str,
    after: i64,
    up_to: i64,
) -> Result<u64, StoreError> {
    let count: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages \
         WHERE rowid > ? AND rowid <= ? AND instr(text_folded, ?) > 0",
    )
    .bind(after)
    .bind(up_to)
    .bind(needle)
    .fetch_one(connection)
    .await?;
    Ok(non_negative(count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_only_moves_forward() {
        let counts = TextCounts::default();
        counts.remember("one more", 10, 7);
        // A reader of an older snapshot finishing late does not move a count back.
        counts.remember("one more", 5, 3);
        let known = counts.by_needle.get("one more").unwrap();
        assert_eq!((known.up_to, known.count), (10, 7));
    }

    /// A count that stopped partway (a request that timed out) is taken up where it
    /// stopped: the rows counted before are not tested again.
    #[tokio::test]
    async fn a_resumable_count_goes_on_from_the_progress_kept() {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        crate::store::sqlite::MIGRATOR.run(&pool).await.unwrap();
        for index in 1..=20 {
            // "ab" in rows 2, 4, …, 20.
            let text = if index % 2 == 0 { "xaby" } else { "xy" };
            sqlx::query(
                "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, ts_key, \
                 text, text_folded, created_at) VALUES (?, '+1', '+2', 't', 't', ?, ?, 'c')",
            )
            .bind(format!("m{index}"))
            .bind(text)
            .bind(text)
            .execute(&pool)
            .await
            .unwrap();
        }
        let mut connection = pool.acquire().await.unwrap();
        let extent = Extent::of(&mut connection, 20).await.unwrap();
        let never = async |_: &mut SqliteConnection| -> Result<u64, StoreError> {
            panic!("a count that can resume must not start afresh")
        };

        let counts = TextCounts::scanning_chunks_of(3);
        // Progress kept from an earlier request: 1,000 matches up to row 10 (more than
        // the rows hold, so that a count from the start would show).
        counts.remember("ab", 10, 1000);
        let count = counts
            .count(&mut connection, "ab", extent, Counting::ByScanning, never)
            .await
            .unwrap();
        assert_eq!(count, 1005, "rows 12, 14, …, 20 added to the progress kept");
        let known = counts.by_needle.get("ab").unwrap();
        assert_eq!((known.up_to, known.count), (20, 1005));

        let fresh = TextCounts::scanning_chunks_of(3);
        let count = fresh
            .count(&mut connection, "ab", extent, Counting::ByScanning, never)
            .await
            .unwrap();
        assert_eq!(count, 10, "from the start, in chunks of 3 rows");
    }
}
