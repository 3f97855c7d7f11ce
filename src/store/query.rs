//! SQL that both backends write alike: the `WHERE` clause of a filter, the select of
//! one page in `ts, message_id` order, and `/stats`. What differs stays with each
//! backend: `q` (each has its own substring index), how `message_id` is bound (text or
//! bytes), and the totals and JSON aggregate of `/stats`.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{Cursor, MessageFilter, PageStart, StoredMessage};

/// `/stats` in one statement, so that it reads one snapshot in one round trip and
/// without a transaction (which costs as many round trips again):
/// - `totals`: the backend's count of messages and count of senders, two columns;
/// - the top senders, the 10 largest counts with ties by `from` ascending (`top`: the
///   backend's select of those 10 rows of `sender_counts`, its `TOP_SENDERS`),
///   as a JSON array of `[from, count]` pairs that `json_pairs` (the backend's JSON
///   aggregate over `from_msisdn` and `count`) builds;
/// - the `ts` of the first and the last message by instant (NULL when there is none),
///   from the `(ts_key, message_id)` index. The first is sought from the first day
///   `messages_per_day` holds, which is the first message's (or, on PostgreSQL, a day
///   emptied while another transaction held its count, and not yet removed): PostgreSQL
///   keeps the index entries of deleted rows until a vacuum, and during a retention
///   sweep a seek from the start of the index passed every one of them.
pub(super) fn stats_query(totals: &str, top: &str, json_pairs: &str) -> String {
    format!(
        "SELECT {totals}, \
         (SELECT {json_pairs} FROM ({top}) AS top), \
         (SELECT ts FROM messages WHERE ts_key >= (SELECT MIN(day) FROM messages_per_day) \
             ORDER BY ts_key ASC, message_id ASC LIMIT 1), \
         (SELECT ts FROM messages ORDER BY ts_key DESC, message_id DESC LIMIT 1)"
    )
}

/// The one row of [`stats_query`].
pub(super) type StatsRow = (i64, i64, Option<String>, Option<String>, Option<String>);

/// The index a backend reads a sender's rows from, in `ts` order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SenderIndex {
    /// `(from_msisdn, ts_key, message_id)`: a sender's rows are one range of it.
    Sender,
    /// `(ts_day, from_msisdn, ts_key, message_id, …)` (SQLite's; `ts_day` is the first
    /// 10 characters of `ts_key`): a sender's rows are one range per day, read for each
    /// day `messages_per_day` holds and in day order, which is `ts` order.
    DayThenSender,
}

/// Appends `WHERE … AND …` to a query, one condition at a time.
pub(super) struct Conditions<'q, 'b, DB: Database> {
    query: &'b mut QueryBuilder<'q, DB>,
    senders: SenderIndex,
    /// The first day the rows may be on besides `since`'s: a cursor's.
    first_day: Option<String>,
    started: bool,
}

impl<'q, 'b, DB: Database> Conditions<'q, 'b, DB>
where
    String: Encode<'q, DB> + Type<DB>,
{
    pub(super) fn new(query: &'b mut QueryBuilder<'q, DB>, senders: SenderIndex) -> Self {
        Self {
            query,
            senders,
            first_day: None,
            started: false,
        }
    }

    /// Only rows of `day` (YYYY-MM-DD) or later are wanted: a `from` read one day at a
    /// time starts there (with a cursor, instead of seeking every day before its own).
    pub(super) fn starting_on(&mut self, day: &str) {
        self.first_day = Some(day.to_owned());
    }

    /// Starts the next condition and returns the query to write it into.
    pub(super) fn next(&mut self) -> &mut QueryBuilder<'q, DB> {
        self.query
            .push(if self.started { " AND " } else { " WHERE " });
        self.started = true;
        self.query
    }

    /// The conditions of `filter`; `text_condition` writes the backend's test of `q`.
    pub(super) fn filter(
        &mut self,
        filter: &MessageFilter,
        text_condition: impl FnOnce(&mut QueryBuilder<'q, DB>, &str),
    ) {
        if let Some(from) = &filter.from {
            if self.senders == SenderIndex::DayThenSender {
                // The days from `since` on (a `ts_key` starts with its day).
                let since_day = filter.since.as_ref().map(|since| &since.sort_key()[..10]);
                let first_day = since_day.max(self.first_day.as_deref());
                let first_day = first_day.unwrap_or("").to_owned();
                self.next()
                    .push("ts_day IN (SELECT day FROM messages_per_day WHERE day >= ")
                    .push_bind(first_day)
                    .push(")");
            }
            self.next().push("from_msisdn = ").push_bind(from.clone());
        }
        if let Some(since) = &filter.since {
            self.next()
                .push("ts_key >= ")
                .push_bind(since.sort_key().to_owned());
        }
        if let Some(q) = &filter.q {
            text_condition(self.next(), q);
        }
    }
}

/// The columns of a page's rows: `message_id, from_msisdn, to_msisdn, ts, text, ts_key`.
pub(super) const PAGE_COLUMNS: &str = "message_id, from_msisdn, to_msisdn, ts, text, ts_key";

/// `SELECT` of the page of `filter` that starts at `start`, one row longer than
/// `limit` (that row says whether there is a next page), with [`PAGE_COLUMNS`];
/// `bind_id` turns a cursor's `message_id` into the backend's column type.
pub(super) fn select_page<'q, DB, Id>(
    filter: &MessageFilter,
    senders: SenderIndex,
    limit: u32,
    start: &PageStart,
    text_condition: impl FnOnce(&mut QueryBuilder<'q, DB>, &str),
    bind_id: impl FnOnce(&str) -> Id,
) -> QueryBuilder<'q, DB>
where
    DB: Database,
    String: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    Id: 'q + Encode<'q, DB> + Type<DB>,
{
    let mut select = QueryBuilder::new(format!("SELECT {PAGE_COLUMNS} FROM messages"));
    page_conditions(&mut select, filter, senders, start, text_condition, bind_id);
    page_order(&mut select, filter, senders, limit, start);
    select
}

/// `WHERE` of the rows of `filter` from `start` on: its conditions, and for a cursor
/// the rows after it.
pub(super) fn page_conditions<'q, DB, Id>(
    query: &mut QueryBuilder<'q, DB>,
    filter: &MessageFilter,
    senders: SenderIndex,
    start: &PageStart,
    text_condition: impl FnOnce(&mut QueryBuilder<'q, DB>, &str),
    bind_id: impl FnOnce(&str) -> Id,
) where
    DB: Database,
    String: Encode<'q, DB> + Type<DB>,
    Id: 'q + Encode<'q, DB> + Type<DB>,
{
    let mut conditions = Conditions::new(query, senders);
    if let PageStart::After(cursor) = start {
        conditions.starting_on(&cursor.ts_key[..10]);
    }
    conditions.filter(filter, text_condition);
    if let PageStart::After(cursor) = start {
        conditions
            .next()
            .push("(ts_key, message_id) > (")
            .push_bind(cursor.ts_key.clone())
            .push(", ")
            .push_bind(bind_id(&cursor.message_id))
            .push(")");
    }
}

/// `ORDER BY ts_key, message_id` (by day first where `senders` reads the rows of a
/// `from` by day: the same order, which that index gives without a sort), then
/// `limit + 1` rows after the page's offset.
pub(super) fn page_order<'q, DB>(
    query: &mut QueryBuilder<'q, DB>,
    filter: &MessageFilter,
    senders: SenderIndex,
    limit: u32,
    start: &PageStart,
) where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
{
    let offset = match start {
        PageStart::Offset(offset) => i64::try_from(*offset).unwrap_or(i64::MAX),
        PageStart::After(_) => 0,
    };
    if filter.from.is_some() && senders == SenderIndex::DayThenSender {
        query.push(" ORDER BY ts_day ASC, ts_key ASC, message_id ASC LIMIT ");
    } else {
        query.push(" ORDER BY ts_key ASC, message_id ASC LIMIT ");
    }
    query
        .push_bind(i64::from(limit) + 1)
        .push(" OFFSET ")
        .push_bind(offset);
}

/// The first `limit` of `rows` (each with its `ts_key`), and the cursor of the next
/// page when there is a row beyond them.
pub(super) fn split_page(
    rows: Vec<(StoredMessage, String)>,
    limit: u32,
) -> (Vec<StoredMessage>, Option<Cursor>) {
    let more = rows.len() > limit as usize;
    let mut data = Vec::with_capacity(rows.len().min(limit as usize));
    let mut last_key = None;
    for (message, ts_key) in rows.into_iter().take(limit as usize) {
        data.push(message);
        last_key = Some(ts_key);
    }
    let next = match (more, data.last(), last_key) {
        (true, Some(last), Some(ts_key)) => Some(Cursor::new(ts_key, last.message_id.clone())),
        _ => None,
    };
    (data, next)
}
