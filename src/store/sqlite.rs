//! Opening the SQLite database: connection settings, migrations, and the split
//! between the single writer and the pool of readers.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::batch::AfterFailure;
use super::wal_sync::Durability;
use super::writer::{WriteQueue, WriterMetrics};
use crate::config::{DatabaseLocation, Synchronous};

/// The schema, embedded in the binary and applied at startup.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How long a connection waits for a lock before reporting the database busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What the store needs from the configuration.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub location: DatabaseLocation,
    pub synchronous: Synchronous,
    pub read_connections: u32,
    pub write_queue_capacity: usize,
    pub write_batch_max: usize,
}

/// The message store: one writer that commits in groups, and a pool of readers.
#[derive(Clone)]
pub struct Store {
    pub(super) reader: SqlitePool,
    pub(super) writer: WriteQueue,
}

impl Store {
    /// Opens (creating if missing) the database, applies migrations and starts the writer.
    pub async fn open(options: &StoreOptions, metrics: WriterMetrics) -> Result<Self, sqlx::Error> {
        let (write_pool, read_pool, durability, after_failure) = match &options.location {
            DatabaseLocation::Memory => {
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
                    Durability::AtCommit,
                    AfterFailure::RollBack,
                )
            }
            DatabaseLocation::File(path) => {
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent)?;
                }
                // Commits do not sync; the writer syncs the WAL before answering
                // (see `writer`), unless SQLITE_SYNCHRONOUS=NORMAL says not to.
                let connect = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(BUSY_TIMEOUT);
                // The write connection lives as long as the process, so the WAL file
                // the writer syncs is never deleted under it.
                let write_pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .connect_with(connect.clone())
                    .await?;
                let read_pool = SqlitePoolOptions::new()
                    .max_connections(options.read_connections)
                    .connect_with(connect)
                    .await?;
                let durability = match options.synchronous {
                    Synchronous::Full => Durability::SyncWal(wal_path(path)),
                    Synchronous::Normal => Durability::AtCommit,
                };
                (write_pool, read_pool, durability, AfterFailure::Reconnect)
            }
        };
        MIGRATOR.run(&write_pool).await?;
        if let DatabaseLocation::File(path) = &options.location {
            sync_directory_of(path)?;
        }
        let writer = WriteQueue::start(
            write_pool,
            durability,
            after_failure,
            options.write_queue_capacity,
            options.write_batch_max,
            metrics,
        )?;
        Ok(Self {
            reader: read_pool,
            writer,
        })
    }

    /// Whether the database answers and every embedded migration is applied.
    pub async fn is_ready(&self) -> Result<(), String> {
        let latest = MIGRATOR
            .iter()
            .map(|migration| migration.version)
            .max()
            .unwrap_or(0);
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.reader)
                .await
                .map_err(|error| format!("database: {error}"))?;
        if applied.unwrap_or(0) < latest {
            return Err("schema: migrations are not applied".to_owned());
        }
        self.writer.health()
    }

    /// Commits what is queued, stops the writer and closes every connection.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
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
