//! The read side: `/messages` pages and `/stats`, each from one consistent snapshot,
//! each answered from an index or an aggregate rather than a scan where one can.

use std::sync::LazyLock;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::count::{count, phrase, TextSearch};
use super::SqliteReader;
use crate::message::StoredMessage;
use crate::store::query::{select_page, split_page, stats_query, Conditions, SenderIndex};
use crate::store::{fold_case, Cursor, MessageFilter, Page, PageStart, Stats, StoreError};

/// How many messages are stored: the sum of the counts per day, one row a day, kept
/// by the transaction that inserts or deletes each message.
pub(super) const MESSAGE_COUNT: &str = "SELECT COALESCE(SUM(count), 0) FROM messages_per_day";

/// The top senders of `/stats`, from the index of the counts.
const TOP_SENDERS: &str =
    "SELECT from_msisdn, count FROM sender_counts ORDER BY count DESC, from_msisdn ASC LIMIT 10";

/// `/stats`: the totals, and the top senders as `json_group_array`.
static STATS: LazyLock<String> = LazyLock::new(|| {
    stats_query(
        &format!("({MESSAGE_COUNT}), (SELECT senders FROM message_totals WHERE id = 1)"),
        TOP_SENDERS,
        "json_group_array(json_array(from_msisdn, count) ORDER BY count DESC, from_msisdn ASC)",
    )
});

/// The sender index is led by the day of `ts` (see its migration).
const SENDERS: SenderIndex = SenderIndex::DayThenSender;

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
        let (total, text) = count(&mut snapshot, filter, &self.searches).await?;
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
        let row = sqlx::query_as(&STATS).fetch_one(&self.pool).await?;
        Stats::from_row(row)
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
    let mut select = select_page(filter, SENDERS, limit, start, text_condition, str::to_owned);
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
    Conditions::new(query, SENDERS).filter(filter, |query, q| text_condition(query, q, text));
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
