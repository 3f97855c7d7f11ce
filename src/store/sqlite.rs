//! Opening the SQLite database: connection settings, migrations, and the split
//! between the single writer and the pool of readers.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

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
        let synchronous = match options.synchronous {
            Synchronous::Full => SqliteSynchronous::Full,
            Synchronous::Normal => SqliteSynchronous::Normal,
        };
        let (write_pool, read_pool) = match &options.location {
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
                (pool.clone(), pool)
            }
            DatabaseLocation::File(path) => {
                if let Some(parent) = path
                    .parent()
                    .filter(|parent| !parent.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(parent)?;
                }
                let connect = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous)
                    .busy_timeout(BUSY_TIMEOUT);
                let write_pool = SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(connect.clone())
                    .await?;
                let read_pool = SqlitePoolOptions::new()
                    .max_connections(options.read_connections)
                    .connect_with(connect)
                    .await?;
                (write_pool, read_pool)
            }
        };
        MIGRATOR.run(&write_pool).await?;
        let writer = WriteQueue::start(
            write_pool,
            options.write_queue_capacity,
            options.write_batch_max,
            metrics,
        );
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
        if self.writer.is_closed() {
            return Err("writer: not running".to_owned());
        }
        Ok(())
    }

    /// Commits what is queued, stops the writer and closes every connection.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}
