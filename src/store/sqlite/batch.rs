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
use crate::store::{fold_case, InsertOutcome};

const INSERT_MESSAGES: &str = "INSERT INTO messages \
     (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) ";
const ON_CONFLICT: &str = " ON CONFLICT (message_id) DO NOTHING";
/// The ids of the `?2` rows stored last, up to seq `?1`.
const LAST_STORED: &str =
    "SELECT message_id FROM messages WHERE seq <= ?1 ORDER BY seq DESC LIMIT ?2";
/// Rows per INSERT statement: few round trips to SQLite, few distinct statements to cache.
const ROWS_PER_STATEMENT: usize = 64;

/// The oldest `?2` rows stored before `?1`; their aggregates and search entries go
/// with them (the triggers of `messages_deleted`).
const EXPIRE: &str = "DELETE FROM messages WHERE seq IN \
    (SELECT seq FROM messages WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)";

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

    /// Runs `statements` in one transaction on the write connection: in autocommit
    /// when it is one statement and a failed connection is closed anyway, else between
    /// explicit `BEGIN IMMEDIATE` and `COMMIT` (rather than sqlx's transaction type,
    /// whose nesting counter would turn the next BEGIN into a SAVEPOINT if a failed
    /// COMMIT left one open). A failure rolls back and recovers the connection.
    async fn transaction<T>(
        &mut self,
        one_statement: bool,
        statements: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        let mut connection = self.connection().await?;
        // A failed statement in autocommit may leave its transaction open (a COMMIT
        // that found the database busy): only a connection closed after a failure may
        // run one.
        let explicit = !(one_statement && self.after_failure == AfterFailure::Reconnect);
        let outcome = async {
            if explicit {
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut *connection)
                    .await?;
            }
            let done = statements(&mut connection).await?;
            if explicit {
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
        let one_statement = batch.len() <= ROWS_PER_STATEMENT;
        let created = self
            .transaction(one_statement, async |connection| {
                let mut created = HashSet::with_capacity(batch.len());
                for chunk in batch.chunks(ROWS_PER_STATEMENT) {
                    let messages = chunk.iter().map(|pending| &pending.message);
                    created.extend(insert_messages(connection, messages, &created_at).await?);
                }
                Ok(created)
            })
            .await?;
        Ok(outcomes(batch, created))
    }

    async fn expire(&mut self, cutoff: &str, limit: usize) -> Result<u64, sqlx::Error> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.transaction(true, async |connection| {
            let done = sqlx::query(EXPIRE)
                .bind(cutoff)
                .bind(limit)
                .execute(connection)
                .await?;
            Ok(done.rows_affected())
        })
        .await
    }

    /// Rewrites one page of the totals and commits.
    async fn probe(&mut self) -> Result<(), sqlx::Error> {
        self.transaction(true, async |connection| {
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
/// returns the ids it created.
///
/// Not with `RETURNING`: each returned row is one more hand-off from SQLite's thread to
/// the writer's, and it cost 8% of ingest (`make bench`). The statement's own counts
/// say which rows it created instead. When it inserted every message, each was new;
/// otherwise its rows are the `inserted` newest, ending at the last rowid it inserted,
/// since `AUTOINCREMENT` gives each new row a seq above every seq ever used before.
pub(super) async fn insert_messages<'m>(
    connection: &mut SqliteConnection,
    messages: impl IntoIterator<Item = &'m Message>,
    created_at: &str,
) -> Result<Vec<Vec<u8>>, sqlx::Error> {
    let messages: Vec<&Message> = messages.into_iter().collect();
    let mut insert = QueryBuilder::new(INSERT_MESSAGES);
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
    insert.push(ON_CONFLICT);
    let done = insert.build().execute(&mut *connection).await?;
    let inserted = done.rows_affected();
    if inserted == 0 {
        return Ok(Vec::new());
    }
    if usize::try_from(inserted) == Ok(messages.len()) {
        let ids = messages.iter().map(|message| message.message_id.as_bytes());
        return Ok(ids.map(<[u8]>::to_vec).collect());
    }
    let created: Vec<String> = sqlx::query_scalar(LAST_STORED)
        .bind(done.last_insert_rowid())
        .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
        .fetch_all(connection)
        .await?;
    Ok(created.into_iter().map(String::into_bytes).collect())
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
