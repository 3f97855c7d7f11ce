//! The read side: `/messages` pages and `/stats`, each from one consistent snapshot,
//! each answered from an index or an aggregate rather than a scan where one can.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::count::{count, phrase, TextSearch};
use super::{sender_order, SqliteReader};
use crate::message::StoredMessage;
use crate::store::query::{select_page, split_page, Conditions, TIME_SPAN};
use crate::store::{fold_case, Cursor, MessageFilter, Page, PageStart, Stats, StoreError};

/// The top senders of `/stats`: the 10 largest counts, ties by `from` ascending. The
/// triggers of migration 0009 keep them in `top_senders`, keyed in that order, beside
/// places no sender holds yet (`rank_count` 0).
const TOP_SENDERS: &str = "SELECT from_msisdn, -rank_count FROM top_senders \
    WHERE rank_count < 0 ORDER BY rank_count, from_msisdn LIMIT 10";

/// How many messages are stored: the sum of the counts per day (migration 0010), one
/// row a day, kept by the transaction that inserts each message. A macro, so that
/// `TOTALS` can embed the same query.
macro_rules! message_count {
    () => {
        "SELECT COALESCE(SUM(count), 0) FROM messages_per_day"
    };
}
pub(super) const MESSAGE_COUNT: &str = message_count!();

/// The count of messages and the count of senders, for `/stats`.
pub(super) const TOTALS: &str = concat!(
    "SELECT (",
    message_count!(),
    "), (SELECT senders FROM message_totals WHERE id = 1)"
);

type MessageRow = (String, String, String, String, Option<String>, String);

impl SqliteReader {
    /// The page of messages matching `filter`, in `ts, message_id` order.
    pub async fn list(
        &self,
        filter: &MessageFilter,
        limit: u32,
        start: &PageStart,
    ) -> Result<Page, StoreError> {
        // One read transaction: the page and its total come from the same snapshot.
        let mut snapshot = self.pool.begin().await?;
        let (total, text) = count(&mut snapshot, filter, &self.text_counts).await?;
        // Count and page see one snapshot: past the last match there is no row to find
        // (and a search with no match would test every row to find none).
        let (data, next) = if start.is_past_the_last(total) {
            (Vec::new(), None)
        } else {
            let text = text.for_page(limit, start, total);
            page(&mut snapshot, filter, limit, start, &text).await?
        };
        snapshot.rollback().await?;
        Ok(Page { data, total, next })
    }

    /// Totals, top senders and the time span, read from the aggregates.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut snapshot = self.pool.begin().await?;
        let (total_messages, senders_count): (i64, i64) =
            sqlx::query_as(TOTALS).fetch_one(&mut *snapshot).await?;
        let top: Vec<(String, i64)> = sqlx::query_as(TOP_SENDERS)
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

/// The rows of one page, and the cursor of the next page if there is one.
pub(super) async fn page(
    connection: &mut SqliteConnection,
    filter: &MessageFilter,
    limit: u32,
    start: &PageStart,
    text: &TextSearch,
) -> Result<(Vec<StoredMessage>, Option<Cursor>), StoreError> {
    let text_condition =
        |query: &mut QueryBuilder<'_, Sqlite>, q: &str| text_condition(query, q, text);
    let mut select = match filter.from {
        Some(_) => sender_order::select_page(filter, limit, start, text),
        None => select_page(filter, limit, start, text_condition, str::to_owned),
    };
    let rows: Vec<MessageRow> = select.build_query_as().fetch_all(connection).await?;
    let rows = rows
        .into_iter()
        .map(|(message_id, from, to, ts, text, ts_key)| {
            let message = StoredMessage {
                message_id,
                from,
                to,
                ts,
                text,
            };
            (message, ts_key)
        })
        .collect();
    Ok(split_page(rows, limit))
}

/// The `WHERE` clause of `filter`, with `q` evaluated as `text` says.
pub(super) fn conditions(
    query: &mut QueryBuilder<'_, Sqlite>,
    filter: &MessageFilter,
    text: &TextSearch,
) {
    Conditions::new(query).filter(filter, |query, q| text_condition(query, q, text));
}

/// The test of `q`: a phrase of the trigram index, the rows known to match, or
/// `instr()` on the folded text.
pub(super) fn text_condition(query: &mut QueryBuilder<'_, Sqlite>, q: &str, text: &TextSearch) {
    match text {
        TextSearch::Index { .. } => {
            query
                .push("seq IN (SELECT rowid FROM messages_text WHERE messages_text MATCH ")
                .push_bind(phrase(q))
                .push(")");
        }
        TextSearch::Rows(rows) => {
            // One JSON array: a page looks up each row by its key, then sorts them.
            let rows = serde_json::to_string(rows.as_slice()).expect("integers are JSON");
            query
                .push("seq IN (SELECT value FROM json_each(")
                .push_bind(rows)
                .push("))");
        }
        TextSearch::Scan => {
            // instr() takes the needle literally: `%` and `_` are plain characters, and
            // a NULL text_folded (no text) never matches.
            query
                .push("instr(text_folded, ")
                .push_bind(fold_case(q))
                .push(") > 0");
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::message::Message;
    use crate::timestamp::Timestamp;

    /// Counts grow one message at a time, in random order, among few senders (so
    /// that ties are common) and with ids sent again; after every batch the ten in
    /// `top_senders` are the ten a full scan ranks first.
    #[tokio::test]
    async fn the_top_ten_senders_are_those_of_a_full_scan_after_every_batch() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        super::super::MIGRATOR.run(&pool).await.unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        let mut entered = 0;
        let mut last_top = Vec::new();
        for batch in 0..150 {
            let mut messages = Vec::new();
            for _ in 0..1 + next(12) {
                // Senders skewed towards the first ones: their ranks change often.
                let spread = 1 + next(24);
                let sender = next(spread);
                messages.push(Message {
                    message_id: format!("m{}", next(1500)),
                    from: format!("+91{sender:02}"),
                    to: "+1".to_owned(),
                    ts: Timestamp::parse("2025-01-15T10:00:00Z").unwrap(),
                    text: None,
                });
            }
            let mut connection = pool.acquire().await.unwrap();
            super::super::insert_messages(&mut connection, &messages, "c")
                .await
                .unwrap();
            let top: Vec<(String, i64)> = sqlx::query_as(TOP_SENDERS)
                .fetch_all(&mut *connection)
                .await
                .unwrap();
            let scanned: Vec<(String, i64)> = sqlx::query_as(
                "SELECT from_msisdn, COUNT(*) AS n FROM messages GROUP BY from_msisdn \
                 ORDER BY n DESC, from_msisdn ASC LIMIT 10",
            )
            .fetch_all(&mut *connection)
            .await
            .unwrap();
            assert_eq!(top, scanned, "after batch {batch}");
            let places: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM top_senders")
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            assert_eq!(places, 10, "after batch {batch}");
            if top.iter().any(|sender| !last_top.contains(sender)) {
                entered += 1;
            }
            last_top = top;
        }
        assert!(
            entered > 50,
            "the top ten changed after {entered} batches only"
        );
    }
}
