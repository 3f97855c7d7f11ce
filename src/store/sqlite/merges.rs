//! The merge steps' own connection, on a database file: the copy of each window of
//! rows to merge into the `(from, ts)` order is made there, while the writer goes on
//! with its batches on the write connection (see `sender_order`).

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool};
use tokio::task::JoinHandle;

use super::batch::{recover, AfterFailure};
use super::sender_order::{copy_window, SenderOrder, Window, WindowCopy};

/// The merge steps' connection, and the copy of a window being made on it.
pub(super) struct Merges {
    pool: SqlitePool,
    /// The connection kept between steps; `None` while a copy holds it, and after a
    /// failure.
    kept: Option<PoolConnection<Sqlite>>,
    copying: Option<JoinHandle<Copied>>,
}

/// A copy made: the connection it was made on, and whether it was.
type Copied = (PoolConnection<Sqlite>, Result<(), sqlx::Error>);

impl Merges {
    pub(super) fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            kept: None,
            copying: None,
        }
    }

    /// The next step of `order`, unless the copy of its window is still being made.
    /// A step that finds no copy starts making one, and returns.
    pub(super) async fn step(
        &mut self,
        order: &mut SenderOrder,
        idle: bool,
    ) -> Result<(), sqlx::Error> {
        if self
            .copying
            .as_ref()
            .is_some_and(|copying| !copying.is_finished())
        {
            return Ok(());
        }
        if let Some(copying) = self.copying.take() {
            match copying.await {
                Ok((connection, Ok(()))) => self.kept = Some(connection),
                Ok((mut connection, Err(error))) => {
                    connection.close_on_drop();
                    order.failed();
                    return Err(error);
                }
                Err(panicked) => {
                    tracing::error!(error = %panicked, "copying the window to merge failed");
                    order.failed();
                    return Err(sqlx::Error::WorkerCrashed);
                }
            }
        }
        let mut connection = match self.kept.take() {
            Some(connection) => connection,
            None => self.pool.acquire().await.inspect_err(|_| order.failed())?,
        };
        match order.step(&mut connection, idle, WindowCopy::Ahead).await {
            Ok(None) => {
                self.kept = Some(connection);
                Ok(())
            }
            Ok(Some(window)) => {
                self.copying = Some(tokio::spawn(copy(connection, window)));
                Ok(())
            }
            Err(error) => {
                recover(&mut connection, AfterFailure::Reconnect).await;
                Err(error)
            }
        }
    }

    pub(super) async fn close(&mut self) {
        // Waited for, not aborted: an aborted copy left its connection open until the
        // process ended, and with it the WAL beside the database file. A copy takes
        // tens of milliseconds.
        if let Some(copying) = self.copying.take() {
            let _ = copying.await;
        }
        self.kept = None;
        self.pool.close().await;
    }
}

/// Makes the copy of `window` on `connection`, and gives the connection back.
async fn copy(mut connection: PoolConnection<Sqlite>, window: Window) -> Copied {
    let copied = copy_window(&mut connection, &window).await;
    (connection, copied)
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    use super::*;
    use crate::message::Message;
    use crate::store::sqlite::{insert_messages, wal_path, write_connect_options, MIGRATOR};
    use crate::timestamp::Timestamp;

    fn message(number: i64) -> Message {
        Message {
            message_id: format!("m{number:05}"),
            from: "+1".to_owned(),
            to: "+2".to_owned(),
            ts: Timestamp::parse("2025-01-15T10:00:00Z").unwrap(),
            text: Some("text".to_owned()),
        }
    }

    /// Closing the merge steps while their connection copies a window waits for the
    /// copy, and closes that connection: the last connection closed then folds the WAL
    /// into the database file. (Aborting the copy left its connection open until the
    /// process ended, and the newest commits only in the WAL beside the file.)
    #[tokio::test]
    async fn closing_the_merge_steps_during_a_copy_closes_their_connection() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("merges.db");
        let connect = || {
            SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(write_connect_options(&file))
        };
        let pool = connect().await.unwrap();
        MIGRATOR.run(&pool).await.unwrap();
        let window = 8192;
        let messages: Vec<Message> = (0..window).map(message).collect();
        let mut connection = pool.acquire().await.unwrap();
        for chunk in messages.chunks(64) {
            insert_messages(&mut connection, chunk, "c").await.unwrap();
        }
        drop(connection);
        let mut merges = Merges::new(connect().await.unwrap());
        let mut order = SenderOrder::new(window, 1024);
        merges.step(&mut order, false).await.unwrap();
        assert!(merges.copying.is_some(), "no window to copy");
        // The copy sends its first statement to SQLite's thread, and the close comes.
        tokio::task::yield_now().await;
        merges.close().await;
        assert!(wal_path(&file).exists(), "the database is in WAL mode");
        pool.close().await;
        assert!(
            !wal_path(&file).exists(),
            "the WAL is left beside the database"
        );
    }
}
