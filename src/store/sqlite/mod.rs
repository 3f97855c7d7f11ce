//! The SQLite backend, the default: connection settings, migrations, and the split
//! between the single writer and the pool of readers.

mod batch;
mod count;
mod reads;
#[cfg(test)]
mod search_properties;

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use batch::{AfterFailure, SqliteCommitter};

use super::retention::SweepOn;
use super::wal_sync::Durability;
use super::writer::{WriteQueue, WriterMetrics};
use super::{
    refuse_unknown_migrations, schema_current, Backend, BoxFuture, MessageFilter, Page, PageStart,
    Stats, APPLIED_MIGRATION, APPLIED_VERSIONS,
};
use super::{StoreError, StoreOptions};
use crate::config::Synchronous;

/// The schema, embedded in the binary and applied at startup.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// WAL pages after which a commit checkpoints (SQLite's default is 1,000): about 330 MB
/// of WAL. Against 40,000 pages, at 5,000 webhooks a second on 1,000,000 messages: p99
/// 6.9 ms instead of 20.7 ms, and 14.5 ms instead of 25.0 ms while the retention sweep
/// deletes (the stalls are half as frequent, the longest up to 1.7 times as long)
/// (docs/architecture.md, "Larger, rarer checkpoints").
const WAL_AUTOCHECKPOINT_PAGES: u32 = 80_000;

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

/// The write connection to the database file `path`.
fn write_connect_options(path: &Path) -> SqliteConnectOptions {
    connect_options(path)
        // Statement journals stay in memory instead of in temporary files.
        .pragma("temp_store", "MEMORY")
        // The writer checkpoints (copies the WAL into the database, two fsyncs) every
        // 330 MB of WAL rather than every 4 MB: pages rewritten by many batches are
        // copied once. With temp_store, every 40 MB instead of 4 MB gave +4% ingest
        // (A/B, three runs each of 100,000 requests).
        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
}

/// The read side: a pool of read connections (WAL mode: they never wait on the writer).
pub(super) struct SqliteReader {
    pub(super) pool: SqlitePool,
    /// Readiness's own connection: searches holding every read connection for seconds
    /// must not fail the probe and take the service out of its load balancer.
    probe: SqlitePool,
    /// The database's lock file, held for as long as the process runs.
    _served_here: Option<File>,
    /// Totals of `q` searches, remembered between requests.
    searches: super::search_totals::SearchTotals<i64>,
}

/// Opens (creating if missing) the database in `file`, or in memory for `None`, applies
/// migrations and starts the writer.
pub(super) async fn open(
    file: Option<&Path>,
    options: &StoreOptions,
    metrics: WriterMetrics,
) -> Result<(SqliteReader, WriteQueue), sqlx::Error> {
    let file = file.map(followed_links).transpose()?;
    let (write_pool, read_pool, probe, served_here, durability, after_failure) = match &file {
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
                pool.clone(),
                pool,
                None,
                Durability::AtCommit,
                AfterFailure::RollBack,
            )
        }
        Some(path) => {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent)?;
            }
            let served_here = lock_for_this_process(path)?;
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
                .connect_with(connect_options(path))
                .await?;
            let probe = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(connect_options(path))
                .await?;
            let durability = match options.synchronous {
                Synchronous::Full => Durability::SyncWal(beside(path, "-wal")),
                Synchronous::Normal => Durability::AtCommit,
            };
            (
                write_pool,
                read_pool,
                probe,
                Some(served_here),
                durability,
                AfterFailure::Reconnect,
            )
        }
    };
    let applied: Vec<i64> = sqlx::query_scalar(APPLIED_VERSIONS)
        .fetch_all(&write_pool)
        .await
        .unwrap_or_default();
    refuse_unknown_migrations(&applied, &MIGRATOR)?;
    MIGRATOR.run(&write_pool).await?;
    if let Some(path) = &file {
        sync_directory_of(path)?;
    }
    let committer = SqliteCommitter::new(write_pool, file.is_some(), after_failure);
    let writer = WriteQueue::start(committer, SweepOn::Writer, durability, options, metrics)?;
    let reader = SqliteReader {
        pool: read_pool,
        probe,
        _served_here: served_here,
        searches: Default::default(),
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
                .fetch_one(&self.probe)
                .await;
            schema_current(applied, &MIGRATOR)
        })
    }

    fn close(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            self.pool.close().await;
            self.probe.close().await;
        })
    }
}

/// Locks `<database>.lock` (created if missing) until the process ends, or refuses the
/// database when another process holds it. SQLite would let two servers share the
/// file, but each would remember search totals that miss the other's writes, and sweep
/// on its own. Taken before any connection, on a file SQLite never opens, so that it
/// cannot interfere with SQLite's own locks.
fn lock_for_this_process(database: &Path) -> Result<File, sqlx::Error> {
    let path = beside(database, ".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|error| {
            let path = path.display();
            sqlx::Error::Configuration(format!("cannot open the lock file {path}: {error}").into())
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(sqlx::Error::Configuration(
            format!(
                "{} is served by another process: one SQLite file takes one webhook-inbox \
                 process at a time (for several replicas, use PostgreSQL)",
                database.display()
            )
            .into(),
        )),
        Err(TryLockError::Error(error)) => Err(error.into()),
    }
}

/// The file `path` leads to once its symbolic links are followed, as SQLite follows
/// them, whether that file exists yet or not: SQLite keeps its WAL beside that file, and
/// the WAL this process syncs and the lock it takes must be the ones beside it too.
/// Always absolute: SQLite reads a name starting with `file:` as a URI, and a relative
/// link target could make one.
fn followed_links(path: &Path) -> Result<PathBuf, sqlx::Error> {
    let mut path = std::path::absolute(path)?;
    // SQLite's own limit on links followed.
    for _ in 0..100 {
        // Fails for anything but a link: a file, a folder, or nothing yet.
        let Ok(target) = std::fs::read_link(&path) else {
            return Ok(path);
        };
        path = path.parent().unwrap_or(Path::new("/")).join(target);
    }
    Err(sqlx::Error::Configuration(
        format!("{}: too many levels of symbolic links", path.display()).into(),
    ))
}

/// The file beside `database` whose name is the database's with `suffix` appended:
/// SQLite's write-ahead log (`-wal`), or the process lock (`.lock`).
fn beside(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
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
    use super::*;
    use crate::config::DatabaseLocation;
    use sqlx::ConnectOptions;

    /// Readiness answers at once while slow reads hold every read connection (the
    /// pool would make the probe wait up to 30 s for one).
    #[tokio::test]
    async fn readiness_does_not_wait_for_a_read_connection() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("app.db");
        let options = StoreOptions {
            location: DatabaseLocation::File(path.clone()),
            synchronous: Synchronous::Full,
            retention: None,
            read_connections: 1,
            read_timeout: None,
            write_queue_capacity: 16,
            write_batch_max: 16,
        };
        let metrics = crate::metrics::Metrics::new().writer;
        let (reader, writer) = open(Some(&path), &options, metrics).await.unwrap();
        let held = reader.pool.acquire().await.unwrap();

        let ready = tokio::time::timeout(Duration::from_secs(3), reader.schema_ready()).await;

        assert_eq!(ready, Ok(Ok(())));
        drop(held);
        writer.close().await;
        reader.close().await;
    }

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
}
