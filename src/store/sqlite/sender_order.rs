//! The `(from, ts)` order, built behind the inserts: what answers a `from` filter.
//!
//! As an index of `messages` it cost every message a leaf of its own (the senders of a
//! batch are on different leaves), written whole to the WAL at each commit: the
//! costliest part of the schema on the ingest path. Instead, `messages_by_sender` is a
//! table that the writer fills between batches. Once [`WINDOW_ROWS`] rows wait (or
//! any, in a pause in traffic), it merges them in sender order, one range of senders
//! per transaction (about [`ROWS_PER_STEP`] rows each), so a leaf takes all of its
//! sender's new entries in one write and no single transaction holds up the webhooks
//! for long. The window is first copied into a temporary table keyed in sender order
//! (`temp.sender_window`), and each step reads its senders from there, rather than
//! every step scanning the whole window of `messages` for its own. On a database file
//! the steps run on a connection of their own, which makes that copy while the writer
//! goes on with its batches ([`WindowCopy::Ahead`]). The
//! table `sender_order` says how far the merge has come, and reads take
//! the rest from `messages` itself ([`UNMERGED`]: a scan of at most about
//! `2 × WINDOW_ROWS` of the newest rows, by rowid). Both change in one transaction, so
//! a read sees every row exactly once.

use std::time::{Duration, Instant};

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::count::TextSearch;
use super::reads::text_condition;
use crate::store::query::{page_conditions, page_order, PAGE_COLUMNS};
use crate::store::{MessageFilter, PageStart};

/// Rows waiting before the writer merges them. A `from` read scans them (about
/// 0.1 µs a row); the more wait, the more entries a leaf takes per write.
const WINDOW_ROWS: i64 = 16_384;

/// Rows a merge step takes, about: each step takes the rows of one range of senders,
/// and the senders are split in as many ranges as the rows need. A step holds up the
/// webhooks for its duration.
const ROWS_PER_STEP: i64 = 2_048;

/// How long the writer leaves the merge alone after it failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The rows of `messages` that are not in `messages_by_sender` yet, as a condition.
const UNMERGED: &str = "seq > (SELECT merged_seq FROM sender_order) \
    AND (seq > (SELECT window_end FROM sender_order) \
    OR from_msisdn >= (SELECT next_sender FROM sender_order))";

/// The writer's side: whether a merge step is due, and taking it. Public for the
/// benchmark programs, which insert as the writer does (`examples/schemacost.rs`).
#[derive(Debug)]
pub struct SenderOrder {
    /// Rows stored and not merged; `None` until read from the database.
    unmerged: Option<i64>,
    /// A merge is under way: the next step takes the next range of senders.
    merging: bool,
    /// After a failed step, no step before this instant.
    retry_at: Option<Instant>,
    window_rows: i64,
    rows_per_step: i64,
}

impl Default for SenderOrder {
    fn default() -> Self {
        Self::new(WINDOW_ROWS, ROWS_PER_STEP)
    }
}

impl SenderOrder {
    pub(super) fn new(window_rows: i64, rows_per_step: i64) -> Self {
        Self {
            unmerged: None,
            merging: false,
            retry_at: None,
            window_rows,
            rows_per_step,
        }
    }

    /// Counts `rows` newly stored messages.
    pub fn stored(&mut self, rows: usize) {
        if let Some(unmerged) = &mut self.unmerged {
            *unmerged = unmerged.saturating_add(i64::try_from(rows).unwrap_or(i64::MAX));
        }
    }

    /// Rows not merged yet (those a `from` read scans), as last known.
    pub fn unmerged(&self) -> Option<i64> {
        self.unmerged
    }

    /// Whether [`SenderOrder::step`] has work (or must look whether it has).
    pub fn due(&self) -> bool {
        self.due_with(self.window_rows)
    }

    /// Whether a step in a pause in traffic has work: any row waiting.
    pub fn idle_work(&self) -> bool {
        self.due_with(1)
    }

    fn due_with(&self, window_rows: i64) -> bool {
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return false;
        }
        self.merging || self.unmerged.is_none_or(|rows| rows >= window_rows)
    }

    /// One transaction: starts a merge if enough rows wait (any row, when `idle`), and
    /// merges the next range of senders of the merge under way. With [`WindowCopy::Ahead`],
    /// a step that finds no copy of its window merges nothing and returns the window,
    /// for the caller to copy ([`copy_window`]) on the same connection before the next
    /// step. After an error the transaction may still be open: the caller rolls it back.
    pub async fn step(
        &mut self,
        connection: &mut SqliteConnection,
        idle: bool,
        copy: WindowCopy,
    ) -> Result<Option<Window>, sqlx::Error> {
        let window_rows = if idle { 1 } else { self.window_rows };
        let stepped = async {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *connection)
                .await?;
            let progress = merge_slice(connection, window_rows, self.rows_per_step, copy).await?;
            sqlx::query("COMMIT").execute(&mut *connection).await?;
            Ok(progress)
        }
        .await;
        match stepped {
            Ok(progress) => {
                self.merging = progress.merging;
                self.unmerged = Some(progress.unmerged);
                self.retry_at = None;
                Ok(progress.to_copy)
            }
            Err(error) => {
                self.failed();
                Err(error)
            }
        }
    }

    /// After a failed step or copy: no step for a while, and then one that looks
    /// afresh where the merge stands.
    pub fn failed(&mut self) {
        self.merging = false;
        self.unmerged = None;
        self.retry_at = Some(Instant::now() + RETRY_AFTER);
    }
}

/// Where the steps of a merge find the copy of its window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowCopy {
    /// The first step makes it, inside its transaction.
    Inline,
    /// The caller makes it beforehand, on the connection the steps run on, while the
    /// writer goes on with its batches on its own connection.
    Ahead,
}

/// The rows of a merge's window: `merged < seq <= window_end`, sender from
/// `next_sender` on.
#[derive(Debug)]
pub struct Window {
    merged: i64,
    window_end: i64,
    next_sender: String,
}

/// Where the merge stands after a step.
struct Progress {
    /// A merge is under way: more of its senders are left.
    merging: bool,
    /// Rows after `merged_seq`: those a `from` read scans.
    unmerged: i64,
    /// The window to copy before the next step ([`WindowCopy::Ahead`]).
    to_copy: Option<Window>,
}

/// The body of a step, inside its transaction.
async fn merge_slice(
    connection: &mut SqliteConnection,
    window_rows: i64,
    rows_per_step: i64,
    copy: WindowCopy,
) -> Result<Progress, sqlx::Error> {
    let (merged, mut window_end, next_sender): (i64, i64, String) =
        sqlx::query_as("SELECT merged_seq, window_end, next_sender FROM sender_order WHERE id = 1")
            .fetch_one(&mut *connection)
            .await?;
    let last: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM messages")
        .fetch_one(&mut *connection)
        .await?;
    if window_end <= merged {
        if last - merged < window_rows {
            return Ok(Progress {
                merging: false,
                unmerged: last - merged,
                to_copy: None,
            });
        }
        window_end = last;
    }
    let window = Window {
        merged,
        window_end,
        next_sender,
    };
    if !copied(connection, &window).await? {
        match copy {
            WindowCopy::Inline => copy_window(connection, &window).await?,
            WindowCopy::Ahead => {
                // The window starts now, so that the copy made meanwhile is the one the
                // next step finds, however many rows come in the meantime.
                sqlx::query("UPDATE sender_order SET window_end = ? WHERE id = 1")
                    .bind(window.window_end)
                    .execute(&mut *connection)
                    .await?;
                return Ok(Progress {
                    merging: true,
                    unmerged: last - merged,
                    to_copy: Some(window),
                });
            }
        }
    }
    let next_sender = window.next_sender;
    // This step's senders: the next `senders / steps` (of every sender known, as many
    // steps as the window's rows need), up to `bound`; with no bound, every one left.
    let senders: i64 = sqlx::query_scalar("SELECT senders FROM message_totals WHERE id = 1")
        .fetch_one(&mut *connection)
        .await?;
    let steps = (window_end - merged + rows_per_step - 1) / rows_per_step.max(1);
    let per_slice = (senders + steps - 1) / steps.max(1);
    let bound: Option<String> = sqlx::query_scalar(
        "SELECT from_msisdn FROM sender_counts WHERE from_msisdn >= ? \
         ORDER BY from_msisdn LIMIT 1 OFFSET ?",
    )
    .bind(&next_sender)
    .bind(per_slice.max(1))
    .fetch_optional(&mut *connection)
    .await?;
    let mut insert = QueryBuilder::<Sqlite>::new(
        "INSERT INTO messages_by_sender (from_msisdn, ts_key, message_id, text_folded, seq) \
         SELECT from_msisdn, ts_key, message_id, text_folded, seq FROM temp.sender_window \
         WHERE from_msisdn >= ",
    );
    insert.push_bind(next_sender);
    if let Some(bound) = &bound {
        insert.push(" AND from_msisdn < ").push_bind(bound.clone());
    }
    insert.build().execute(&mut *connection).await?;
    let merging = bound.is_some();
    // With no senders left, the window is merged in full.
    let (merged, next_sender) = match bound {
        Some(bound) => (merged, bound),
        None => {
            sqlx::query("DELETE FROM temp.sender_window")
                .execute(&mut *connection)
                .await?;
            (window_end, String::new())
        }
    };
    sqlx::query(
        "UPDATE sender_order SET merged_seq = ?, window_end = ?, next_sender = ? WHERE id = 1",
    )
    .bind(merged)
    .bind(window_end)
    .bind(next_sender)
    .execute(&mut *connection)
    .await?;
    Ok(Progress {
        merging,
        unmerged: last - merged,
        to_copy: None,
    })
}

/// Whether `temp.sender_window` holds the copy of `window`: its rows not merged yet,
/// keyed in sender order. Each step reads its range of senders from that copy, instead
/// of scanning the whole window of `messages` for its own. The copy belongs to the
/// connection the steps run on, and to its transactions: a step rolled back leaves it
/// as it was, and a new connection (after a failure, or a restart) copies anew what is
/// left of the window.
async fn copied(connection: &mut SqliteConnection, window: &Window) -> Result<bool, sqlx::Error> {
    create_copy_tables(connection).await?;
    let copied: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM temp.sender_window_of WHERE merged_seq = ? AND window_end = ?",
    )
    .bind(window.merged)
    .bind(window.window_end)
    .fetch_optional(&mut *connection)
    .await?;
    Ok(copied.is_some())
}

/// The copy's tables, on a connection that has none yet (a new one).
async fn create_copy_tables(connection: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS sender_window ( \
             from_msisdn TEXT NOT NULL, ts_key TEXT NOT NULL, message_id TEXT NOT NULL, \
             text_folded TEXT, seq INTEGER NOT NULL, \
             PRIMARY KEY (from_msisdn, ts_key, message_id)) WITHOUT ROWID; \
         CREATE TEMP TABLE IF NOT EXISTS sender_window_of ( \
             id INTEGER PRIMARY KEY CHECK (id = 1), \
             merged_seq INTEGER NOT NULL, window_end INTEGER NOT NULL)",
    )
    .execute(connection)
    .await
    .map(drop)
}

/// Makes `temp.sender_window` the copy of `window`. Writing only the connection's own
/// temporary tables, it takes no lock that the writer's batches wait for: the writer
/// runs it on the connection of the merge steps, while it goes on committing batches
/// on its own (the copy was the longest part of a merge, about 20 ms here).
pub async fn copy_window(
    connection: &mut SqliteConnection,
    window: &Window,
) -> Result<(), sqlx::Error> {
    create_copy_tables(connection).await?;
    sqlx::query("DELETE FROM temp.sender_window_of")
        .execute(&mut *connection)
        .await?;
    sqlx::query("DELETE FROM temp.sender_window")
        .execute(&mut *connection)
        .await?;
    // In `seq` order: the copy's key sorts them (cheaper than sorting them first, by
    // 1.2k instructions a message).
    sqlx::query(
        "INSERT INTO temp.sender_window (from_msisdn, ts_key, message_id, text_folded, seq) \
         SELECT from_msisdn, ts_key, message_id, text_folded, seq FROM messages NOT INDEXED \
         WHERE seq > ? AND seq <= ? AND from_msisdn >= ?",
    )
    .bind(window.merged)
    .bind(window.window_end)
    .bind(&window.next_sender)
    .execute(&mut *connection)
    .await?;
    sqlx::query("INSERT INTO temp.sender_window_of VALUES (1, ?, ?)")
        .bind(window.merged)
        .bind(window.window_end)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// `SELECT` of the page of `filter` (which names a sender) that starts at `start`:
/// the merged rows walked in order from `messages_by_sender`, and the unmerged ones
/// from the newest rows of `messages`, merged by SQLite into one order.
pub(super) fn select_page<'q>(
    filter: &MessageFilter,
    limit: u32,
    start: &PageStart,
    text: &TextSearch,
) -> QueryBuilder<'q, Sqlite> {
    // The merged leg's order columns are the table's key, so SQLite walks it in order.
    let mut select = QueryBuilder::new(
        "SELECT s.message_id AS message_id, m.from_msisdn AS from_msisdn, \
         m.to_msisdn AS to_msisdn, m.ts AS ts, m.text AS text, s.ts_key AS ts_key \
         FROM (SELECT seq, ts_key, message_id FROM messages_by_sender",
    );
    conditions(&mut select, filter, start, text);
    select.push(format!(
        ") AS s JOIN messages AS m ON m.seq = s.seq \
         UNION ALL SELECT {PAGE_COLUMNS} FROM messages NOT INDEXED"
    ));
    unmerged_conditions(&mut select, filter, start, text);
    page_order(&mut select, limit, start);
    select
}

/// `SELECT COUNT(*)` of `filter` (which names a sender), merged rows and unmerged.
pub(super) fn select_count<'q>(
    filter: &MessageFilter,
    text: &TextSearch,
) -> QueryBuilder<'q, Sqlite> {
    let every_row = PageStart::Offset(0);
    let mut select = QueryBuilder::new("SELECT (SELECT COUNT(*) FROM messages_by_sender");
    conditions(&mut select, filter, &every_row, text);
    select.push(") + (SELECT COUNT(*) FROM messages NOT INDEXED");
    unmerged_conditions(&mut select, filter, &every_row, text);
    select.push(")");
    select
}

/// `WHERE` of the rows of `filter` from `start` on (in either table).
fn conditions<'q>(
    query: &mut QueryBuilder<'q, Sqlite>,
    filter: &MessageFilter,
    start: &PageStart,
    text: &TextSearch,
) {
    debug_assert!(filter.from.is_some(), "only a sender's rows are merged");
    let condition = |query: &mut QueryBuilder<'q, Sqlite>, q: &str| text_condition(query, q, text);
    page_conditions(query, filter, start, condition, str::to_owned);
}

/// `WHERE` of the rows of `filter` from `start` on, among the rows of `messages` not
/// merged yet.
fn unmerged_conditions<'q>(
    query: &mut QueryBuilder<'q, Sqlite>,
    filter: &MessageFilter,
    start: &PageStart,
    text: &TextSearch,
) {
    // The sender's condition comes first, so there is a `WHERE` to extend.
    conditions(query, filter, start, text);
    query.push(" AND ").push(UNMERGED);
}

#[cfg(test)]
mod tests {
    use futures::future::join_all;

    use super::*;
    use crate::config::{DatabaseLocation, Synchronous};
    use crate::message::Message;
    use crate::metrics::Metrics;
    use crate::store::writer::WriteQueue;
    use crate::store::StoreOptions;
    use crate::timestamp::Timestamp;

    fn message(number: usize, from: &str) -> Message {
        Message {
            message_id: format!("m{number:05}"),
            from: from.to_owned(),
            to: "+9".to_owned(),
            ts: Timestamp::parse("2025-01-15T10:00:00Z").unwrap(),
            text: None,
        }
    }

    async fn merged(connection: &mut SqliteConnection) -> Vec<(String, i64)> {
        sqlx::query_as("SELECT from_msisdn, seq FROM messages_by_sender ORDER BY seq")
            .fetch_all(connection)
            .await
            .unwrap()
    }

    /// The `seq` of every merged row, ascending.
    async fn merged_seqs(connection: &mut SqliteConnection) -> Vec<i64> {
        let rows = merged(connection).await;
        rows.into_iter().map(|(_, seq)| seq).collect()
    }

    async fn progress(connection: &mut SqliteConnection) -> (i64, i64, String) {
        sqlx::query_as("SELECT merged_seq, window_end, next_sender FROM sender_order")
            .fetch_one(connection)
            .await
            .unwrap()
    }

    /// A database in memory with the schema, on its one connection.
    async fn migrated_memory_pool() -> sqlx::SqlitePool {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        super::super::MIGRATOR.run(&pool).await.unwrap();
        pool
    }

    #[tokio::test]
    async fn a_merge_starts_once_enough_rows_wait_and_takes_a_range_of_senders_per_step() {
        let pool = migrated_memory_pool().await;
        let senders = ["+1", "+2", "+3", "+4"];
        let store = async |numbers: std::ops::Range<usize>| {
            let messages: Vec<Message> = numbers
                .map(|n| message(n, senders[n % senders.len()]))
                .collect();
            let mut connection = pool.acquire().await.unwrap();
            super::super::insert_messages(&mut connection, &messages, "c")
                .await
                .unwrap();
        };
        store(1..10).await;
        let mut order = SenderOrder::new(10, 6);
        assert!(order.due(), "it must look before it knows");
        // 9 rows wait: fewer than a window.
        let mut connection = pool.acquire().await.unwrap();
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        assert!(!order.due());
        assert_eq!(merged(&mut connection).await, []);
        drop(connection);

        store(10..13).await;
        order.stored(3);
        assert!(order.due());
        let mut connection = pool.acquire().await.unwrap();
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        // The window is rows 1..=12, two steps of about 6 rows: its first two senders
        // of four are merged.
        assert_eq!(progress(&mut connection).await, (0, 12, "+3".to_owned()));
        let first: Vec<(String, i64)> = (1..=12)
            .map(|n| (senders[(n as usize) % 4].to_owned(), n))
            .filter(|(from, _)| from.as_str() < "+3")
            .collect();
        assert_eq!(merged(&mut connection).await, first);
        assert!(order.due(), "a merge under way goes on at the next step");
        drop(connection);

        // Rows stored meanwhile wait for the next window.
        store(13..15).await;
        order.stored(2);
        let mut connection = pool.acquire().await.unwrap();
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        assert_eq!(progress(&mut connection).await, (12, 12, String::new()));
        let seqs = merged_seqs(&mut connection).await;
        assert_eq!(seqs, (1..=12).collect::<Vec<_>>());
        assert!(!order.due(), "2 rows wait, fewer than a window");

        // In a pause in traffic, any rows waiting are merged.
        assert!(order.idle_work());
        order
            .step(&mut connection, true, WindowCopy::Inline)
            .await
            .unwrap();
        assert_eq!(progress(&mut connection).await, (14, 14, String::new()));
        assert_eq!(merged(&mut connection).await.len(), 14);
        assert!(!order.idle_work());
    }

    /// The steps of a merge read their senders from a sorted copy of the window. A
    /// new write connection (after a failure) has none, and makes it anew from the
    /// senders not merged yet: every row ends up merged exactly once.
    #[tokio::test]
    async fn a_merge_goes_on_from_a_fresh_copy_of_the_window_on_a_new_connection() {
        let pool = migrated_memory_pool().await;
        let senders = ["+1", "+2", "+3", "+4"];
        let messages: Vec<Message> = (1..=12)
            .map(|n| message(n, senders[n % senders.len()]))
            .collect();
        let mut connection = pool.acquire().await.unwrap();
        super::super::insert_messages(&mut connection, &messages, "c")
            .await
            .unwrap();
        // Four steps of about 3 rows: one sender each.
        let mut order = SenderOrder::new(12, 3);
        let copied = async |connection: &mut SqliteConnection| -> i64 {
            sqlx::query_scalar("SELECT COUNT(*) FROM temp.sender_window")
                .fetch_one(connection)
                .await
                .unwrap()
        };
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        assert_eq!(progress(&mut connection).await, (0, 12, "+2".to_owned()));
        assert_eq!(
            copied(&mut connection).await,
            12,
            "the whole window, copied"
        );
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        assert_eq!(progress(&mut connection).await, (0, 12, "+3".to_owned()));

        // As on a new connection: no copy.
        sqlx::query("DROP TABLE temp.sender_window; DROP TABLE temp.sender_window_of")
            .execute(&mut *connection)
            .await
            .unwrap();
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        assert_eq!(progress(&mut connection).await, (0, 12, "+4".to_owned()));
        assert_eq!(copied(&mut connection).await, 6, "the senders left, copied");
        order
            .step(&mut connection, false, WindowCopy::Inline)
            .await
            .unwrap();
        assert_eq!(progress(&mut connection).await, (12, 12, String::new()));
        assert_eq!(copied(&mut connection).await, 0, "emptied once merged");
        let mut rows = merged(&mut connection).await;
        rows.sort_unstable_by_key(|(_, seq)| *seq);
        let expected: Vec<(String, i64)> = (1..=12)
            .map(|n| (senders[n % senders.len()].to_owned(), n as i64))
            .collect();
        assert_eq!(rows, expected);
    }

    /// An in-memory store and its writer, taking batches of up to `batch_max`.
    async fn memory_store(batch_max: usize) -> (super::super::SqliteReader, WriteQueue) {
        let options = StoreOptions {
            location: DatabaseLocation::Memory,
            synchronous: Synchronous::Full,
            checkpoint_interval: None,
            read_connections: 1,
            read_timeout: None,
            write_queue_capacity: batch_max,
            write_batch_max: batch_max,
        };
        super::super::open(None, &options, Metrics::new().writer.clone())
            .await
            .unwrap()
    }

    /// The writer takes merge steps between batches on its own.
    #[tokio::test]
    async fn the_writer_merges_once_a_window_of_rows_waits() {
        let (reader, writer) = memory_store(1024).await;
        let total = usize::try_from(WINDOW_ROWS).unwrap() + 1024;
        for chunk in (0..total).collect::<Vec<_>>().chunks(1024) {
            let sent = chunk.iter().map(|&n| writer.submit(message(n, "+1")));
            for outcome in join_all(sent).await {
                outcome.unwrap();
            }
        }
        let mut connection = reader.pool.acquire().await.unwrap();
        let (merged_seq, window_end, _) = progress(&mut connection).await;
        assert!(
            merged_seq >= WINDOW_ROWS || window_end >= WINDOW_ROWS,
            "no merge after {total} rows: merged {merged_seq}, window {window_end}"
        );
    }

    /// On a database file the merge steps run on a connection of their own, which
    /// copies each window while the writer goes on with its batches: with senders
    /// taking turns and batches arriving throughout, every row is merged exactly once,
    /// and a `from` read finds each sender's rows in order.
    #[tokio::test]
    async fn on_a_file_the_writer_merges_windows_copied_beside_its_batches() {
        let folder = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            location: DatabaseLocation::File(folder.path().join("inbox.db")),
            synchronous: Synchronous::Full,
            checkpoint_interval: None,
            read_connections: 1,
            read_timeout: None,
            write_queue_capacity: 64,
            write_batch_max: 64,
        };
        let file = folder.path().join("inbox.db");
        let (reader, writer) = super::super::open(Some(&file), &options, Metrics::new().writer)
            .await
            .unwrap();
        let senders = ["+1", "+2", "+3"];
        // Batches keep coming until a whole window is merged: the merge must not wait
        // for a pause (a copy started afresh on every step, say, would never end).
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut total = 0;
        loop {
            let sent =
                (total..total + 64).map(|n| writer.submit(message(n, senders[n % senders.len()])));
            for outcome in join_all(sent).await {
                outcome.unwrap();
            }
            total += 64;
            if total % 1024 == 0 {
                let mut connection = reader.pool.acquire().await.unwrap();
                if progress(&mut connection).await.0 >= WINDOW_ROWS {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no window merged after {total} rows"
            );
        }
        // The rest is merged in the pause that follows.
        let deadline = Instant::now() + Duration::from_secs(30);
        let total = i64::try_from(total).unwrap();
        loop {
            let mut connection = reader.pool.acquire().await.unwrap();
            if progress(&mut connection).await == (total, total, String::new()) {
                break;
            }
            assert!(Instant::now() < deadline, "not merged");
            drop(connection);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut connection = reader.pool.acquire().await.unwrap();
        let seqs = merged_seqs(&mut connection).await;
        assert_eq!(seqs, (1..=total).collect::<Vec<_>>());
        drop(connection);
        let filter = MessageFilter {
            from: Some("+2".to_owned()),
            ..MessageFilter::default()
        };
        let page = reader
            .list(&filter, 3, &PageStart::Offset(0))
            .await
            .unwrap();
        let ids: Vec<String> = page.data.into_iter().map(|m| m.message_id).collect();
        assert_eq!(
            (page.total, ids),
            (
                (0..total).filter(|n| n % 3 == 1).count() as u64,
                ["m00001", "m00004", "m00007"].map(String::from).to_vec()
            )
        );
        writer.close().await;
    }

    /// Rows fewer than a window are merged once traffic pauses.
    #[tokio::test]
    async fn the_writer_merges_what_waits_when_traffic_pauses() {
        let (reader, writer) = memory_store(64).await;
        for outcome in join_all((0..10).map(|n| writer.submit(message(n, "+1")))).await {
            outcome.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let merged = progress(&mut reader.pool.acquire().await.unwrap()).await;
            if merged == (10, 10, String::new()) {
                break;
            }
            assert!(Instant::now() < deadline, "not merged: {merged:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
