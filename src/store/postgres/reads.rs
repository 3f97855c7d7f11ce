//! The read side on PostgreSQL: `/messages` pages and `/stats`, each from one
//! snapshot, with totals from the aggregates where they answer exactly.

use std::time::Instant;

use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::text_counts::TextCounts;
use super::{searchable, PgReader};
use crate::message::StoredMessage;
use crate::store::query::{select_page, split_page, Conditions, TIME_SPAN, TOP_SENDER_COUNTS};
use crate::store::{non_negative, Cursor, MessageFilter, Page, PageStart, Stats, StoreError};

type MessageRow = (Vec<u8>, String, String, String, Option<Vec<u8>>, String);

/// Makes a transaction read-only, seeing one snapshot for all its statements.
const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

impl PgReader {
    pub(super) async fn list(
        &self,
        filter: &MessageFilter,
        limit: u32,
        start: &PageStart,
    ) -> Result<Page, StoreError> {
        // sqlx's transaction rolls back when dropped, also when a timed-out request
        // drops this future halfway: the connection goes back to the pool clean.
        let began = Instant::now();
        let mut snapshot = self.pool.begin().await?;
        sqlx::query(SNAPSHOT).execute(&mut *snapshot).await?;
        let total = count(&mut snapshot, filter, &self.text_counts, began).await?;
        let (data, next) = page(&mut snapshot, filter, limit, start).await?;
        snapshot.rollback().await?;
        Ok(Page { data, total, next })
    }

    pub(super) async fn stats(&self) -> Result<Stats, StoreError> {
        let mut snapshot = self.pool.begin().await?;
        sqlx::query(SNAPSHOT).execute(&mut *snapshot).await?;
        let (total_messages, senders_count): (i64, i64) = sqlx::query_as(
            "SELECT COALESCE(SUM(messages), 0)::BIGINT, COALESCE(SUM(senders), 0)::BIGINT \
             FROM message_totals",
        )
        .fetch_one(&mut *snapshot)
        .await?;
        let top: Vec<(String, i64)> = sqlx::query_as(TOP_SENDER_COUNTS)
            .fetch_all(&mut *snapshot)
            .await?;
        let (first_message_ts, last_message_ts): (Option<String>, Option<String>) =
            sqlx::query_as(TIME_SPAN).fetch_one(&mut *snapshot).await?;
        snapshot.rollback().await?;
        Ok(Stats::from_counts(
            total_messages,
            senders_count,
            top,
            first_message_ts,
            last_message_ts,
        ))
    }
}

/// Counts the rows matching `filter`, from an aggregate or a remembered count where
/// one answers exactly. The snapshot is taken after `began`.
async fn count(
    connection: &mut PgConnection,
    filter: &MessageFilter,
    texts: &TextCounts,
    began: Instant,
) -> Result<u64, StoreError> {
    let total: Option<i64> = match filter {
        MessageFilter {
            from: None,
            since: None,
            q: None,
        } => {
            sqlx::query_scalar("SELECT COALESCE(SUM(messages), 0)::BIGINT FROM message_totals")
                .fetch_optional(&mut *connection)
                .await?
        }
        MessageFilter {
            from: Some(from),
            since: None,
            q: None,
        } => {
            sqlx::query_scalar("SELECT count FROM sender_counts WHERE from_msisdn = $1")
                .bind(from)
                .fetch_optional(&mut *connection)
                .await?
        }
        MessageFilter {
            from: None,
            since: Some(since),
            q: None,
        } => {
            // Whole days from the per-day counts, plus the rows of the first day that
            // are at or after `since`. Every ts_key of a day sorts before "<day>U".
            let since = since.sort_key();
            let day = &since[..10];
            sqlx::query_scalar(
                "SELECT ((SELECT COALESCE(SUM(count), 0) FROM messages_per_day WHERE day > $1) \
                 + (SELECT COUNT(*) FROM messages WHERE ts_key >= $2 AND ts_key < $3))::BIGINT",
            )
            .bind(day)
            .bind(since)
            .bind(format!("{day}U"))
            .fetch_optional(&mut *connection)
            .await?
        }
        MessageFilter {
            from: None,
            since: None,
            q: Some(q),
        } => {
            // Asked again page after page, and the costliest: remembered.
            let count_afresh = async |c: &mut PgConnection| count_rows(c, filter).await;
            let pattern = like_pattern(q);
            return texts.count(connection, &pattern, began, count_afresh).await;
        }
        _ => return count_rows(connection, filter).await,
    };
    Ok(non_negative(total.unwrap_or(0)))
}

/// Counts the rows matching `filter` one by one.
async fn count_rows(
    connection: &mut PgConnection,
    filter: &MessageFilter,
) -> Result<u64, StoreError> {
    let mut query = QueryBuilder::new("SELECT COUNT(*) FROM messages");
    Conditions::new(&mut query).filter(filter, text_condition);
    let total: i64 = query.build_query_scalar().fetch_one(connection).await?;
    Ok(non_negative(total))
}

/// The rows of one page, and the cursor of the next page if there is one.
async fn page(
    connection: &mut PgConnection,
    filter: &MessageFilter,
    limit: u32,
    start: &PageStart,
) -> Result<(Vec<StoredMessage>, Option<Cursor>), StoreError> {
    let id_bytes = |id: &str| id.as_bytes().to_vec();
    let mut select = select_page(filter, limit, start, text_condition, id_bytes);
    let rows: Vec<MessageRow> = select.build_query_as().fetch_all(connection).await?;
    let rows = rows
        .into_iter()
        .map(|(message_id, from, to, ts, text, ts_key)| {
            let message = StoredMessage {
                message_id: utf8(message_id)?,
                from,
                to,
                ts,
                text: text.map(utf8).transpose()?,
            };
            Ok((message, ts_key))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(split_page(rows, limit))
}

/// What was stored as UTF-8 reads back as UTF-8.
fn utf8(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|error| StoreError::Unavailable(error.to_string()))
}

/// The test of `q`: `LIKE` on the folded text, which the trigram index serves; a NULL
/// text_folded (no text) never matches.
fn text_condition(query: &mut QueryBuilder<'_, Postgres>, q: &str) {
    query
        .push("text_folded LIKE ")
        .push_bind(like_pattern(q))
        .push(" ESCAPE '\\'");
}

/// `%q%` with `q` folded as the stored text is, and `\`, `%` and `_` escaped, so every
/// character of `q` matches only itself.
fn like_pattern(q: &str) -> String {
    let mut pattern = String::from("%");
    for character in searchable(q).chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn a_like_pattern_takes_every_character_of_q_literally() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("a\0b"), "%a\u{FFFF}b%");
    }
}
