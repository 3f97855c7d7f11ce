//! The read side: `/messages` pages and `/stats`, each from one consistent snapshot.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::{fold_case, MessageFilter, Page, SenderCount, Stats, Store, StoreError, TOP_SENDERS};
use crate::message::StoredMessage;

type MessageRow = (String, String, String, String, Option<String>);

impl Store {
    /// The page of messages matching `filter`, in `ts, message_id` order.
    pub async fn list(
        &self,
        filter: &MessageFilter,
        limit: u32,
        offset: u64,
    ) -> Result<Page, StoreError> {
        // One read transaction: the page and its total come from the same snapshot.
        let mut snapshot = self.reader.begin().await?;
        let mut select =
            QueryBuilder::new("SELECT message_id, from_msisdn, to_msisdn, ts, text FROM messages");
        push_where(&mut select, filter);
        select
            .push(" ORDER BY ts_key ASC, message_id ASC LIMIT ")
            .push_bind(i64::from(limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
        let rows: Vec<MessageRow> = select.build_query_as().fetch_all(&mut *snapshot).await?;
        let total = count(&mut snapshot, filter).await?;
        snapshot.rollback().await?;
        let data = rows
            .into_iter()
            .map(|(message_id, from, to, ts, text)| StoredMessage {
                message_id,
                from,
                to,
                ts,
                text,
            })
            .collect();
        Ok(Page { data, total })
    }

    /// Totals, top senders and the time span, read from the aggregates.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        let mut snapshot = self.reader.begin().await?;
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

/// Counts the rows matching `filter`, from an aggregate where one answers exactly.
async fn count(
    connection: &mut SqliteConnection,
    filter: &MessageFilter,
) -> Result<u64, StoreError> {
    let total: Option<i64> = match filter {
        MessageFilter {
            from: None,
            since: None,
            q: None,
        } => {
            sqlx::query_scalar("SELECT messages FROM message_totals WHERE id = 1")
                .fetch_optional(connection)
                .await?
        }
        MessageFilter {
            from: Some(from),
            since: None,
            q: None,
        } => {
            sqlx::query_scalar("SELECT count FROM sender_counts WHERE from_msisdn = ?")
                .bind(from)
                .fetch_optional(connection)
                .await?
        }
        _ => {
            let mut query = QueryBuilder::new("SELECT COUNT(*) FROM messages");
            push_where(&mut query, filter);
            query
                .build_query_scalar()
                .fetch_optional(connection)
                .await?
        }
    };
    Ok(non_negative(total.unwrap_or(0)))
}

fn push_where(query: &mut QueryBuilder<'_, Sqlite>, filter: &MessageFilter) {
    let mut separator = " WHERE ";
    if let Some(from) = &filter.from {
        query
            .push(separator)
            .push("from_msisdn = ")
            .push_bind(from.clone());
        separator = " AND ";
    }
    if let Some(since) = &filter.since {
        query
            .push(separator)
            .push("ts_key >= ")
            .push_bind(since.sort_key().to_owned());
        separator = " AND ";
    }
    if let Some(q) = &filter.q {
        // instr() takes the needle literally: `%` and `_` are plain characters.
        // A NULL text_folded (no text) never matches.
        query
            .push(separator)
            .push("instr(text_folded, ")
            .push_bind(fold_case(q))
            .push(") > 0");
    }
}

fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
