//! One batch, one transaction: every message of the batch inserted with
//! `INSERT … ON CONFLICT (message_id) DO NOTHING`, and the writer told per message
//! whether it was new; the retention sweep's deletions; and a write connection that is
//! never reused after a failure.

use std::collections::HashSet;
use std::time::SystemTime;

use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::message::Message;
use crate::store::committer::{outcomes, Committer, Pending};
use crate::store::{fold_case, non_negative, InsertOutcome};

const INSERT_MESSAGES: &str = "INSERT INTO messages \
     (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) ";
const ON_CONFLICT: &str = " ON CONFLICT (message_id) DO NOTHING";
/// The ids of the rows the INSERT before created, as a JSON array: the `changes()`
/// newest rows, up to the last rowid it inserted.
const CREATED_IDS: &str = "SELECT json_group_array(message_id) FROM (SELECT message_id \
     FROM messages WHERE seq <= last_insert_rowid() ORDER BY seq DESC LIMIT changes())";
/// Rows per INSERT statement: few round trips to SQLite, few distinct statements to cache.
const ROWS_PER_STATEMENT: usize = 64;

/// The oldest `?2` rows stored before `?1`, and how many were deleted; their aggregates
/// and search entries go with them (the triggers of `messages_deleted`).
const EXPIRE: &str = "DELETE FROM messages WHERE seq IN \
    (SELECT seq FROM messages WHERE created_at < ?1 ORDER BY created_at LIMIT ?2); \
    SELECT changes()";

/// The trigram index's merges, paced: up to 32 pages of them at the end of every write
/// transaction, once a level of the index holds 16 segments (see the migration
/// `trigram_merges_paced`). For ingest p99 while the sweep deletes (target 20 ms): at
/// 1,000,000 messages 19-22 ms, against 34-36 ms with FTS5's own merges, which came in
/// bursts of 20-45 ms inside one batch or one step of the sweep.
const MERGE: &str = "INSERT INTO messages_text (messages_text, rank) VALUES ('merge', 32)";

/// The write connection (a pool of one, so a connection closed after a failure is
/// replaced) and what to do with it after a failure.
pub(super) struct SqliteCommitter {
    pool: SqlitePool,
    /// Whether the pool serves the writer alone (a database file), so that the writer
    /// keeps its connection from one batch to the next. Taking it from the pool and
    /// giving it back would cost two more round trips to SQLite's thread per batch:
    /// sqlx tests a connection before use and when it comes back. An in-memory
    /// database's one connection also serves the reads, and goes back after every batch.
    keep_connection: bool,
    after_failure: AfterFailure,
    /// The connection kept between batches; `None` before the first and after a failure.
    kept: Option<PoolConnection<Sqlite>>,
}

impl SqliteCommitter {
    pub(super) fn new(
        pool: SqlitePool,
        keep_connection: bool,
        after_failure: AfterFailure,
    ) -> Self {
        Self {
            pool,
            keep_connection,
            after_failure,
            kept: None,
        }
    }

    async fn connection(&mut self) -> Result<PoolConnection<Sqlite>, sqlx::Error> {
        match self.kept.take() {
            Some(connection) => Ok(connection),
            None => self.pool.acquire().await,
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

    /// Whether statements that are `one_command` run as they are, without `BEGIN` and
    /// `COMMIT` around them. A failed command may leave its transaction open (a COMMIT
    /// that found the database busy): only a connection closed after a failure may run
    /// one.
    fn runs_as_one_command(&self, one_command: bool) -> bool {
        one_command && self.after_failure == AfterFailure::Reconnect
    }

    /// Runs `statements` in one transaction on the write connection: as they are when
    /// `as_they_are` (one command that `runs_as_one_command`: one statement in
    /// autocommit, or a command with its own `BEGIN` and `COMMIT`), else between
    /// explicit `BEGIN IMMEDIATE` and `COMMIT` (rather than sqlx's transaction type,
    /// whose nesting counter would turn the next BEGIN into a SAVEPOINT if a failed
    /// COMMIT left one open). A failure rolls back and recovers the connection.
    async fn transaction<T>(
        &mut self,
        as_they_are: bool,
        statements: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut connection = self.connection().await?;
        let outcome = async {
            if !as_they_are {
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *connection)
                    .await?;
            }
            let done = statements(&mut connection).await?;
            if !as_they_are {
                sqlx::query("COMMIT").execute(&mut *connection).await?;
            }
            Ok(done)
        }
        .await;
        if outcome.is_err() {
            recover(&mut connection, self.after_failure).await;
        }
        self.done_with(connection, outcome.is_err());
        outcome
    }
}

impl Committer for SqliteCommitter {
    async fn commit(&mut self, batch: &[Pending]) -> Result<Vec<InsertOutcome>, sqlx::Error> {
        let created_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
        // A batch of one statement is one command, with its own BEGIN, merges and COMMIT.
        let own_transaction = self.runs_as_one_command(batch.len() <= ROWS_PER_STATEMENT);
        let created = self
            .transaction(own_transaction, async |connection| {
                let mut created = HashSet::with_capacity(batch.len());
                for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                    let messages = chunk.iter().map(|pending| &pending.message);
                    let ids = insert_messages(connection, messages, &created_at, own_transaction);
                    created.extend(ids.await?);
                }
                if !own_transaction {
                    sqlx::query(MERGE).execute(&mut *connection).await?;
                }
                Ok(created)
            })
            .await?;
        Ok(outcomes(batch, created))
    }

    async fn expire(&mut self, cutoff: &str, limit: usize) -> Result<u64, sqlx::Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let own_transaction = self.runs_as_one_command(true);
        self.transaction(own_transaction, async |connection| {
            let command = match own_transaction {
                true => format!("BEGIN IMMEDIATE; {EXPIRE}; {MERGE}; COMMIT"),
                false => format!("{EXPIRE}; {MERGE}"),
            };
            // Every statement of the command runs only when all its results are fetched.
            let deleted: Vec<i64> = sqlx::query_scalar(&command)
                .bind(cutoff)
                .bind(limit)
                .fetch_all(connection)
                .await?;
            let deleted = deleted.first().ok_or(sqlx::Error::RowNotFound)?;
            Ok(non_negative(*deleted))
        })
        .await
    }

    /// Rewrites one page of the totals and commits.
    async fn probe(&mut self) -> Result<(), sqlx::Error> {
        self.transaction(self.runs_as_one_command(true), async |connection| {
            sqlx::query("UPDATE message_totals SET senders = senders WHERE id = 1")
                .execute(connection)
                .await
                .map(drop)
        })
        .await
    }

    async fn close(mut self) {
        // Back to the pool, which waits for it to come back before closing.
        self.kept = None;
        self.pool.close().await;
    }
}

/// Inserts `messages` in one `INSERT … ON CONFLICT (message_id) DO NOTHING` statement;
/// returns the ids it created. With `own_transaction`, between `BEGIN IMMEDIATE` and
/// `COMMIT`, with the trigram index's merges (`MERGE`) before the commit, all in one
/// command.
///
/// Not with `RETURNING`: each returned row is one more hand-off from SQLite's thread to
/// the writer's, which cost about 8% of ingest (`make bench`). A `SELECT` in the same
/// command says which rows the statement created instead, in one row: NULL when it
/// inserted every message (each was new), else the ids of the `changes()` newest rows
/// up to its `last_insert_rowid()`. Exact because `AUTOINCREMENT` gives each new row a
/// seq above every seq ever used, and neither value counts the triggers' rows.
pub(super) async fn insert_messages<'m>(
    connection: &mut SqliteConnection,
    messages: impl IntoIterator<Item = &'m Message>,
    created_at: &str,
    own_transaction: bool,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    let messages: Vec<&Message> = messages.into_iter().collect();
    let mut insert = QueryBuilder::new(match own_transaction {
        true => "BEGIN IMMEDIATE; ",
        false => "",
    });
    insert.push(INSERT_MESSAGES);
    insert.push_values(&messages, |mut row, message| {
        row.push_bind(&message.message_id)
            .push_bind(&message.from)
            .push_bind(&message.to)
            .push_bind(message.ts.as_str())
            .push_bind(message.ts.sort_key())
            .push_bind(message.text.as_deref())
            .push_bind(message.text.as_deref().map(fold_case))
            .push_bind(created_at);
    });
    insert.push(ON_CONFLICT).push(format_args!(
        "; SELECT CASE changes() WHEN {} THEN NULL ELSE ({CREATED_IDS}) END",
        messages.len()
    ));
    if own_transaction {
        insert.push(format_args!("; {MERGE}; COMMIT"));
    }
    // Every statement of the command runs only when all its results are fetched.
    let created: Vec<Option<String>> = insert.build_query_scalar().fetch_all(connection).await?;
    match created.first() {
        Some(None) => Ok(messages
            .iter()
            .map(|message| message.message_id.as_bytes().to_vec())
            .collect()),
        Some(Some(ids)) => {
            let ids: Vec<String> =
                serde_json::from_str(ids).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
            Ok(ids.into_iter().map(String::into_bytes).collect())
        }
        None => Err(sqlx::Error::RowNotFound),
    }
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
#[path = "batch_tests.rs"]
mod tests;
