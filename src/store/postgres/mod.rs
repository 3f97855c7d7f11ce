//! The PostgreSQL backend, for several stateless replicas sharing one database: the
//! same writer design (one write connection per replica, committing in groups), reads
//! from a pool, migrations applied under sqlx's advisory lock so replicas may start at
//! once.

mod batch;
mod reads;
mod search;

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::retention::SweepOn;
use super::wal_sync::Durability;
use super::writer::{WriteQueue, WriterMetrics};
use super::{
    refuse_unknown_migrations, schema_current, Backend, BoxFuture, MessageFilter, Page, PageStart,
    Stats, APPLIED_MIGRATION, APPLIED_VERSIONS,
};
use super::{StoreError, StoreOptions};
use batch::PgCommitter;

/// The schema, embedded in the binary and applied at startup.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a free connection before the database counts as
/// unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one batch of the retention sweep may take, in milliseconds (250 rows take
/// about 8 ms at 1,000,000 messages).
const SWEEP_TIMEOUT: &str = "5000";

/// The read side: a pool of connections, each read in one snapshot.
pub(super) struct PgReader {
    pool: PgPool,
    /// Readiness's own connection: searches holding every read connection for seconds
    /// must not fail the probe and take the replica out of its load balancer.
    probe: PgPool,
    /// Totals of `q` searches, remembered between requests.
    searches: super::search_totals::SearchTotals<Vec<i64>>,
}

/// Connects, applies migrations and starts the writer.
pub(super) async fn open(
    url: &str,
    options: &StoreOptions,
    metrics: WriterMetrics,
) -> Result<(PgReader, WriteQueue), sqlx::Error> {
    let connect = PgConnectOptions::from_str(url)?.application_name("webhook-inbox");
    // One direct connection first: a pool that cannot connect reports only a timeout,
    // while this reports why (refused, no such database, authentication).
    PgConnection::connect_with(&connect).await?.close().await?;
    let write_pool = one_connection(connect.clone()).await?;
    // sqlx holds an advisory lock while it migrates: replicas starting together apply
    // each migration once, and the others wait for it. (On the write connection: the
    // read connections' statement timeout must not cut a long migration short.)
    let applied: Vec<i64> = sqlx::query_scalar(APPLIED_VERSIONS)
        .fetch_all(&write_pool)
        .await
        .unwrap_or_default();
    refuse_unknown_migrations(&applied, &MIGRATOR)?;
    MIGRATOR.run(&write_pool).await?;
    if options.retention.is_some() {
        warn_without_autovacuum(&write_pool).await?;
    }
    let mut read_connect = connect.clone();
    if let Some(timeout) = options.read_timeout {
        // A read outliving its request would keep the server busy for no one.
        let milliseconds = timeout.as_millis().to_string();
        read_connect = read_connect.options([("statement_timeout", milliseconds.as_str())]);
    }
    let read_pool = PgPoolOptions::new()
        .max_connections(options.read_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(read_connect.clone())
        .await?;
    let probe = one_connection(read_connect).await?;
    // A COMMIT returns once PostgreSQL has flushed it (synchronous_commit, on by
    // default): nothing is left to sync before answering.
    let committer = PgCommitter { pool: write_pool };
    // The sweep deletes on a connection of its own, concurrently with the writer's
    // inserts as another replica's sweep would: a webhook does not wait behind a batch
    // of deletions (ingest p50 during a sweep 3–4 ms, against 5–10 ms on the writer's).
    // A batch that waits on locks longer than `SWEEP_TIMEOUT` gives up and is tried
    // again later, so that it cannot hold up shutdown.
    let sweep_on = match options.retention {
        Some(_) => SweepOn::Own(PgCommitter {
            pool: one_connection(connect.options([("statement_timeout", SWEEP_TIMEOUT)])).await?,
        }),
        None => SweepOn::Writer,
    };
    let writer = WriteQueue::start(committer, sweep_on, Durability::AtCommit, options, metrics)?;
    let reader = PgReader {
        pool: read_pool,
        probe,
        searches: Default::default(),
    };
    Ok((reader, writer))
}

/// A pool of one connection (the writer's, the sweep's or readiness's).
async fn one_connection(connect: PgConnectOptions) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect)
        .await
}

/// PostgreSQL reuses the space of deleted rows once vacuum has cleared them: with
/// RETENTION and without autovacuum on `messages`, the database grows for ever (by about
/// the size of what expires), which startup says once.
async fn warn_without_autovacuum(pool: &PgPool) -> Result<(), sqlx::Error> {
    let on: bool = sqlx::query_scalar(
        "SELECT current_setting('autovacuum')::BOOLEAN AND COALESCE(( \
             SELECT option_value::BOOLEAN FROM pg_class, pg_options_to_table(reloptions) \
             WHERE pg_class.oid = 'messages'::REGCLASS AND option_name = 'autovacuum_enabled' \
         ), TRUE)",
    )
    .fetch_one(pool)
    .await?;
    if !on {
        tracing::warn!(
            "autovacuum is off for the messages table: the space of expired messages is \
             never reused and the database keeps growing; turn autovacuum on, or run \
             VACUUM messages regularly"
        );
    }
    Ok(())
}

impl Backend for PgReader {
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
