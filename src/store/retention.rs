//! The retention sweep: messages stored longer ago than `RETENTION` are deleted a small
//! batch at a time. On SQLite, where one connection writes, the writer deletes between
//! the batches of webhooks, so a webhook waits behind at most one batch of deletions.
//! On PostgreSQL the sweep has a connection of its own beside the writer's, as another
//! replica's sweep would, so a webhook does not wait behind its batches (only, at
//! times, for a sender's count that a batch holds until it commits). Every aggregate
//! and the search index follow in the deleting transaction (the backends' triggers).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use prometheus::IntCounter;
use tokio::sync::oneshot;

use super::committer::Committer;

/// Rows deleted per transaction: short enough that a webhook queued behind it is not
/// held up for long, long enough to delete far faster than messages arrive.
pub(super) const BATCH_ROWS: usize = 250;

/// A sweep starts at least this often, and at least once a second when messages are
/// kept less than a minute.
const LONGEST_PAUSE: Duration = Duration::from_secs(60);
const SHORTEST_PAUSE: Duration = Duration::from_secs(1);

/// Where the sweep deletes.
pub(super) enum SweepOn<C> {
    /// On the writer's connection, between its batches: where one connection writes.
    Writer,
    /// On a connection of its own, beside the writer: where writers run concurrently.
    Own(C),
}

/// When the next batch of deletions is due, and what the current sweep deleted so far.
pub(super) struct Sweep {
    retention: Duration,
    pause: Duration,
    next: Instant,
    deleted: u64,
    deleted_total: IntCounter,
    /// Whether the last batch failed: a failure is logged once, not at every try.
    failing: bool,
}

impl Sweep {
    pub(super) fn new(retention: Duration, deleted_total: IntCounter) -> Self {
        Self {
            retention,
            pause: match retention < LONGEST_PAUSE {
                true => SHORTEST_PAUSE,
                false => LONGEST_PAUSE,
            },
            next: Instant::now(),
            deleted: 0,
            deleted_total,
            failing: false,
        }
    }

    /// When the next batch is due.
    pub(super) fn next(&self) -> Instant {
        self.next
    }

    /// Sweeps on a connection of its own until `stop`, then closes it. A batch under
    /// way when `stop` comes is finished first (the backend bounds how long it takes).
    pub(super) async fn run(
        mut self,
        mut committer: impl Committer,
        mut stop: oneshot::Receiver<()>,
    ) {
        loop {
            tokio::select! {
                biased;
                _ = &mut stop => break,
                () = tokio::time::sleep_until(self.next.into()) => self.step(&mut committer).await,
            }
        }
        committer.close().await;
    }

    /// Deletes one batch of expired messages. A full batch means more may wait: the
    /// next is due at once (after the webhooks waiting by then). Otherwise the sweep is
    /// over: logged if it deleted anything, and the next one starts after a pause.
    pub(super) async fn step(&mut self, committer: &mut impl Committer) {
        // Nothing was stored before 1970 (nor can the cutoff be written before it).
        let cutoff = SystemTime::now().checked_sub(self.retention);
        let Some(cutoff) = cutoff.filter(|cutoff| *cutoff >= UNIX_EPOCH) else {
            self.next = Instant::now() + self.pause;
            return;
        };
        let cutoff = humantime::format_rfc3339_micros(cutoff).to_string();
        match committer.expire(&cutoff, BATCH_ROWS).await {
            Ok(deleted) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!("deleting expired messages works again");
                }
                self.deleted += deleted;
                self.deleted_total.inc_by(deleted);
                if deleted >= BATCH_ROWS as u64 {
                    self.next = Instant::now();
                    return;
                }
                if self.deleted > 0 {
                    tracing::info!(deleted = self.deleted, "deleted expired messages");
                }
                self.deleted = 0;
            }
            Err(error) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(error = %error, "deleting expired messages failed; trying again later");
                }
            }
        }
        self.next = Instant::now() + self.pause;
    }
}
