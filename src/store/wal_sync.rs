//! Durability, pipelined: the write connection commits without syncing
//! (`synchronous=NORMAL`), and this thread `fdatasync`s the WAL file, then answers the
//! batches that sync covers, while the writer already inserts the next batch. A
//! transaction in WAL mode is durable once its frames in the WAL are on disk, which is
//! exactly what `synchronous=FULL` would wait for inside the commit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus::Histogram;
use tokio::sync::mpsc;

use super::committer::Reply;
use super::{InsertOutcome, StoreError};

/// Committed batches that may wait for their sync at once; beyond that the writer
/// waits too, so a slow disk pushes back on the queue instead of growing memory.
pub(super) const BATCHES_AWAITING_SYNC: usize = 16;

/// A committed batch: who to answer, and what to tell each of them.
pub(super) type Committed = Vec<(Reply, InsertOutcome)>;

/// When a committed batch may be answered.
#[derive(Clone, Debug)]
pub enum Durability {
    /// At commit: nothing to sync (an in-memory database, or `SQLITE_SYNCHRONOUS=NORMAL`,
    /// which accepts losing the last commits on power loss).
    AtCommit,
    /// After an `fdatasync` of this WAL file that started after the commit.
    SyncWal(PathBuf),
}

/// Syncs the WAL once for everything committed so far, then answers it; repeats
/// until the writer hangs up. Runs on a thread of its own, as `fdatasync` blocks.
pub(super) fn answer_when_synced(
    mut wal: WalFile,
    mut to_sync: mpsc::Receiver<Committed>,
    failed: &AtomicBool,
    latency_ms: &Histogram,
) {
    let mut waiting = Vec::new();
    while let Some(first) = to_sync.blocking_recv() {
        waiting.push(first);
        while let Ok(more) = to_sync.try_recv() {
            waiting.push(more);
        }
        let started = std::time::Instant::now();
        let synced = wal.sync();
        latency_ms.observe(started.elapsed().as_secs_f64() * 1000.0);
        if let Err(error) = &synced {
            tracing::error!(error = %error, wal = %wal.path.display(), "could not sync the WAL; refusing further writes");
            failed.store(true, Ordering::Release);
        }
        let durable = synced.map_err(|error| error.to_string());
        for batch in waiting.drain(..) {
            answer(batch, durable.clone());
        }
    }
}

/// The WAL file, kept open between syncs and opened again if SQLite replaced it.
pub(super) struct WalFile {
    path: PathBuf,
    open: Option<(std::fs::File, u64)>,
}

impl WalFile {
    pub(super) fn new(path: PathBuf) -> Self {
        Self { path, open: None }
    }

    fn sync(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let inode = std::fs::metadata(&self.path)?.ino();
        let file = match self.open.take() {
            Some((file, open_inode)) if open_inode == inode => file,
            _ => std::fs::File::open(&self.path)?,
        };
        let synced = file.sync_data();
        self.open = Some((file, inode));
        synced
    }
}

pub(super) fn answer(batch: Committed, durable: Result<(), String>) {
    for (reply, outcome) in batch {
        let _ = reply.send(match &durable {
            Ok(()) => Ok(outcome),
            Err(reason) => Err(StoreError::Unavailable(reason.clone())),
        });
    }
}

pub(super) fn answer_unavailable(replies: impl Iterator<Item = Reply>, reason: &str) {
    for reply in replies {
        let _ = reply.send(Err(StoreError::Unavailable(reason.to_owned())));
    }
}
