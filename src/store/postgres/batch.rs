//! One batch, one statement: the batch's distinct messages, in `message_id` order,
//! inserted by a single `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING
//! RETURNING`, so the writer learns per message whether it was new.
//!
//! Replicas insert concurrently, and an insert that meets another transaction's
//! uncommitted row with the same id waits for it. Inserting in id order and in one
//! statement (the aggregates' trigger runs once, after every row is in) keeps every
//! transaction's locks in the same order: they may wait, never deadlock.

use std::collections::HashSet;
use std::time::SystemTime;

use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres};

use crate::message::Message;
use crate::store::committer::{outcomes, Committer, Pending};
use crate::store::{fold_case, InsertOutcome};

const INSERT_BATCH: &str = "\
    INSERT INTO messages \
        (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) \
    SELECT message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, $8 \
    FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[]) \
        AS batch (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded) \
    ORDER BY message_id \
    ON CONFLICT (message_id) DO NOTHING \
    RETURNING message_id";

/// The oldest `$2` rows stored before `$1`, in one statement (one transaction); the
/// aggregates follow in its trigger (`messages_unaggregate`).
const EXPIRE: &str = "\
    DELETE FROM messages WHERE message_id IN ( \
        SELECT message_id FROM messages WHERE created_at < $1 \
        ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)";

/// The write connection: a pool of one, so that a connection closed after a failure
/// is replaced by a fresh one.
pub(super) struct PgCommitter {
    pub(super) pool: PgPool,
}

impl Committer for PgCommitter {
    async fn commit(&mut self, batch: &[Pending]) -> Result<Vec<InsertOutcome>, sqlx::Error> {
        // Only the first occurrence of an id in the batch may create its row.
        let mut seen = HashSet::with_capacity(batch.len());
        let mut distinct: Vec<&Message> = batch
            .iter()
            .map(|pending| &pending.message)
            .filter(|message| seen.insert(message.message_id.as_str()))
            .collect();
        distinct.sort_unstable_by(|a, b| a.message_id.cmp(&b.message_id));
        let created_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();

        let mut connection = self.pool.acquire().await?;
        let written = async {
            sqlx::query("BEGIN").execute(&mut *connection).await?;
            let created: Vec<Vec<u8>> = sqlx::query_scalar(INSERT_BATCH)
                .bind(column(&distinct, |m| m.message_id.as_bytes()))
                .bind(column(&distinct, |m| m.from.as_str()))
                .bind(column(&distinct, |m| m.to.as_str()))
                .bind(column(&distinct, |m| m.ts.as_str()))
                .bind(column(&distinct, |m| m.ts.sort_key()))
                .bind(column(&distinct, |m| m.text.as_deref().map(str::as_bytes)))
                .bind(column(&distinct, |m| m.text.as_deref().map(fold_case)))
                .bind(&created_at)
                .fetch_all(&mut *connection)
                .await?;
            sqlx::query("COMMIT").execute(&mut *connection).await?;
            Ok::<_, sqlx::Error>(created)
        }
        .await;
        let created = match written {
            Ok(created) => created,
            Err(error) => {
                discard(connection).await;
                return Err(error);
            }
        };
        Ok(outcomes(batch, created.into_iter().collect()))
    }

    /// Rows another replica's sweep is deleting are skipped, not waited for.
    async fn expire(&mut self, cutoff: &str, limit: usize) -> Result<u64, sqlx::Error> {
        let mut connection = self.pool.acquire().await?;
        let deleted = sqlx::query(EXPIRE)
            .bind(cutoff)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .execute(&mut *connection)
            .await;
        match deleted {
            Ok(done) => Ok(done.rows_affected()),
            Err(error) => {
                discard(connection).await;
                Err(error)
            }
        }
    }

    /// Rewrites this connection's totals shard and commits.
    async fn probe(&mut self) -> Result<(), sqlx::Error> {
        let mut connection = self.pool.acquire().await?;
        let written = async {
            sqlx::query("BEGIN").execute(&mut *connection).await?;
            sqlx::query(
                "UPDATE message_totals SET messages = messages \
                 WHERE shard = pg_backend_pid() % 16",
            )
            .execute(&mut *connection)
            .await?;
            sqlx::query("COMMIT").execute(&mut *connection).await
        }
        .await;
        if written.is_err() {
            discard(connection).await;
        }
        written.map(drop)
    }

    async fn close(self) {
        self.pool.close().await;
    }
}

/// After a failed transaction: roll back, and whatever state the connection is in, let
/// a fresh one replace it.
async fn discard(mut connection: PoolConnection<Postgres>) {
    let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
    connection.close_on_drop();
}

/// One column of the batch, as an array parameter.
fn column<'a, T>(messages: &[&'a Message], field: impl Fn(&'a Message) -> T) -> Vec<T> {
    messages.iter().map(|message| field(message)).collect()
}
