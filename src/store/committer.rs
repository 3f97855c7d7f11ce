//! What the writer asks of a database: commit a batch of webhooks in one transaction,
//! delete a batch of expired messages, and try a write without traffic. Each backend
//! implements it on its write connection (`sqlite/batch.rs`, `postgres/batch.rs`).

use std::collections::HashSet;
use std::future::Future;

use tokio::sync::oneshot;

use super::{InsertOutcome, StoreError};
use crate::message::Message;

pub(super) type Reply = oneshot::Sender<Result<InsertOutcome, StoreError>>;

/// A webhook's message, waiting in the queue for its batch, and who to answer.
pub(super) struct Pending {
    pub(super) message: Message,
    pub(super) reply: Reply,
}

/// The writes of one database, on its write connection.
pub(super) trait Committer: Send + 'static {
    /// Inserts every message of `batch` unless its id exists, in one transaction, and
    /// commits; says per message whether it created the row. The first occurrence of
    /// an id in the batch is the one that may create it.
    fn commit(
        &mut self,
        batch: &[Pending],
    ) -> impl Future<Output = Result<Vec<InsertOutcome>, sqlx::Error>> + Send;

    /// Deletes up to `limit` of the oldest messages stored before `cutoff` (RFC 3339,
    /// as `created_at` is written) in one transaction; says how many it deleted.
    fn expire(
        &mut self,
        cutoff: &str,
        limit: usize,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;

    /// Writes and commits something harmless, to learn whether writes work again.
    fn probe(&mut self) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Closes the write connection.
    fn close(self) -> impl Future<Output = ()> + Send;
}

/// Per message of `batch`, whether it created its row: only the first occurrence of
/// an id in the batch can have, and only if its id is among `created`.
pub(super) fn outcomes(batch: &[Pending], mut created: HashSet<Vec<u8>>) -> Vec<InsertOutcome> {
    batch
        .iter()
        .map(
            |pending| match created.remove(pending.message.message_id.as_bytes()) {
                true => InsertOutcome::Created,
                false => InsertOutcome::Duplicate,
            },
        )
        .collect()
}
