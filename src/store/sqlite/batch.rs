//! One batch, one transaction: every message of the batch inserted with
//! `ON CONFLICT DO NOTHING RETURNING`, so the writer learns per message whether it was
//! new, and a write connection that is never reused after a failure.

use std::collections::HashSet;
use std::time::SystemTime;

use sqlx::pool::PoolConnection;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use crate::store::writer::{Committer, Pending};
use crate::store::{fold_case, InsertOutcome};

const INSERT_MESSAGES: &str = "INSERT INTO messages \
     (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) ";
/// Rows take their ids back only when they were inserted.
const ON_CONFLICT_RETURNING: &str = " ON CONFLICT (message_id) DO NOTHING RETURNING message_id";
/// Rows per INSERT statement: few round trips to SQLite, few distinct statements to cache.
const ROWS_PER_STATEMENT: usize = 64;

/// The write connection (a pool of one, so a connection closed after a failure is
/// replaced), and what to do with it after a failure.
pub(super) struct SqliteCommitter {
    pub(super) pool: SqlitePool,
    pub(super) after_failure: AfterFailure,
}

impl Committer for SqliteCommitter {
    async fn commit(&mut self, batch: &[Pending]) -> Result<Vec<InsertOutcome>, sqlx::Error> {
        commit(&self.pool, batch, self.after_failure).await
    }

    /// Rewrites one page of the totals and commits.
    async fn probe(&mut self) -> Result<(), sqlx::Error> {
        let mut connection = self.pool.acquire().await?;
        let written = async {
            sqlx::query("BEGIN IMMEDIATE")
                .execute(&mut *connection)
                .await?;
            sqlx::query("UPDATE message_totals SET messages = messages WHERE id = 1")
                .execute(&mut *connection)
                .await?;
            sqlx::query("COMMIT").execute(&mut *connection).await
        }
        .await;
        if written.is_err() {
            recover(&mut connection, self.after_failure).await;
        }
        written.map(drop)
    }

    async fn close(self) {
        self.pool.close().await;
    }
}

/// Inserts `batch` in one transaction on the write connection; learns per row whether
/// it was new.
async fn commit(
    pool: &SqlitePool,
    batch: &[Pending],
    on_failure: AfterFailure,
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let mut connection = pool.acquire().await?;
    let outcome = insert_batch(&mut connection, batch).await;
    if outcome.is_err() {
        recover(&mut connection, on_failure).await;
    }
    outcome
}

async fn insert_batch(
    connection: &mut SqliteConnection,
    batch: &[Pending],
) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let created_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    // Explicit statements rather than sqlx's transaction type, whose nesting counter
    // would turn the next BEGIN into a SAVEPOINT if a failed COMMIT left one open.
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await?;
    let mut created = HashSet::with_capacity(batch.len());
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::new(INSERT_MESSAGES);
        insert.push_values(chunk, |mut row, Pending { message, .. }| {
            row.push_bind(&message.message_id)
                .push_bind(&message.from)
                .push_bind(&message.to)
                .push_bind(message.ts.as_str())
                .push_bind(message.ts.sort_key())
                .push_bind(message.text.as_deref())
                .push_bind(message.text.as_deref().map(fold_case))
                .push_bind(&created_at);
        });
        insert.push(ON_CONFLICT_RETURNING);
        let ids: Vec<String> = insert
            .build_query_scalar()
            .fetch_all(&mut *connection)
            .await?;
        created.extend(ids);
    }
    sqlx::query("COMMIT").execute(&mut *connection).await?;
    // Only the first occurrence of an id in the batch can have created its row.
    Ok(batch
        .iter()
        .map(
            |pending| match created.remove(&pending.message.message_id) {
                true => InsertOutcome::Created,
                false => InsertOutcome::Duplicate,
            },
        )
        .collect())
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

async fn recover(connection: &mut PoolConnection<Sqlite>, after: AfterFailure) {
    let rolled_back = sqlx::query("ROLLBACK").execute(&mut **connection).await;
    if after == AfterFailure::Reconnect || rolled_back.is_err() {
        connection.close_on_drop();
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use tokio::sync::oneshot;

    use super::*;
    use crate::message::Message;
    use crate::store::sqlite::MIGRATOR;
    use crate::timestamp::Timestamp;

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

    #[tokio::test]
    async fn one_batch_holding_an_id_several_times_creates_it_once_and_keeps_the_first() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        commit(
            &pool,
            &[pending("old", "stored earlier")],
            AfterFailure::RollBack,
        )
        .await
        .unwrap();

        let batch = [
            pending("a", "first a"),
            pending("b", "first b"),
            pending("a", "second a"),
            pending("old", "again"),
            pending("b", "second b"),
            pending("c", "only c"),
        ];
        let outcomes = commit(&pool, &batch, AfterFailure::RollBack).await.unwrap();

        use InsertOutcome::{Created, Duplicate};
        assert_eq!(
            outcomes,
            [Created, Created, Duplicate, Duplicate, Duplicate, Created]
        );
        let texts: Vec<(String, String)> =
            sqlx::query_as("SELECT message_id, text FROM messages ORDER BY message_id")
                .fetch_all(&pool)
                .await
                .unwrap();
        let expected = [
            ("a", "first a"),
            ("b", "first b"),
            ("c", "only c"),
            ("old", "stored earlier"),
        ];
        assert_eq!(
            texts,
            expected.map(|(id, text)| (id.to_owned(), text.to_owned()))
        );
        let total: i64 = sqlx::query_scalar("SELECT messages FROM message_totals")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(total, 4);
    }
}
