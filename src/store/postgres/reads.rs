//! The read side on PostgreSQL: `/messages` pages and `/stats`, each from one
//! snapshot, with totals from the aggregates where they answer exactly.

use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{searchable, PgReader};
use crate::message::StoredMessage;
use crate::store::{
    non_negative, Cursor, MessageFilter, Page, PageStart, SenderCount, Stats, StoreError,
    TOP_SENDERS,
};

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
        let mut snapshot = self.pool.begin().await?;
        sqlx::query(SNAPSHOT).execute(&mut *snapshot).await?;
        let total = count(&mut snapshot, filter).await?;
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
        let top: Vec<(String, i64)> = sqlx::query_as(
            "SELECT from_msisdn, count FROM sender_counts \
             ORDER BY count DESC, from_msisdn ASC LIMIT $1",
        )
        .bind(TOP_SENDERS)
        .fetch_all(&mut *snapshot)
        .await?;
        let first_message_ts: Option<String> = sqlx::query_scalar(
            "SELECT ts FROM messages ORDER BY ts_key ASC, message_id ASC LIMIT 1",
        )
        .fetch_optional(&mut *snapshot)
        .await?;
        let last_message_ts: Option<String> = sqlx::query_scalar(
            "SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1",
        )
        .fetch_optional(&mut *snapshot)
        .await?;
        snapshot.rollback().await?;
        Ok(Stats {
            total_messages: non_negative(total_messages),
            senders_count: non_negative(senders_count),
            messages_per_sender: top
                .into_iter()
                .map(|(from, count)| SenderCount {
                    from,
                    count: non_negative(count),
                })
                .collect(),
            first_message_ts,
            last_message_ts,
        })
    }
}

/// Counts the rows matching `filter`, from an aggregate where one answers exactly.
async fn count(connection: &mut PgConnection, filter: &MessageFilter) -> Result<u64, StoreError> {
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
        _ => {
            let mut query = QueryBuilder::new("SELECT COUNT(*) FROM messages");
            Conditions::new(&mut query).filter(filter);
            query
                .build_query_scalar()
                .fetch_optional(&mut *connection)
                .await?
        }
    };
    Ok(non_negative(total.unwrap_or(0)))
}

/// The rows of one page, and the cursor of the next page if there is one.
async fn page(
    connection: &mut PgConnection,
    filter: &MessageFilter,
    limit: u32,
    start: &PageStart,
) -> Result<(Vec<StoredMessage>, Option<Cursor>), StoreError> {
    let mut select = QueryBuilder::new(
        "SELECT message_id, from_msisdn, to_msisdn, ts, text, ts_key FROM messages",
    );
    let mut conditions = Conditions::new(&mut select);
    conditions.filter(filter);
    if let PageStart::After(cursor) = start {
        conditions
            .next()
            .push("(ts_key, message_id) > (")
            .push_bind(cursor.ts_key.clone())
            .push(", ")
            .push_bind(cursor.message_id.clone().into_bytes())
            .push(")");
    }
    let offset = match start {
        PageStart::Offset(offset) => i64::try_from(*offset).unwrap_or(i64::MAX),
        PageStart::After(_) => 0,
    };
    // One row more than asked tells whether there is a next page.
    select
        .push(" ORDER BY ts_key ASC, message_id ASC LIMIT ")
        .push_bind(i64::from(limit) + 1)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<MessageRow> = select.build_query_as().fetch_all(connection).await?;
    let mut rows = rows
        .into_iter()
        .map(|(message_id, from, to, ts, text, ts_key)| {
            let message = StoredMessage {
                message_id: utf8(message_id)?,
                from,
                to,
                ts,
                text: text.map(utf8).transpose()?,
            };
            Ok::<_, StoreError>((message, ts_key))
        });
    let mut data = Vec::with_capacity(limit as usize);
    let mut last_key = None;
    for row in rows.by_ref().take(limit as usize) {
        let (message, ts_key) = row?;
        data.push(message);
        last_key = Some(ts_key);
    }
    let next = match (rows.next(), data.last(), last_key) {
        (Some(_), Some(last), Some(ts_key)) => Some(Cursor::new(ts_key, last.message_id.clone())),
        _ => None,
    };
    Ok((data, next))
}

/// What was stored as UTF-8 reads back as UTF-8.
fn utf8(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|error| StoreError::Unavailable(error.to_string()))
}

/// Appends `WHERE … AND …` to a query, one condition at a time.
struct Conditions<'q, 'b> {
    query: &'b mut QueryBuilder<'q, Postgres>,
    started: bool,
}

impl<'q, 'b> Conditions<'q, 'b> {
    fn new(query: &'b mut QueryBuilder<'q, Postgres>) -> Self {
        Self {
            query,
            started: false,
        }
    }

    /// Starts the next condition and returns the query to write it into.
    fn next(&mut self) -> &mut QueryBuilder<'q, Postgres> {
        self.query
            .push(if self.started { " AND " } else { " WHERE " });
        self.started = true;
        self.query
    }

    fn filter(&mut self, filter: &MessageFilter) {
        if let Some(from) = &filter.from {
            self.next().push("from_msisdn = ").push_bind(from.clone());
        }
        if let Some(since) = &filter.since {
            self.next()
                .push("ts_key >= ")
                .push_bind(since.sort_key().to_owned());
        }
        if let Some(q) = &filter.q {
            // LIKE on the folded text, which the trigram index serves; a NULL
            // text_folded (no text) never matches.
            self.next()
                .push("text_folded LIKE ")
                .push_bind(like_pattern(q))
                .push(" ESCAPE '\\'");
        }
    }
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
