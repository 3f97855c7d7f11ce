//! Group commit: requests queue their message and wait; one task takes everything
//! waiting, inserts it in one transaction, commits once, then answers each request.
//! One fsync serves a whole batch, and a 200 still means "on disk".

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use sqlx::{QueryBuilder, SqlitePool};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{InsertOutcome, StoreError};
use crate::message::Message;
pub use crate::metrics::WriterMetrics;

const INSERT_MESSAGES: &str = "INSERT INTO messages \
     (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) ";
/// Rows take their ids back only when they were inserted.
const ON_CONFLICT_RETURNING: &str = " ON CONFLICT (message_id) DO NOTHING RETURNING message_id";
/// Rows per INSERT statement: few round trips to SQLite, few distinct statements to cache.
const ROWS_PER_STATEMENT: usize = 64;

type Reply = oneshot::Sender<Result<InsertOutcome, StoreError>>;

/// How to stop the writer: the signal to send, and the task to wait for.
type Stop = (oneshot::Sender<()>, JoinHandle<()>);

struct Pending {
    message: Message,
    reply: Reply,
}

/// The sending side of the writer, cloned into every request.
#[derive(Clone)]
pub struct WriteQueue {
    sender: mpsc::Sender<Pending>,
    stop: Arc<Mutex<Option<Stop>>>,
}

impl WriteQueue {
    /// Starts the writer task on `pool` (which should hold one connection).
    pub fn start(
        pool: SqlitePool,
        capacity: usize,
        batch_max: usize,
        metrics: WriterMetrics,
    ) -> Self {
        let (sender, receiver) = mpsc::channel(capacity);
        let (stop_sender, stop_receiver) = oneshot::channel();
        let task = tokio::spawn(run(pool, receiver, stop_receiver, batch_max, metrics));
        Self {
            sender,
            stop: Arc::new(Mutex::new(Some((stop_sender, task)))),
        }
    }

    /// Queues `message` and waits until its batch is committed (or failed).
    pub async fn submit(&self, message: Message) -> Result<InsertOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .try_send(Pending { message, reply })
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => StoreError::Overloaded,
                mpsc::error::TrySendError::Closed(_) => {
                    StoreError::Unavailable("the writer has stopped".to_owned())
                }
            })?;
        answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("the writer has stopped".to_owned())))
    }

    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Stops taking messages, commits what is queued, and waits for the writer to end.
    pub async fn close(&self) {
        let stop = self.stop.lock().expect("writer stop lock").take();
        if let Some((stop, task)) = stop {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

async fn run(
    pool: SqlitePool,
    mut receiver: mpsc::Receiver<Pending>,
    mut stop: oneshot::Receiver<()>,
    batch_max: usize,
    metrics: WriterMetrics,
) {
    let mut batch = Vec::with_capacity(batch_max);
    let mut stopping = false;
    loop {
        tokio::select! {
            received = receiver.recv_many(&mut batch, batch_max) => {
                if received == 0 {
                    break;
                }
            }
            _ = &mut stop, if !stopping => {
                // Messages already queued are still received and committed.
                stopping = true;
                receiver.close();
                continue;
            }
        }
        metrics.queue_depth.set(receiver.len() as i64);
        let started = Instant::now();
        let outcome = commit(&pool, &batch).await;
        metrics.observe_commit(batch.len(), started.elapsed());
        match outcome {
            Ok(outcomes) => {
                for (pending, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = pending.reply.send(Ok(outcome));
                }
            }
            Err(error) => {
                tracing::error!(error = %error, batch = batch.len(), "could not commit a batch of webhooks");
                for pending in batch.drain(..) {
                    let _ = pending
                        .reply
                        .send(Err(StoreError::Unavailable(error.to_string())));
                }
            }
        }
    }
    pool.close().await;
}

/// Inserts `batch` in one transaction; learns per row whether it was new.
async fn commit(pool: &SqlitePool, batch: &[Pending]) -> Result<Vec<InsertOutcome>, sqlx::Error> {
    let created_at = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    let mut transaction = pool.begin().await?;
    let mut created = HashSet::with_capacity(batch.len());
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        let mut insert = QueryBuilder::new(INSERT_MESSAGES);
        insert.push_values(chunk, |mut row, Pending { message, .. }| {
            row.push_bind(&message.message_id)
                .push_bind(&message.from)
                .push_bind(&message.to)
                .push_bind(message.ts.as_str())
                .push_bind(message.ts.sort_key())
                .push_bind(message.text.as_deref())
                .push_bind(message.text.as_deref().map(super::fold_case))
                .push_bind(&created_at);
        });
        insert.push(ON_CONFLICT_RETURNING);
        let ids: Vec<String> = insert
            .build_query_scalar()
            .fetch_all(&mut *transaction)
            .await?;
        created.extend(ids);
    }
    transaction.commit().await?;
    // Only the first occurrence of an id in the batch can have created its row.
    Ok(batch
        .iter()
        .map(
            |pending| match created.remove(&pending.message.message_id) {
                true => InsertOutcome::Created,
                false => InsertOutcome::Duplicate,
            },
        )
        .collect())
}
