//! Totals of `q`-only searches, remembered between requests with the snapshot they
//! were counted in, and brought up to date by testing only the rows that became
//! visible since. Rows are never updated or deleted, so those are exactly the rows
//! whose inserting transaction (`inserted_by`) the remembered snapshot did not see,
//! whether it began before or after that snapshot was taken, on this replica or on
//! another.
//!
//! A remembered count serves a request only when its snapshot was taken before the
//! request's own, so that everything it saw the request sees too. The clock tells:
//! the remembered snapshot was taken before the moment its query returned, and the
//! request's is taken after the moment its transaction began.
//!
//! For a `q` the trigram index cannot narrow down (no three letters or digits in a
//! row), the matches themselves are remembered too, by id, while they are few: a page
//! then reads those rows alone, where a walk of the `ts` order would test nearly every
//! row of the table to fill a page of a rare `q`.

use std::sync::Arc;
use std::time::Instant;

use sqlx::PgConnection;

use crate::store::recently_used::{RecentlyUsed, SEARCHES};
use crate::store::{non_negative, StoreError};

/// Beyond this many new rows, testing them may cost more than counting afresh.
const MOST_NEW_ROWS: u64 = 50_000;

/// Matches remembered by id: at most this many per search, and this many bytes of ids
/// (32 MiB for the 1,024 searches remembered).
const MOST_MATCHES: usize = 2_000;
const MOST_MATCH_BYTES: usize = 32 * 1024;

/// The ids (`message_id`) of the rows matching a search, in no order.
pub(super) type Matches = Arc<Vec<Vec<u8>>>;

pub(super) struct TextCounts {
    by_pattern: RecentlyUsed<Remembered>,
}

impl Default for TextCounts {
    fn default() -> Self {
        Self {
            by_pattern: RecentlyUsed::with_capacity(SEARCHES),
        }
    }
}

/// A count of the rows matching a pattern, as one snapshot saw them.
#[derive(Clone)]
struct Remembered {
    /// The snapshot, as `pg_snapshot` text: `xmin:xmax:xip,…`.
    snapshot: String,
    /// A moment after the snapshot was taken.
    taken_by: Instant,
    /// Rows the snapshot saw.
    rows: u64,
    counted: Counted,
}

/// The rows matching a search: how many, and which, where they are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Counted {
    pub(super) count: u64,
    /// Every match's id, when the search keeps them and they are few enough.
    pub(super) matches: Option<Matches>,
}

impl Counted {
    /// A count whose matches are not kept.
    pub(super) fn without_matches(count: u64) -> Self {
        Self {
            count,
            matches: None,
        }
    }
}

impl TextCounts {
    /// The rows of the current snapshot whose `text_folded` is `LIKE pattern`: from a
    /// remembered count and the rows it did not see when one serves, else from
    /// `count_afresh`; with `keep_matches`, also which rows, while they are few. The
    /// snapshot is taken by this call's first statement (or was by an earlier one of
    /// the transaction), after `began`.
    pub(super) async fn count<F>(
        &self,
        connection: &mut PgConnection,
        pattern: &str,
        keep_matches: bool,
        began: Instant,
        count_afresh: F,
    ) -> Result<Counted, StoreError>
    where
        F: AsyncFnOnce(&mut PgConnection) -> Result<u64, StoreError>,
    {
        let (rows, snapshot): (i64, String) = sqlx::query_as(
            "SELECT COALESCE(SUM(messages), 0)::BIGINT, pg_current_snapshot()::TEXT \
             FROM message_totals",
        )
        .fetch_one(&mut *connection)
        .await?;
        let taken_by = Instant::now();
        let rows = non_negative(rows);
        let known = self.by_pattern.get(pattern).filter(|known| {
            known.taken_by < began && known.rows <= rows && rows - known.rows <= MOST_NEW_ROWS
        });
        let counted = match known.and_then(|known| Some((xmin(&known.snapshot)?, known))) {
            Some((xmin, known)) => {
                let unseen = Unseen {
                    pattern,
                    snapshot: &known.snapshot,
                    xmin,
                };
                match (&known.counted.matches, keep_matches) {
                    (Some(matches), true) => {
                        let more = unseen.matches(connection).await?;
                        let count = known.counted.count + more.len() as u64;
                        let matches = match more.is_empty() {
                            true => Some(matches.clone()),
                            false => few([matches.as_slice(), &more].concat()),
                        };
                        Counted { count, matches }
                    }
                    _ => Counted::without_matches(
                        known.counted.count + unseen.count(connection).await?,
                    ),
                }
            }
            None => {
                let matches = match keep_matches {
                    true => first_matches(connection, pattern).await?,
                    false => None,
                };
                match matches {
                    Some(matches) => Counted {
                        count: matches.len() as u64,
                        matches: Some(matches),
                    },
                    None => Counted::without_matches(count_afresh(connection).await?),
                }
            }
        };
        let remembered = Remembered {
            snapshot,
            taken_by,
            rows,
            counted: counted.clone(),
        };
        // Readers of older snapshots may finish later: keep the newest count.
        self.by_pattern
            .put(pattern, remembered, |known, remembered| {
                known.rows > remembered.rows
            });
        Ok(counted)
    }
}

/// The ids of the rows matching `pattern`, if they are few; `None` as soon as they are
/// not, which for a frequent `q` is after a few rows.
async fn first_matches(
    connection: &mut PgConnection,
    pattern: &str,
) -> Result<Option<Matches>, StoreError> {
    let ids: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT message_id FROM messages WHERE text_folded LIKE $1 ESCAPE '\\' LIMIT $2",
    )
    .bind(pattern)
    .bind(MOST_MATCHES as i64 + 1)
    .fetch_all(connection)
    .await?;
    Ok(few(ids))
}

/// `ids`, if they are few enough to keep.
fn few(ids: Vec<Vec<u8>>) -> Option<Matches> {
    let bytes: usize = ids.iter().map(Vec::len).sum();
    (ids.len() <= MOST_MATCHES && bytes <= MOST_MATCH_BYTES).then(|| Arc::new(ids))
}

/// The rows matching `pattern` that `snapshot`, whose xmin is `xmin`, did not see.
struct Unseen<'a> {
    pattern: &'a str,
    snapshot: &'a str,
    xmin: u64,
}

impl Unseen<'_> {
    async fn count(&self, connection: &mut PgConnection) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(&self.select("COUNT(*)"))
            .persistent(false)
            .bind(self.snapshot)
            .bind(self.pattern)
            .fetch_one(connection)
            .await?;
        Ok(non_negative(count))
    }

    async fn matches(&self, connection: &mut PgConnection) -> Result<Vec<Vec<u8>>, StoreError> {
        Ok(sqlx::query_scalar(&self.select("message_id"))
            .persistent(false)
            .bind(self.snapshot)
            .bind(self.pattern)
            .fetch_all(connection)
            .await?)
    }

    fn select(&self, what: &str) -> String {
        // Every transaction before xmin had ended when the snapshot was taken, and the
        // snapshot saw those that committed: only later ones need a test. The bound is
        // a literal (a number, parsed) so that the planner, which cannot know a
        // parameter's value in a generic plan, walks the index from it.
        format!(
            "SELECT {what} FROM messages WHERE inserted_by >= '{}'::xid8 \
             AND NOT pg_visible_in_snapshot(inserted_by, $1::pg_snapshot) \
             AND text_folded LIKE $2 ESCAPE '\\'",
            self.xmin
        )
    }
}

/// The oldest transaction still running when `snapshot` (`pg_snapshot` text) was taken.
fn xmin(snapshot: &str) -> Option<u64> {
    snapshot.split(':').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::xmin;

    #[test]
    fn the_xmin_of_a_snapshot_is_its_first_number_or_none() {
        assert_eq!(xmin("742:750:742,745"), Some(742));
        assert_eq!(xmin("5:5:"), Some(5));
        assert_eq!(xmin("x:5:"), None);
        assert_eq!(xmin(""), None);
    }
}
