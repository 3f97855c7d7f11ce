//! The read side: `/messages` pages and `/stats`, each from one consistent snapshot,
//! each answered from an index or an aggregate rather than a scan where one can.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::count::{count, phrase, TextSearch};
use super::SqliteReader;
use crate::message::StoredMessage;
use crate::store::{
    fold_case, non_negative, Cursor, MessageFilter, Page, PageStart, SenderCount, Stats,
    StoreError, TOP_SENDERS,
};

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
        let text = text.for_page(limit, start, total);
        let (data, next) = page(&mut snapshot, filter, limit, start, text).await?;
        snapshot.rollback().await?;
        Ok(Page { data, total, next })
    }

    /// Totals, top senders and the time span, read from the aggregates.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut snapshot = self.pool.begin().await?;
        let (total_messages, senders_count): (i64, i64) =
            sqlx::query_as("SELECT messages, senders FROM message_totals WHERE id = 1")
                .fetch_one(&mut *snapshot)
                .await?;
        let top: Vec<(String, i64)> = sqlx::query_as(
            "SELECT from_msisdn, count FROM sender_counts \
             ORDER BY count DESC, from_msisdn ASC LIMIT ?",
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

/// The rows of one page, and the cursor of the next page if there is one.
pub(super) async fn page(
    connection: &mut SqliteConnection,
    filter: &MessageFilter,
    limit: u32,
    start: &PageStart,
    text: TextSearch,
) -> Result<(Vec<StoredMessage>, Option<Cursor>), StoreError> {
    let mut select = QueryBuilder::new(
        "SELECT message_id, from_msisdn, to_msisdn, ts, text, ts_key FROM messages",
    );
    let mut conditions = Conditions::new(&mut select);
    conditions.filter(filter, text);
    if let PageStart::After(cursor) = start {
        conditions
            .next()
            .push("(ts_key, message_id) > (")
            .push_bind(cursor.ts_key.clone())
            .push(", ")
            .push_bind(cursor.message_id.clone())
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
    let mut rows: Vec<MessageRow> = select.build_query_as().fetch_all(connection).await?;
    let next = match rows.len() > limit as usize {
        true => {
            rows.truncate(limit as usize);
            rows.last()
                .map(|(id, _, _, _, _, key)| Cursor::new(key.clone(), id.clone()))
        }
        false => None,
    };
    let data = rows
        .into_iter()
        .map(|(message_id, from, to, ts, text, _)| StoredMessage {
            message_id,
            from,
            to,
            ts,
            text,
        })
        .collect();
    Ok((data, next))
}

/// Appends `WHERE … AND …` to a query, one condition at a time.
pub(super) struct Conditions<'q, 'b> {
    query: &'b mut QueryBuilder<'q, Sqlite>,
    started: bool,
}

impl<'q, 'b> Conditions<'q, 'b> {
    pub(super) fn new(query: &'b mut QueryBuilder<'q, Sqlite>) -> Self {
        Self {
            query,
            started: false,
        }
    }

    /// Starts the next condition and returns the query to write it into.
    fn next(&mut self) -> &mut QueryBuilder<'q, Sqlite> {
        self.query
            .push(if self.started { " AND " } else { " WHERE " });
        self.started = true;
        self.query
    }

    pub(super) fn filter(&mut self, filter: &MessageFilter, text: TextSearch) {
        if let Some(from) = &filter.from {
            self.next().push("from_msisdn = ").push_bind(from.clone());
        }
        if let Some(since) = &filter.since {
            self.next()
                .push("ts_key >= ")
                .push_bind(since.sort_key().to_owned());
        }
        if let Some(q) = &filter.q {
            if matches!(text, TextSearch::Index { .. }) {
                self.next()
                    .push(
                        "message_id IN (SELECT message_id FROM messages_text \
                         WHERE messages_text MATCH ",
                    )
                    .push_bind(phrase(q))
                    .push(")");
            } else {
                // instr() takes the needle literally: `%` and `_` are plain characters,
                // and a NULL text_folded (no text) never matches.
                self.next()
                    .push("instr(text_folded, ")
                    .push_bind(fold_case(q))
                    .push(") > 0");
            }
        }
    }
}
