//! Where messages live: the write queue that commits them in groups, and the reads
//! behind `/messages`, `/stats` and readiness, on SQLite or on PostgreSQL.
//!
//! Both backends share the writer (`writer`) and the retention sweep (`retention`),
//! implement `Committer` for their writes and `Backend` for the reads; `Store` picks
//! one from the URL at startup.

mod committer;
mod cursor;
mod postgres;
mod query;
mod retention;
mod search_totals;
mod sqlite;
mod wal_sync;
mod writer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::config::{DatabaseLocation, Synchronous};
use crate::message::{Message, StoredMessage};
use crate::timestamp::Timestamp;

pub use cursor::Cursor;
use writer::WriteQueue;
pub use writer::WriterMetrics;

/// What the store needs from the configuration.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub location: DatabaseLocation,
    /// SQLite only: whether a 200 waits for the WAL to be synced.
    pub synchronous: Synchronous,
    /// How long a message is kept after it was stored; `None`: forever.
    pub retention: Option<std::time::Duration>,
    pub read_connections: u32,
    /// PostgreSQL only: reads running longer are cancelled by the server (the request
    /// has been answered 408 by then). `None`: no limit.
    pub read_timeout: Option<std::time::Duration>,
    pub write_queue_capacity: usize,
    pub write_batch_max: usize,
}

/// A future a `Backend` returns: boxed, so that `Store` can hold either backend.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The read side of a database; the write side is the shared writer's `Committer`.
pub trait Backend: Send + Sync + 'static {
    /// The page of messages matching `filter`, in `ts, message_id` order, and its
    /// total, from one snapshot.
    fn list<'a>(
        &'a self,
        filter: &'a MessageFilter,
        limit: u32,
        start: &'a PageStart,
    ) -> BoxFuture<'a, Result<Page, StoreError>>;

    /// Totals, top senders and the time span, read from the aggregates.
    fn stats(&self) -> BoxFuture<'_, Result<Stats, StoreError>>;

    /// Whether the database answers and every embedded migration is applied.
    fn schema_ready(&self) -> BoxFuture<'_, Result<(), String>>;

    /// Closes the read connections.
    fn close(&self) -> BoxFuture<'_, ()>;
}

/// How long readiness waits for the database: a database that hangs is reported
/// unavailable (503) before a probe's usual timeout of 3 s gives up on the request.
const READY_WITHIN: Duration = Duration::from_secs(2);

/// The message store: one writer that commits in groups, and a backend for reads.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    writer: WriteQueue,
}

impl Store {
    /// Opens the database the URL names (creating a SQLite file if missing), applies
    /// migrations and starts the writer.
    pub async fn open(options: &StoreOptions, metrics: WriterMetrics) -> Result<Self, sqlx::Error> {
        let (backend, writer): (Arc<dyn Backend>, WriteQueue) = match &options.location {
            DatabaseLocation::Postgres(url) => shared(postgres::open(url, options, metrics).await?),
            DatabaseLocation::File(path) => {
                shared(sqlite::open(Some(path), options, metrics).await?)
            }
            DatabaseLocation::Memory => shared(sqlite::open(None, options, metrics).await?),
        };
        Ok(Self { backend, writer })
    }

    /// Stores `message` unless its `message_id` exists; returns once committed to disk.
    pub async fn insert(&self, message: Message) -> Result<InsertOutcome, StoreError> {
        self.writer.submit(message).await
    }

    /// The page of messages matching `filter`, in `ts, message_id` order.
    pub async fn list(
        &self,
        filter: &MessageFilter,
        limit: u32,
        start: &PageStart,
    ) -> Result<Page, StoreError> {
        self.backend.list(filter, limit, start).await
    }

    /// The body of `/stats`.
    pub async fn stats(&self) -> Result<Stats, StoreError> {
        self.backend.stats().await
    }

    /// Messages waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.writer.depth()
    }

    /// Whether the database answers within `READY_WITHIN`, the schema is current and the
    /// writer can commit.
    pub async fn is_ready(&self) -> Result<(), String> {
        tokio::time::timeout(READY_WITHIN, self.backend.schema_ready())
            .await
            .map_err(|_| format!("database: no answer within {READY_WITHIN:?}"))??;
        self.writer.health()
    }

    /// Commits what is queued, stops the writer and closes every connection.
    pub async fn close(&self) {
        self.writer.close().await;
        self.backend.close().await;
    }
}

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

impl PageStart {
    /// Whether a page starting here holds no row, when `total` rows match in all. A
    /// backend that counted in the page's own snapshot need not look for them.
    pub(crate) fn is_past_the_last(&self, total: u64) -> bool {
        match self {
            Self::Offset(offset) => *offset >= total,
            Self::After(_) => total == 0,
        }
    }
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
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Stats {
    pub total_messages: u64,
    pub senders_count: u64,
    /// The top 10 senders by count, descending; ties by `from` ascending.
    pub messages_per_sender: Vec<SenderCount>,
    /// The `ts` of the earliest message (by instant), as received; null when empty.
    pub first_message_ts: Option<String>,
    /// The `ts` of the latest message (by instant), as received; null when empty.
    pub last_message_ts: Option<String>,
}

/// One row of the top-senders list.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SenderCount {
    pub from: String,
    pub count: u64,
}

/// The folding that makes `q` case-insensitive, applied alike to the stored text
/// (`text_folded`) and to the query: Unicode lowercase, with the Greek final sigma ς
/// written σ, and NUL written as the noncharacter U+FFFF.
/// - Lowercase writes Σ as ς at the end of a word and σ elsewhere, so a `q` cut from
///   inside a word would not match the text it came from.
/// - PostgreSQL text cannot hold NUL, and SQLite's trigram index stops at it.
pub fn fold_case(text: &str) -> String {
    let folded = text.to_lowercase();
    match folded.contains(['ς', '\0']) {
        true => folded.replace('ς', "σ").replace('\0', "\u{FFFF}"),
        false => folded,
    }
}

/// A backend as `Store` holds it, beside its writer.
fn shared((backend, writer): (impl Backend, WriteQueue)) -> (Arc<dyn Backend>, WriteQueue) {
    (Arc::new(backend), writer)
}

/// The newest migration applied successfully; the same SQL on both backends.
const APPLIED_MIGRATION: &str = "SELECT MAX(version) FROM _sqlx_migrations WHERE success";

/// Whether `applied` (read with `APPLIED_MIGRATION`) is the newest migration that
/// `migrator` embeds; the error names the check that failed.
fn schema_current(
    applied: Result<Option<i64>, sqlx::Error>,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), String> {
    let applied = applied.map_err(|error| format!("database: {error}"))?;
    let latest = migrator
        .iter()
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0);
    match applied.unwrap_or(0) < latest {
        true => Err("schema: migrations are not applied".to_owned()),
        false => Ok(()),
    }
}

/// Refuses a database that holds migrations this binary does not know, with what to
/// do about it. A migration older than all of this binary's comes from 0.1.0 or a
/// development version before it, from before the schema was squashed into one
/// migration: that schema cannot be upgraded in place. Any other was applied by a
/// newer version, and migrations only go forward. `applied` is every version the
/// database records (none for a new database).
fn refuse_unknown_migrations(
    applied: &[i64],
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), sqlx::Error> {
    let known = |version: &i64| migrator.iter().any(|m| m.version == *version);
    let first = migrator.iter().map(|m| m.version).min().unwrap_or(i64::MAX);
    let advice = match applied.iter().find(|version| !known(version)) {
        None => return Ok(()),
        Some(&version) if version < first => format!(
            "the database was made by webhook-inbox 0.1.0 or a development version before \
             it (it records migration {version}), whose schema this version cannot upgrade \
             in place: point DATABASE_URL at a new database, or move this one aside, and \
             start again; the old database stays readable by the version that made it"
        ),
        Some(version) => format!(
            "the database was migrated by a newer version of webhook-inbox (it records \
             migration {version}, which this version does not have): run that version on \
             it, or restore the backup taken before the upgrade"
        ),
    };
    Err(sqlx::Error::Configuration(advice.into()))
}

/// Every migration version a database records; none when it has no migration table.
const APPLIED_VERSIONS: &str = "SELECT version FROM _sqlx_migrations";

impl Stats {
    /// `/stats` from the row of [`query::stats_query`].
    fn from_row(row: query::StatsRow) -> Result<Self, StoreError> {
        let (total_messages, senders_count, top, first_message_ts, last_message_ts) = row;
        let top: Vec<(String, i64)> = match top {
            Some(pairs) => serde_json::from_str(&pairs)
                .map_err(|error| StoreError::Unavailable(format!("top senders: {error}")))?,
            None => Vec::new(),
        };
        Ok(Self {
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

pub(crate) fn non_negative(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
