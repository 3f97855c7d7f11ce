//! Where messages live: the write queue that commits them in groups, and the reads
//! behind `/messages`, `/stats` and readiness.

mod batch;
mod count;
mod cursor;
mod reads;
#[cfg(test)]
mod search_properties;
mod sqlite;
mod wal_sync;
mod writer;

use serde::Serialize;
use utoipa::ToSchema;

use crate::message::{Message, StoredMessage};
use crate::timestamp::Timestamp;

pub use cursor::Cursor;
pub use sqlite::{Store, StoreOptions};

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The first valid call for this `message_id`: the row is committed.
    Created,
    /// A row with this `message_id` already exists; nothing was written.
    Duplicate,
}

/// Why the store could not do what was asked. Both mean "retry later".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the write queue is full")]
    Overloaded,
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// The filters of `/messages`; `None` means "not filtered".
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    /// Exact sender.
    pub from: Option<String>,
    /// Only messages at or after this instant.
    pub since: Option<Timestamp>,
    /// Case-insensitive substring of `text`.
    pub q: Option<String>,
}

/// Where a page of `/messages` starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageStart {
    /// After skipping this many matching rows.
    Offset(u64),
    /// Right after this row.
    After(Cursor),
}

/// One page of `/messages`.
#[derive(Debug)]
pub struct Page {
    pub data: Vec<StoredMessage>,
    /// Every row matching the filter, ignoring where the page starts and its size.
    pub total: u64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// The body of `/stats`.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct Stats {
    pub total_messages: u64,
    pub senders_count: u64,
    /// The top 10 senders by count, descending; ties by `from` ascending.
    pub messages_per_sender: Vec<SenderCount>,
    /// The `ts` of the earliest message (by instant), as received; null when empty.
    #[schema(schema_with = crate::openapi::nullable_timestamp, required = true)]
    pub first_message_ts: Option<String>,
    /// The `ts` of the latest message (by instant), as received; null when empty.
    #[schema(schema_with = crate::openapi::nullable_timestamp, required = true)]
    pub last_message_ts: Option<String>,
}

/// One row of the top-senders list.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
pub struct SenderCount {
    #[schema(schema_with = crate::openapi::msisdn)]
    pub from: String,
    #[schema(minimum = 1)]
    pub count: u64,
}

/// How many senders `/stats` lists.
pub const TOP_SENDERS: i64 = 10;

/// The folding that makes `q` case-insensitive: Unicode lowercase, applied alike to
/// the stored text and to the query.
pub fn fold_case(text: &str) -> String {
    text.to_lowercase()
}

impl Store {
    /// Stores `message` unless its `message_id` exists; returns once committed to disk.
    pub async fn insert(&self, message: Message) -> Result<InsertOutcome, StoreError> {
        self.writer.submit(message).await
    }
}
