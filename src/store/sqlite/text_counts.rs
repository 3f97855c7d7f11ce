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
//!
//! Such a search's pages cannot use the index either: they walk the `ts` order testing
//! each row until the page is full, which for a search with few matches is every row,
//! on every request. So while a short search has few matches, the counting pass also
//! keeps their rowids, and its pages are read from those rows alone.

use std::sync::Arc;

use sqlx::SqliteConnection;

use crate::store::recently_used::{RecentlyUsed, SEARCHES};
use crate::store::{non_negative, StoreError};

/// Beyond this many new rows, counting them one by one may cost more than counting
/// the matches afresh.
const MOST_NEW_ROWS: i64 = 50_000;

/// Rows tested per step of a resumable count (about a quarter of a second).
const SCAN_CHUNK_ROWS: i64 = 100_000;

/// A short search with at most this many matches keeps their rowids (16 KB; at most
/// 16 MB for all the searches remembered): reading its page from them costs at most
/// this many primary-key lookups and a sort.
const MATCHES_KEPT: usize = 2_000;

pub(super) struct TextCounts {
    by_needle: RecentlyUsed<Counted>,
    scan_chunk_rows: i64,
    matches_kept: usize,
}

impl Default for TextCounts {
    fn default() -> Self {
        Self::new(SCAN_CHUNK_ROWS, MATCHES_KEPT)
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

/// How many rows with rowid up to `up_to` contain the needle, and for a search counted
/// by scanning that has few of them, which rows.
#[derive(Clone, Default)]
struct Counted {
    up_to: i64,
    count: u64,
    rows: Option<Arc<Vec<i64>>>,
}

/// The rows of a snapshot that contain a needle: how many, and, when they are few and
/// the search was counted by scanning, their rowids in ascending order.
pub(super) struct Matches {
    pub(super) count: u64,
    pub(super) rows: Option<Arc<Vec<i64>>>,
}

impl Matches {
    fn counted(count: u64) -> Self {
        Self { count, rows: None }
    }
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
    /// Counts that scan test `scan_chunk_rows` rows a step and keep the rowids of up to
    /// `matches_kept` matches.
    pub(super) fn new(scan_chunk_rows: i64, matches_kept: usize) -> Self {
        Self {
            by_needle: RecentlyUsed::with_capacity(SEARCHES),
            scan_chunk_rows: scan_chunk_rows.max(1),
            matches_kept,
        }
    }

    /// The rows of `extent` whose folded text contains `needle` (already folded): from
    /// the cache and the rows added since when it can, else from `count_afresh`
    /// (`Counting` says how a search is counted).
    pub(super) async fn count<F>(
        &self,
        connection: &mut SqliteConnection,
        needle: &str,
        extent: Extent,
        counting: Counting,
        count_afresh: F,
    ) -> Result<Matches, StoreError>
    where
        F: AsyncFnOnce(&mut SqliteConnection) -> Result<u64, StoreError>,
    {
        if !extent.contiguous() {
            return Ok(Matches::counted(count_afresh(connection).await?));
        }
        let known = self.by_needle.get(needle);
        if counting == Counting::ByScanning {
            // Nothing remembered: from the start, keeping the rows while they are few.
            let known = known.unwrap_or_else(|| Counted {
                rows: Some(Arc::default()),
                ..Counted::default()
            });
            if known.up_to > extent.max_rowid {
                // Counted further by a newer snapshot than this one.
                return Ok(Matches::counted(count_afresh(connection).await?));
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
        let up_to = extent.max_rowid;
        let rows = None;
        self.remember(needle, Counted { up_to, count, rows });
        Ok(Matches::counted(count))
    }

    /// Tests the rows after `known` up to the end of `extent`, a chunk at a time,
    /// remembering the progress after every chunk.
    async fn resume(
        &self,
        connection: &mut SqliteConnection,
        needle: &str,
        extent: Extent,
        mut known: Counted,
    ) -> Result<Matches, StoreError> {
        while known.up_to < extent.max_rowid {
            let end = extent.max_rowid.min(known.up_to + self.scan_chunk_rows);
            match known.rows.as_mut() {
                Some(rows) => {
                    // One row more than may be kept says there are too many.
                    let room = self.matches_kept.saturating_sub(rows.len());
                    let found =
                        rows_between(connection, needle, known.up_to, end, room + 1).await?;
                    known.count += found.len() as u64;
                    match found.last() {
                        Some(&last) if found.len() > room => {
                            known.count += count_between(connection, needle, last, end).await?;
                            known.rows = None;
                        }
                        _ => Arc::make_mut(rows).extend(found),
                    }
                }
                None => known.count += count_between(connection, needle, known.up_to, end).await?,
            }
            known.up_to = end;
            self.remember(needle, known.clone());
        }
        Ok(Matches {
            count: known.count,
            rows: known.rows,
        })
    }

    fn remember(&self, needle: &str, counted: Counted) {
        // Readers of older snapshots may finish later: keep the newest count.
        let newer = |known: &Counted, counted: &Counted| known.up_to > counted.up_to;
        self.by_needle.put(needle, counted, newer);
    }
}

/// The rowids in `(after, up_to]` whose folded text contains `needle`, ascending, at
/// most `most` of them.
async fn rows_between(
    connection: &mut SqliteConnection,
    needle: &str,
    after: i64,
    up_to: i64,
    most: usize,
) -> Result<Vec<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT rowid FROM messages \
         WHERE rowid > ? AND rowid <= ? AND instr(text_folded, ?) > 0 ORDER BY rowid LIMIT ?",
    )
    .bind(after)
    .bind(up_to)
    .bind(needle)
    .bind(i64::try_from(most).unwrap_or(i64::MAX))
    .fetch_all(connection)
    .await?)
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

    async fn migrated_memory_database() -> sqlx::SqlitePool {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        crate::store::sqlite::MIGRATOR.run(&pool).await.unwrap();
        pool
    }

    /// Inserts message `m<index>` with `text` (already folded), as the next row.
    async fn insert(pool: &sqlx::SqlitePool, index: u64, text: &str) {
        sqlx::query(
            "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, ts_key, \
             text, text_folded, created_at) VALUES (?, '+1', '+2', 't', 't', ?, ?, 'c')",
        )
        .bind(format!("m{index}"))
        .bind(text)
        .bind(text)
        .execute(pool)
        .await
        .unwrap();
    }

    fn counted(up_to: i64, count: u64) -> Counted {
        Counted {
            up_to,
            count,
            rows: None,
        }
    }

    #[test]
    fn a_count_only_moves_forward() {
        let counts = TextCounts::default();
        counts.remember("one more", counted(10, 7));
        // A reader of an older snapshot finishing late does not move a count back.
        counts.remember("one more", counted(5, 3));
        let known = counts.by_needle.get("one more").unwrap();
        assert_eq!((known.up_to, known.count), (10, 7));
    }

    /// A count that stopped partway (a request that timed out) is taken up where it
    /// stopped: the rows counted before are not tested again.
    #[tokio::test]
    async fn a_resumable_count_goes_on_from_the_progress_kept() {
        let pool = migrated_memory_database().await;
        for index in 1..=20 {
            // "ab" in rows 2, 4, …, 20.
            let text = if index % 2 == 0 { "xaby" } else { "xy" };
            insert(&pool, index, text).await;
        }
        let mut connection = pool.acquire().await.unwrap();
        let extent = Extent::of(&mut connection, 20).await.unwrap();
        let never = async |_: &mut SqliteConnection| -> Result<u64, StoreError> {
            panic!("a count that can resume must not start afresh")
        };

        let counts = TextCounts::new(3, MATCHES_KEPT);
        // Progress kept from an earlier request: 1,000 matches up to row 10 (more than
        // the rows hold, so that a count from the start would show).
        counts.remember("ab", counted(10, 1000));
        let matches = counts
            .count(&mut connection, "ab", extent, Counting::ByScanning, never)
            .await
            .unwrap();
        assert_eq!(
            matches.count, 1005,
            "rows 12, 14, …, 20 added to the progress kept"
        );
        assert_eq!(matches.rows, None, "the rows before row 10 are not known");
        let known = counts.by_needle.get("ab").unwrap();
        assert_eq!((known.up_to, known.count), (20, 1005));

        // From the start, in chunks of 3 rows: the matches' rows are kept while they
        // are at most as many as may be kept, and only counted beyond.
        let even_rows: Vec<i64> = (1..=10).map(|row| row * 2).collect();
        for (kept, rows) in [(10, Some(even_rows)), (9, None), (0, None)] {
            let fresh = TextCounts::new(3, kept);
            let matches = fresh
                .count(&mut connection, "ab", extent, Counting::ByScanning, never)
                .await
                .unwrap();
            assert_eq!(matches.count, 10, "keeping {kept}");
            assert_eq!(matches.rows.as_deref(), rows.as_ref(), "keeping {kept}");
        }
    }

    /// Rows kept for a search are extended by the rows inserted after them, and a
    /// search whose matches grow past what may be kept keeps counting without them.
    #[tokio::test]
    async fn kept_rows_follow_new_matches() {
        let pool = migrated_memory_database().await;
        let counts = TextCounts::new(4, 3);
        let never = async |_: &mut SqliteConnection| -> Result<u64, StoreError> {
            panic!("a count that can resume must not start afresh")
        };
        let mut inserted = 0_u64;
        let mut expected: Vec<(u64, Option<Vec<i64>>)> = Vec::new();
        let mut observed = Vec::new();
        // Each round inserts three rows; "zq" is in the first row of each round, so the
        // fourth round's count no longer keeps its rows.
        for round in 0..4 {
            for offset in 0..3 {
                inserted += 1;
                let text = if offset == 0 { "a zq b" } else { "a z q" };
                insert(&pool, inserted, text).await;
            }
            let mut connection = pool.acquire().await.unwrap();
            let extent = Extent::of(&mut connection, inserted).await.unwrap();
            let matches = counts
                .count(&mut connection, "zq", extent, Counting::ByScanning, never)
                .await
                .unwrap();
            observed.push((matches.count, matches.rows.as_deref().cloned()));
            let count = round as u64 + 1;
            let rows: Vec<i64> = (0..=round).map(|r| r * 3 + 1).collect();
            expected.push((count, (rows.len() <= 3).then_some(rows)));
        }
        assert_eq!(observed, expected);
    }
}
