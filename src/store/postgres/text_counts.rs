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

use std::time::Instant;

use sqlx::PgConnection;

use crate::store::recently_used::{RecentlyUsed, SEARCHES};
use crate::store::{non_negative, StoreError};

/// Beyond this many new rows, testing them may cost more than counting afresh.
const MOST_NEW_ROWS: u64 = 50_000;

pub(super) struct TextCounts {
    by_pattern: RecentlyUsed<Counted>,
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
struct Counted {
    /// The snapshot, as `pg_snapshot` text: `xmin:xmax:xip,…`.
    snapshot: String,
    /// A moment after the snapshot was taken.
    taken_by: Instant,
    /// Rows the snapshot saw.
    rows: u64,
    count: u64,
}

impl TextCounts {
    /// The rows of the current snapshot whose `text_folded` is `LIKE pattern`: from a
    /// remembered count and the rows it did not see when one serves, else from
    /// `count_afresh`. The snapshot is taken by this call's first statement (or was by
    /// an earlier one of the transaction), after `began`.
    pub(super) async fn count<F>(
        &self,
        connection: &mut PgConnection,
        pattern: &str,
        began: Instant,
        count_afresh: F,
    ) -> Result<u64, StoreError>
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
        let count = match known.and_then(|known| Some((xmin(&known.snapshot)?, known))) {
            Some((xmin, known)) => {
                known.count + count_unseen(connection, pattern, &known.snapshot, xmin).await?
            }
            None => count_afresh(connection).await?,
        };
        let counted = Counted {
            snapshot,
            taken_by,
            rows,
            count,
        };
        // Readers of older snapshots may finish later: keep the newest count.
        self.by_pattern
            .put(pattern, counted, |known, counted| known.rows > counted.rows);
        Ok(count)
    }
}

/// Rows matching `pattern` that `snapshot`, whose xmin is `xmin`, did not see.
async fn count_unseen(
    connection: &mut PgConnection,
    pattern: &str,
    snapshot: &str,
    xmin: u64,
) -> Result<u64, StoreError> {
    // Every transaction before xmin had ended when the snapshot was taken, and the
    // snapshot saw those that committed: only later ones need a test. The bound is a
    // literal (a number, parsed) so that the planner, which cannot know a parameter's
    // value in a generic plan, walks the index from it.
    let query = format!(
        "SELECT COUNT(*) FROM messages WHERE inserted_by >= '{xmin}'::xid8 \
         AND NOT pg_visible_in_snapshot(inserted_by, $1::pg_snapshot) \
         AND text_folded LIKE $2 ESCAPE '\\'"
    );
    let count: i64 = sqlx::query_scalar(&query)
        .persistent(false)
        .bind(snapshot)
        .bind(pattern)
        .fetch_one(connection)
        .await?;
    Ok(non_negative(count))
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
