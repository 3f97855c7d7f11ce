//! One batch, one transaction: every message of the batch inserted with
//! `ON CONFLICT DO NOTHING`, the writer learning per message whether it was new, and a
//! write connection that is never reused after a failure.
//!
//! Each statement is a round trip to the thread that runs the connection, and each
//! returned row one more wake-up of the writer, so the common batch takes one statement
//! and no rows: an `INSERT` of up to 64 rows in autocommit (one statement is one
//! transaction), whose count of inserted rows tells whether every id was new. Only a
//! batch holding duplicates asks which ids were inserted. Measured against
//! `BEGIN`/`INSERT … RETURNING`/`COMMIT`: see docs/performance-history.md.

use std::collections::HashSet;
use std::time::SystemTime;

use prometheus::IntGauge;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteQueryResult;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use super::checkpoint::Checkpointer;
use super::merges::Merges;
use super::sender_order::{SenderOrder, WindowCopy};
use crate::message::Message;
use crate::store::writer::{Committer, Pending};
use crate::store::{fold_case, InsertOutcome};

const INSERT_MESSAGES: &str = "INSERT INTO messages \
     (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) ";
const ON_CONFLICT: &str = " ON CONFLICT (message_id) DO NOTHING";
/// Rows per INSERT statement: few round trips to SQLite, few distinct statements to cache.
const ROWS_PER_STATEMENT: usize = 64;

/// The write connection (a pool of one, so a connection closed after a failure is
/// replaced), what to do with it after a failure, and the background checkpointer of
/// a database file.
pub(super) struct SqliteCommitter {
    pool: SqlitePool,
    /// Whether the pool serves the writer alone (a database file), so that the writer
    /// keeps its connection from one batch to the next. Taking it from the pool and
    /// giving it back would cost two more round trips to SQLite's thread per batch:
    /// sqlx tests a connection before use and when it comes back. An in-memory
    /// database's one connection also serves the reads, and goes back after every batch.
    keep_connection: bool,
    after_failure: AfterFailure,
    checkpointer: Option<Checkpointer>,
    /// The connection kept between batches; `None` before the first and after a failure.
    kept: Option<PoolConnection<Sqlite>>,
    sender_order: SenderOrder,
    /// A connection of its own for the merge steps, on a database file: the copy of a
    /// window is made there while the writer goes on with its batches (`None` in
    /// memory, where the one connection serves everything, and the first step copies).
    merges: Option<Merges>,
    /// Shows the rows not merged into the sender order yet, as last known.
    unmerged_rows: IntGauge,
}

impl SqliteCommitter {
    pub(super) fn new(
        pool: SqlitePool,
        keep_connection: bool,
        after_failure: AfterFailure,
        checkpointer: Option<Checkpointer>,
        merges: Option<Merges>,
        unmerged_rows: IntGauge,
    ) -> Self {
        Self {
            pool,
            keep_connection,
            after_failure,
            checkpointer,
            kept: None,
            sender_order: SenderOrder::default(),
            merges,
            unmerged_rows,
        }
    }

    async fn connection(&mut self) -> Result<PoolConnection<Sqlite>, sqlx::Error> {
        match self.kept.take() {
            Some(connection) => Ok(connection),
            None => self.pool.acquire().await,
        }
    }

    /// A merge step on the write connection, which makes the copy of a new window in
    /// the step (a database in memory).
    async fn step_on_write_connection(&mut self, idle: bool) -> Result<(), sqlx::Error> {
        let mut connection = self.connection().await?;
        let stepped = self
            .sender_order
            .step(&mut connection, idle, WindowCopy::Inline)
            .await;
        if stepped.is_err() {
            recover(&mut connection, self.after_failure).await;
        }
        self.done_with(connection, stepped.is_err());
        stepped.map(drop)
    }

    fn show_unmerged_rows(&self) {
        if let Some(rows) = self.sender_order.unmerged() {
            self.unmerged_rows.set(rows.max(0));
        }
    }

    /// Keeps `connection` for the next batch, unless the pool is shared or the
    /// connection failed: dropped, it goes back to the pool, or is closed if `recover`
    /// said so.
    fn done_with(&mut self, connection: PoolConnection<Sqlite>, failed: bool) {
        if self.keep_connection && !failed {
            self.kept = Some(connection);
        }
    }
}

impl Committer for SqliteCommitter {
    async fn commit(&mut self, batch: &[Pending]) -> Result<Vec<InsertOutcome>, sqlx::Error> {
        let mut connection = self.connection().await?;
        let outcome = commit(&mut connection, batch, self.after_failure).await;
        self.done_with(connection, outcome.is_err());
        if let Ok(outcomes) = &outcome {
            let created = outcomes.iter().filter(|o| **o == InsertOutcome::Created);
            self.sender_order.stored(created.count());
            self.show_unmerged_rows();
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.committed();
            }
        }
        outcome
    }

    /// A step of merging stored rows into the `(from, ts)` order, when one is due; in
    /// a pause in traffic, of whatever rows wait.
    async fn maintain(&mut self, idle: bool) {
        let due = match idle {
            true => self.sender_order.idle_work(),
            false => self.sender_order.due(),
        };
        if !due {
            return;
        }
        let stepped = match &mut self.merges {
            Some(merges) => merges.step(&mut self.sender_order, idle).await,
            None => self.step_on_write_connection(idle).await,
        };
        if let Err(error) = &stepped {
            // Reads stay exact (they scan what is not merged); only slower.
            tracing::warn!(error = %error, "merging rows into the sender order failed; retrying in a second");
        }
        self.show_unmerged_rows();
    }

    fn idle_work(&self) -> bool {
        self.sender_order.idle_work()
    }

    /// Rewrites one page of the totals and commits.
    async fn probe(&mut self) -> Result<(), sqlx::Error> {
        let mut connection = self.connection().await?;
        let written = async {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *connection)
                .await?;
            sqlx::query("UPDATE message_totals SET senders = senders WHERE id = 1")
                .execute(&mut *connection)
                .await?;
            sqlx::query("COMMIT").execute(&mut *connection).await
        }
        .await;
        if written.is_err() {
            recover(&mut connection, self.after_failure).await;
        }
        self.done_with(connection, written.is_err());
        written.map(drop)
    }

    async fn close(mut self) {
        // Back to the pool, which waits for it to come back before closing.
        self.kept = None;
        if let Some(merges) = &mut self.merges {
            merges.close().await;
        }
        if let Some(checkpointer) = &mut self.checkpointer {
            checkpointer.stop().await;
        }
        self.pool.close().await;
    }
}

/// Inserts `batch` in one transaction on the write connection; learns per row whether
/// it was new.
async fn commit(
    connection: &mut PoolConnection<Sqlite>,
    batch: &[Pending],
    on_failure: AfterFailure,
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    // A failed statement in autocommit may leave its transaction open (a COMMIT that
    // found the database busy): only a connection closed after a failure may run one.
    let autocommit = on_failure == AfterFailure::Reconnect && batch.len() <= ROWS_PER_STATEMENT;
    let outcome = insert_batch(connection, batch, autocommit).await;
    if outcome.is_err() {
        recover(connection, on_failure).await;
    }
    outcome
}

async fn insert_batch(
    connection: &mut SqliteConnection,
    batch: &[Pending],
    autocommit: bool,
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let created_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    // Explicit statements rather than sqlx's transaction type, whose nesting counter
    // would turn the next BEGIN into a SAVEPOINT if a failed COMMIT left one open.
    if !autocommit {
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *connection)
            .await?;
    }
    let mut created = HashSet::with_capacity(batch.len());
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        created.extend(insert_chunk(connection, chunk, &created_at).await?);
    }
    if !autocommit {
        sqlx::query("COMMIT").execute(&mut *connection).await?;
    }
    // Only the first occurrence of an id in the batch can have created its row.
    Ok(batch
        .iter()
        .map(
            |pending| match created.remove(pending.message.message_id.as_str()) {
                true => InsertOutcome::Created,
                false => InsertOutcome::Duplicate,
            },
        )
        .collect())
}

/// Inserts `chunk` in one statement; returns the ids it created.
async fn insert_chunk<'a>(
    connection: &mut SqliteConnection,
    chunk: &'a [Pending],
    created_at: &str,
) -> Result<HashSet<&'a str>, sqlx::Error> {
    let messages = chunk.iter().map(|pending| &pending.message);
    let done = insert_messages(connection, messages, created_at).await?;
    // Rows inserted by the statement itself, not by its triggers.
    let inserted = done.rows_affected();
    let mut ids: HashSet<&str> = chunk
        .iter()
        .map(|pending| pending.message.message_id.as_str())
        .collect();
    if inserted == ids.len() as u64 {
        return Ok(ids);
    }
    if inserted == 0 {
        return Ok(HashSet::new());
    }
    // Some ids existed. A new row's rowid is one more than the largest in the table
    // (rows are never deleted, and the writer is the only one inserting), so the
    // statement's rows are the `inserted` rowids ending at the last one it inserted.
    let last = done.last_insert_rowid();
    let first = last - i64::try_from(inserted).expect("rows of one statement fit i64") + 1;
    // As one row: each row would be one more hand-off from SQLite's thread.
    let inserted_ids: String = sqlx::query_scalar(
        "SELECT json_group_array(message_id) FROM messages WHERE rowid BETWEEN ? AND ?",
    )
    .bind(first)
    .bind(last)
    .fetch_one(&mut *connection)
    .await?;
    let inserted_ids: HashSet<String> =
        serde_json::from_str(&inserted_ids).map_err(|error| sqlx::Error::Decode(error.into()))?;
    ids.retain(|id| inserted_ids.contains(*id));
    Ok(ids)
}

/// The writer's statement for a batch: `messages` in one `INSERT … ON CONFLICT
/// (message_id) DO NOTHING`. Public for the benchmark programs, which insert exactly
/// as the writer does (`examples/schemacost.rs`).
pub async fn insert_messages<'m>(
    connection: &mut SqliteConnection,
    messages: impl IntoIterator<Item = &'m Message>,
    created_at: &str,
) -> Result<SqliteQueryResult, sqlx::Error> {
    let mut insert = QueryBuilder::new(INSERT_MESSAGES);
    insert.push_values(messages, |mut row, message| {
        row.push_bind(&message.message_id)
            .push_bind(&message.from)
            .push_bind(&message.to)
            .push_bind(message.ts.as_str())
            .push_bind(message.ts.sort_key())
            .push_bind(message.text.as_deref())
            .push_bind(message.text.as_deref().map(fold_case))
            .push_bind(created_at);
    });
    insert.push(ON_CONFLICT);
    insert.build().execute(connection).await
}

/// What to do with the write connection after a failed transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterFailure {
    /// Roll back and close it; the pool opens a fresh one. SQLite may keep a
    /// transaction open after a failed COMMIT (a full disk, a busy lock), and nothing
    /// may ever be committed into that.
    Reconnect,
    /// Roll back only: closing the one connection of an in-memory database would
    /// drop the database.
    RollBack,
}

pub(super) async fn recover(connection: &mut PoolConnection<Sqlite>, after: AfterFailure) {
    let rolled_back = sqlx::query("ROLLBACK").execute(&mut **connection).await;
    if after == AfterFailure::Reconnect || rolled_back.is_err() {
        connection.close_on_drop();
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use sqlx::ConnectOptions;

    use tokio::sync::oneshot;

    use super::*;
    use crate::message::Message;
    use crate::store::sqlite::reads::MESSAGE_COUNT;
    use crate::store::sqlite::MIGRATOR;
    use crate::timestamp::Timestamp;
    use InsertOutcome::{Created, Duplicate};

    fn pending(id: &str, text: &str) -> Pending {
        Pending {
            message: Message {
                message_id: id.to_owned(),
                from: "+1".to_owned(),
                to: "+2".to_owned(),
                ts: Timestamp::parse("2025-01-15T10:00:00Z").unwrap(),
                text: Some(text.to_owned()),
            },
            reply: oneshot::channel().0,
        }
    }

    /// A migrated database as the writer uses it: in memory, rolled back after a
    /// failure and written in explicit transactions; or in a file, reconnected after a
    /// failure and written in autocommit. The folder must outlive the pool.
    async fn database(after_failure: AfterFailure) -> (SqlitePool, tempfile::TempDir) {
        let folder = tempfile::tempdir().unwrap();
        let connect = match after_failure {
            AfterFailure::RollBack => "sqlite::memory:".parse().unwrap(),
            AfterFailure::Reconnect => SqliteConnectOptions::new()
                .filename(folder.path().join("batch.db"))
                .create_if_missing(true),
        };
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect)
            .await
            .unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        (pool, folder)
    }

    /// Commits `batch` on a connection taken from `pool` and given back after.
    async fn commit_on(
        pool: &SqlitePool,
        batch: &[Pending],
        after_failure: AfterFailure,
    ) -> Result<Vec<InsertOutcome>, sqlx::Error> {
        commit(&mut pool.acquire().await?, batch, after_failure).await
    }

    async fn stored(pool: &SqlitePool) -> (Vec<(String, String)>, i64) {
        let texts = sqlx::query_as("SELECT message_id, text FROM messages ORDER BY message_id")
            .fetch_all(pool)
            .await
            .unwrap();
        let total = sqlx::query_scalar(MESSAGE_COUNT)
            .fetch_one(pool)
            .await
            .unwrap();
        (texts, total)
    }

    #[tokio::test]
    async fn one_batch_holding_an_id_several_times_creates_it_once_and_keeps_the_first() {
        for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
            let (pool, _folder) = database(after_failure).await;
            let earlier = [pending("old", "stored earlier"), pending("older", "too")];
            let outcomes = commit_on(&pool, &earlier, after_failure).await.unwrap();
            assert_eq!(outcomes, [Created, Created], "{after_failure:?}");

            let batch = [
                pending("a", "first a"),
                pending("b", "first b"),
                pending("a", "second a"),
                // The row inserted last before this batch.
                pending("older", "again"),
                pending("b", "second b"),
                pending("c", "only c"),
            ];
            let outcomes = commit_on(&pool, &batch, after_failure).await.unwrap();
            assert_eq!(
                outcomes,
                [Created, Created, Duplicate, Duplicate, Duplicate, Created],
                "{after_failure:?}"
            );
            let again = [pending("c", "again"), pending("old", "again")];
            let outcomes = commit_on(&pool, &again, after_failure).await.unwrap();
            assert_eq!(outcomes, [Duplicate, Duplicate], "{after_failure:?}");

            let expected = [
                ("a", "first a"),
                ("b", "first b"),
                ("c", "only c"),
                ("old", "stored earlier"),
                ("older", "too"),
            ];
            let expected = expected.map(|(id, text)| (id.to_owned(), text.to_owned()));
            assert_eq!(
                stored(&pool).await,
                (expected.to_vec(), 5),
                "{after_failure:?}"
            );
        }
    }

    /// `webhook_sender_order_unmerged_rows` follows the rows stored and merged, with
    /// the merge steps on a connection of their own, as on every database file: the
    /// first step in a pause starts the copy of the window, a later one merges it.
    #[tokio::test]
    async fn the_committer_shows_the_rows_not_merged_into_the_sender_order() {
        let (pool, folder) = database(AfterFailure::Reconnect).await;
        let merges = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_lazy_with(super::super::write_connect_options(
                &folder.path().join("batch.db"),
            ));
        let unmerged = IntGauge::new("unmerged", "rows").unwrap();
        let mut committer = SqliteCommitter::new(
            pool,
            true,
            AfterFailure::Reconnect,
            None,
            Some(Merges::new(merges)),
            unmerged.clone(),
        );
        let batch = [pending("a", "a"), pending("b", "b"), pending("c", "c")];
        committer.commit(&batch).await.unwrap();
        // Fewer rows than a window: the step only looks.
        committer.maintain(false).await;
        assert_eq!(unmerged.get(), 3);
        committer.commit(&[pending("d", "d")]).await.unwrap();
        assert_eq!(unmerged.get(), 4);
        // A pause in traffic: they are merged, once their copy is made.
        assert!(committer.idle_work());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while unmerged.get() != 0 {
            assert!(std::time::Instant::now() < deadline, "not merged");
            committer.maintain(true).await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(!committer.idle_work());
        // Batches went on while the copy was made: the writer kept its connection.
        committer.commit(&[pending("e", "e")]).await.unwrap();
        let mut reader = SqliteConnectOptions::new()
            .filename(folder.path().join("batch.db"))
            .connect()
            .await
            .unwrap();
        let merged: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages_by_sender")
            .fetch_one(&mut reader)
            .await
            .unwrap();
        assert_eq!((merged, unmerged.get()), (4, 1));
        committer.close().await;
    }

    #[tokio::test]
    async fn on_a_file_the_committer_keeps_its_connection_until_a_commit_fails() {
        let (pool, folder) = database(AfterFailure::Reconnect).await;
        let mut committer = SqliteCommitter::new(
            pool.clone(),
            true,
            AfterFailure::Reconnect,
            None,
            None,
            IntGauge::new("unmerged", "rows").unwrap(),
        );
        assert_eq!(
            committer.commit(&[pending("a", "a")]).await.unwrap(),
            [Created]
        );
        assert!(committer.kept.is_some());
        assert_eq!(
            pool.num_idle(),
            0,
            "kept by the committer, not back in the pool"
        );

        let mut other = SqliteConnectOptions::new()
            .filename(folder.path().join("batch.db"))
            .connect()
            .await
            .unwrap();
        let refuse = "CREATE TRIGGER refuse BEFORE INSERT ON messages \
                      BEGIN SELECT RAISE(ABORT, 'refused'); END";
        sqlx::query(refuse).execute(&mut other).await.unwrap();
        assert!(committer.commit(&[pending("b", "b")]).await.is_err());
        assert!(
            committer.kept.is_none(),
            "a connection that failed is not kept"
        );

        sqlx::query("DROP TRIGGER refuse")
            .execute(&mut other)
            .await
            .unwrap();
        assert_eq!(
            committer.commit(&[pending("b", "b")]).await.unwrap(),
            [Created]
        );
        assert!(committer.kept.is_some());
        committer.close().await;
        assert!(pool.is_closed());
    }

    /// The ids a batch with duplicates created come back from SQLite as one JSON array:
    /// any id survives the trip, also one with quotes, escapes, a NUL or non-ASCII.
    #[tokio::test]
    async fn ids_of_any_text_are_told_created_or_duplicate() {
        let odd = [
            "quo\"te",
            "back\\slash",
            "nul\u{0}byte",
            "ünïcødé 😀",
            "tab\tline\n",
        ];
        for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
            let (pool, _folder) = database(after_failure).await;
            let earlier = [pending(odd[0], "stored earlier")];
            let outcomes = commit_on(&pool, &earlier, after_failure).await.unwrap();
            assert_eq!(outcomes, [Created], "{after_failure:?}");

            let batch: Vec<Pending> = odd.iter().map(|id| pending(id, id)).collect();
            let outcomes = commit_on(&pool, &batch, after_failure).await.unwrap();
            assert_eq!(
                outcomes,
                [Duplicate, Created, Created, Created, Created],
                "{after_failure:?}"
            );
            let (rows, total) = stored(&pool).await;
            assert_eq!(total, 5, "{after_failure:?}");
            let mut ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
            let mut expected = odd.to_vec();
            ids.sort_unstable();
            expected.sort_unstable();
            assert_eq!(ids, expected, "{after_failure:?}");
        }
    }

    /// Batches longer than one statement: an id first seen in one statement and
    /// repeated in a later one of the same transaction is a duplicate there.
    #[tokio::test]
    async fn a_batch_of_several_statements_tells_created_from_duplicate_across_them() {
        for after_failure in [AfterFailure::RollBack, AfterFailure::Reconnect] {
            let (pool, _folder) = database(after_failure).await;
            commit_on(&pool, &[pending("old-7", "stored earlier")], after_failure)
                .await
                .unwrap();
            let ids: Vec<String> = (0..150)
                .map(|index| match index {
                    // Repeats of ids the first statement (rows 0..64) inserted,
                    // among them the last one it inserted.
                    100 | 140 => "id-3".to_owned(),
                    110 => "id-63".to_owned(),
                    120 => "old-7".to_owned(),
                    _ => format!("id-{index}"),
                })
                .collect();
            let batch: Vec<Pending> = ids.iter().map(|id| pending(id, id)).collect();
            let outcomes = commit_on(&pool, &batch, after_failure).await.unwrap();
            let duplicates: Vec<usize> = (0..150)
                .filter(|&index| outcomes[index] == Duplicate)
                .collect();
            assert_eq!(duplicates, [100, 110, 120, 140], "{after_failure:?}");
            let (rows, total) = stored(&pool).await;
            assert_eq!((rows.len(), total), (147, 147), "{after_failure:?}");
        }
    }
}
