//! The SQLite backend, the default: connection settings, migrations, and the split
//! between the single writer and the pool of readers.

mod batch;
mod checkpoint;
mod count;
mod merges;
mod reads;
#[cfg(test)]
mod search_properties;
mod sender_order;
mod text_counts;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use batch::insert_messages;
use batch::{AfterFailure, SqliteCommitter};
use checkpoint::Checkpointer;
use merges::Merges;
pub use sender_order::{SenderOrder, WindowCopy};

use super::wal_sync::Durability;
use super::writer::{WriteQueue, WriterMetrics};
use super::{
    schema_current, Backend, BoxFuture, MessageFilter, Page, PageStart, Stats, APPLIED_MIGRATION,
};
use super::{StoreError, StoreOptions};
use crate::config::Synchronous;

/// The schema, embedded in the binary and applied at startup.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// WAL pages after which a commit checkpoints (SQLite's default is 1,000): 160 MB of
/// WAL. Against 40 MB: ingest p99 8–10 ms instead of 22–28 ms (the stalls are four
/// times rarer and about as long), as many requests/s or more
/// (docs/performance-history.md).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 40_000;

/// How long the writer waits for the merge steps' connection to open.
const MERGE_CONNECT_TIMEOUT: Duration = Duration::from_millis(250);

/// How long a connection waits for a lock before reporting the database busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Every connection to the database file `path`, reading or writing.
fn connect_options(path: &Path) -> SqliteConnectOptions {
    // Commits do not sync; the writer syncs the WAL before answering (see `writer`),
    // unless SQLITE_SYNCHRONOUS=NORMAL says not to.
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
}

/// The write connection to the database file `path`. Public for the benchmark
/// programs, which insert exactly as the writer does (`examples/schemacost.rs`).
pub fn write_connect_options(path: &Path) -> SqliteConnectOptions {
    connect_options(path)
        // Statement journals, RETURNING's buffer and the sender order's copy of the
        // window being merged stay in memory instead of in temporary files.
        .pragma("temp_store", "MEMORY")
        // The writer checkpoints (copies the WAL into the database, two fsyncs) every
        // 160 MB of WAL rather than every 4 MB: pages rewritten by many batches are
        // copied once. With temp_store, every 40 MB instead of 4 MB gave +4% ingest
        // (A/B, three runs each of 100,000 requests).
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
}

/// A read connection to the database file `path`. Its page cache holds 8 MiB instead
/// of SQLite's 2 MiB: a `from` read scans the rows not merged into the sender order
/// yet (up to about 16,384 of them, 4–8 MiB of pages), which then stay in the cache
/// from one read to the next (1.45 → 0.94 ms a scan at 1,000,000 messages).
fn read_connect_options(path: &Path) -> SqliteConnectOptions {
    connect_options(path).pragma("cache_size", format!("-{}", READ_CACHE_KIB))
}

/// The page cache of each read connection, in KiB.
const READ_CACHE_KIB: u32 = 8 * 1024;

/// The read side: a pool of read connections (WAL mode: they never wait on the writer).
pub(super) struct SqliteReader {
    pub(super) pool: SqlitePool,
    /// Totals of `q` searches, remembered between requests.
    text_counts: text_counts::TextCounts,
}

/// Opens (creating if missing) the database in `file`, or in memory for `None`, applies
/// migrations and starts the writer.
pub(super) async fn open(
    file: Option<&Path>,
    options: &StoreOptions,
    metrics: WriterMetrics,
) -> Result<(SqliteReader, WriteQueue), sqlx::Error> {
    let (write_pool, read_pool, merges, durability, after_failure, file_connect) = match file {
        None => {
            // Every connection to `:memory:` would be a new, empty database, and
            // the database lives only while a connection is open: one connection,
            // kept forever, serves both reads and writes.
            let connect = SqliteConnectOptions::from_str("sqlite::memory:")?;
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(connect)
                .await?;
            (
                pool.clone(),
                pool,
                None,
                Durability::AtCommit,
                AfterFailure::RollBack,
                None,
            )
        }
        Some(path) => {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent)?;
            }
            let connect = connect_options(path);
            // The write connection lives as long as the process, so the WAL file
            // the writer syncs is never deleted under it.
            let write_pool = SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(write_connect_options(path))
                .await?;
            let read_pool = SqlitePoolOptions::new()
                .max_connections(options.read_connections)
                .connect_with(read_connect_options(path))
                .await?;
            // The merge steps' own connection (the sender order), opened when the
            // first merge is due. The writer waits for it: if it cannot be opened at
            // once, the merge waits a second and tries again instead.
            let merge_pool = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(MERGE_CONNECT_TIMEOUT)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_lazy_with(write_connect_options(path));
            let durability = match options.synchronous {
                Synchronous::Full => Durability::SyncWal(wal_path(path)),
                Synchronous::Normal => Durability::AtCommit,
            };
            let reconnect = AfterFailure::Reconnect;
            let merges = Some(Merges::new(merge_pool));
            (
                write_pool,
                read_pool,
                merges,
                durability,
                reconnect,
                Some(connect),
            )
        }
    };
    MIGRATOR.run(&write_pool).await?;
    if let Some(path) = file {
        sync_directory_of(path)?;
    }
    let checkpointer = match (file_connect, options.checkpoint_interval) {
        (Some(connect), Some(interval)) => Some(Checkpointer::start(connect, interval).await?),
        _ => None,
    };
    let committer = SqliteCommitter::new(
        write_pool,
        file.is_some(),
        after_failure,
        checkpointer,
        merges,
        metrics.sender_order_unmerged_rows.clone(),
    );
    let writer = WriteQueue::start(
        committer,
        durability,
        options.write_queue_capacity,
        options.write_batch_max,
        metrics,
    )?;
    let reader = SqliteReader {
        pool: read_pool,
        text_counts: Default::default(),
    };
    Ok((reader, writer))
}

impl Backend for SqliteReader {
    fn list<'a>(
        &'a self,
        filter: &'a MessageFilter,
        limit: u32,
        start: &'a PageStart,
    ) -> BoxFuture<'a, Result<Page, StoreError>> {
        Box::pin(self.list(filter, limit, start))
    }

    fn stats(&self) -> BoxFuture<'_, Result<Stats, StoreError>> {
        Box::pin(self.stats())
    }

    fn schema_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async {
            let applied = sqlx::query_scalar(APPLIED_MIGRATION)
                .fetch_one(&self.pool)
                .await;
            schema_current(applied, &MIGRATOR)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.pool.close())
    }
}

/// SQLite's write-ahead log beside `database`.
fn wal_path(database: &Path) -> PathBuf {
    let mut wal = database.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// Makes the names of the database and WAL files durable, not only their contents.
fn sync_directory_of(database: &Path) -> std::io::Result<()> {
    let directory = match database.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(directory)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::count::TextSearch;
    use super::*;
    use crate::store::fold_case;
    use sqlx::ConnectOptions;

    /// The bundled SQLite is compiled as `.cargo/config.toml` says: a page cache per
    /// connection rather than one shared behind a process-wide mutex, and no
    /// process-wide count of allocated memory.
    #[tokio::test]
    async fn sqlite_is_compiled_without_process_wide_memory_management() {
        let mut connection = SqliteConnectOptions::from_str("sqlite::memory:")
            .unwrap()
            .connect()
            .await
            .unwrap();
        let options: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&mut connection)
            .await
            .unwrap();
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(options.iter().any(|o| o == "ENABLE_FTS5"), "{options:?}");
    }

    /// Messages stored before migration 0005 (which made the trigram index contentless
    /// and keyed by `seq`) keep their rowids as `seq`, their aggregates, and are found
    /// by the index afterwards; so are new ones, also after a VACUUM. Those stored before
    /// migration 0008 are in the sender order it made, and their senders in the top ten
    /// of migration 0009.
    #[tokio::test]
    async fn messages_stored_before_the_contentless_index_are_found_by_it() {
        let folder = tempfile::tempdir().unwrap();
        let earlier = folder.path().join("migrations");
        std::fs::create_dir(&earlier).unwrap();
        let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(all).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_owned();
            if name.to_string_lossy().as_ref() < "20250115000005" {
                std::fs::copy(&path, earlier.join(name)).unwrap();
            }
        }
        let connect = SqliteConnectOptions::new()
            .filename(folder.path().join("inbox.db"))
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(connect)
            .await
            .unwrap();
        let before = Migrator::new(earlier.as_path()).await.unwrap();
        assert_eq!(before.iter().count(), 4);
        before.run(&pool).await.unwrap();
        let insert = async |id: &str, text: Option<&str>| {
            sqlx::query(
                "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, ts_key, \
                 text, text_folded, created_at) VALUES (?, '+1', '+2', ?, ?, ?, ?, 'c')",
            )
            .bind(id)
            .bind(format!("2025-01-15T10:00:0{}Z", &id[1..]))
            .bind(format!("2025-01-15T10:00:0{}.000000000Z", &id[1..]))
            .bind(text)
            .bind(text.map(fold_case))
            .execute(&pool)
            .await
            .unwrap();
        };
        for (id, text) in [
            ("m1", Some("Hello world")),
            ("m2", Some("bye")),
            ("m3", None),
            ("m4", Some("say HELLO")),
        ] {
            insert(id, text).await;
        }

        MIGRATOR.run(&pool).await.unwrap();
        insert("m5", Some("hello again")).await;
        let merges: Vec<(String, i64)> = sqlx::query_as(
            "SELECT k, v FROM messages_text_config WHERE k LIKE '%merge' ORDER BY k",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let expected_merges = [("automerge", 16), ("crisismerge", 64)];
        assert_eq!(merges, expected_merges.map(|(k, v)| (k.to_owned(), v)));

        let reader = SqliteReader {
            pool: pool.clone(),
            text_counts: text_counts::TextCounts::default(),
        };
        let found = async || {
            let filter = MessageFilter {
                q: Some("HELLO".to_owned()),
                ..MessageFilter::default()
            };
            let total = reader
                .list(&filter, 10, &PageStart::Offset(0))
                .await
                .unwrap()
                .total;
            let by_index = TextSearch::Index { rows_in_range: 5 };
            let mut connection = pool.acquire().await.unwrap();
            let start = PageStart::Offset(0);
            let (page, _) = reads::page(&mut connection, &filter, 10, &start, &by_index)
                .await
                .unwrap();
            let ids: Vec<String> = page.into_iter().map(|m| m.message_id).collect();
            (total, ids)
        };
        let expected = (3, vec!["m1".to_owned(), "m4".to_owned(), "m5".to_owned()]);
        assert_eq!(found().await, expected);
        // Migration 0008 put the rows it found in the sender order; a `from` read finds
        // them there and the newer row among the unmerged ones.
        let progress: (i64, i64, String) =
            sqlx::query_as("SELECT merged_seq, window_end, next_sender FROM sender_order")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(progress, (4, 4, String::new()));
        let merged: Vec<String> =
            sqlx::query_scalar("SELECT message_id FROM messages_by_sender ORDER BY ts_key")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(merged, ["m1", "m2", "m3", "m4"]);
        let from = MessageFilter {
            from: Some("+1".to_owned()),
            q: Some("e".to_owned()),
            ..MessageFilter::default()
        };
        let page = reader.list(&from, 10, &PageStart::Offset(1)).await.unwrap();
        let ids: Vec<String> = page.data.into_iter().map(|m| m.message_id).collect();
        assert_eq!(
            (page.total, ids),
            (4, vec!["m2".to_owned(), "m4".to_owned(), "m5".to_owned()])
        );
        let seqs: Vec<(i64, String)> =
            sqlx::query_as("SELECT seq, message_id FROM messages ORDER BY seq")
                .fetch_all(&pool)
                .await
                .unwrap();
        let ids = ["m1", "m2", "m3", "m4", "m5"].map(str::to_owned);
        assert_eq!(seqs, (1..).zip(ids).collect::<Vec<_>>());
        let totals: (i64, i64) = sqlx::query_as(reads::TOTALS)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(totals, (5, 1));
        // Migration 0009 ranked the senders it found; the trigger counted the newer row.
        let top: Vec<(String, i64)> =
            sqlx::query_as("SELECT from_msisdn, -rank_count FROM top_senders WHERE rank_count < 0")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(top, [("+1".to_owned(), 5)]);

        sqlx::query("VACUUM").execute(&pool).await.unwrap();
        assert_eq!(found().await, expected);
    }
}
