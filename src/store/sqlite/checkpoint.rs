//! Checkpoints in the background. A checkpoint copies the pages committed to the WAL
//! into the database file and `fsync`s it; only once every frame is copied can the WAL
//! start again from its beginning. The writer's own checkpoint (every
//! `WAL_AUTOCHECKPOINT_PAGES`) holds up every waiting webhook while it runs, for as
//! long as copying what is not yet copied and syncing the database take: 25–50 ms for
//! 40 MB of WAL on a local disk, and it grows with the WAL and with a slower disk.
//!
//! Here a connection of its own runs a `PASSIVE` checkpoint shortly after commits (at
//! most every `SQLITE_CHECKPOINT_INTERVAL_MS`), so by the time the writer's checkpoint
//! comes, nearly every frame is already in the database file: it copies and syncs the
//! last interval's commits, and the WAL restarts as before. A `PASSIVE` checkpoint
//! takes no lock that the writer or readers wait for, and copies only frames no reader
//! still needs. Durability does not change: the WAL is synced before its frames are
//! copied, the database after, as in any checkpoint with `synchronous=NORMAL`. The
//! cost is CPU: a page that every batch rewrites is copied once per interval. Off by
//! default: on a local disk the writer's own checkpoints every 160 MB serve better
//! (docs/performance-history.md); this is for disks where syncing that much is slow.

use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

/// The background checkpointer: wake it after a commit; stop it before closing.
pub(super) struct Checkpointer {
    committed: Arc<Notify>,
    stop: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Checkpointer {
    /// Starts checkpointing the database that `connect` opens, on the current runtime,
    /// at most once per `interval`.
    pub(super) async fn start(
        connect: SqliteConnectOptions,
        interval: Duration,
    ) -> Result<Self, sqlx::Error> {
        let connection = connect
            .synchronous(SqliteSynchronous::Normal)
            .connect()
            .await?;
        let committed = Arc::new(Notify::new());
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(run(connection, interval, committed.clone(), stopped));
        Ok(Self {
            committed,
            stop: Some((stop, task)),
        })
    }

    /// Tells the checkpointer that a commit added frames to the WAL.
    /// Commits while a checkpoint runs or the interval passes are one wake-up.
    pub(super) fn committed(&self) {
        self.committed.notify_one();
    }

    /// Stops the checkpointer and closes its connection.
    pub(super) async fn stop(&mut self) {
        if let Some((stop, task)) = self.stop.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

async fn run(
    mut connection: SqliteConnection,
    interval: Duration,
    committed: Arc<Notify>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut failing = false;
    loop {
        // Stopped also when the checkpointer is dropped without `stop`.
        tokio::select! {
            () = committed.notified() => {}
            _ = &mut stopped => break,
        }
        let checkpoint = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut connection)
            .await;
        match (&checkpoint, failing) {
            (Err(error), false) => {
                tracing::warn!(error = %error, "background checkpoint failed; the writer's own checkpoints go on");
            }
            (Ok(_), true) => tracing::info!("background checkpoints work again"),
            _ => {}
        }
        failing = checkpoint.is_err();
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = &mut stopped => break,
        }
    }
    let _ = connection.close().await;
}
