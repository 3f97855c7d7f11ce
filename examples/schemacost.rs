//! Inserts the load generator's messages straight into a SQLite database, in batches
//! of an exact size, each with the writer's own statement (`insert_sqlite_messages`);
//! no HTTP, no writer's queue, no timing. Run under `valgrind --tool=callgrind` (see
//! `scripts/bench-instructions.sh`), it tells what each part of the schema costs in
//! instructions, which unlike seconds do not depend on what else the machine runs.
//!
//! cargo run --release --example schemacost -- --database /tmp/cost.db \
//!     --messages 10000 --batch 22 [--setup 'DROP INDEX messages_by_ts;'] \
//!     [--every 16384 --periodic 'BEGIN IMMEDIATE; …; COMMIT;']
//!
//! The store creates the database and applies the migrations; `--setup` then runs on
//! it, before the inserts (to drop part of the schema, say); `--periodic` runs after the
//! batch that reaches each multiple of `--every` messages (to try building part of the
//! schema behind the inserts, say: docs/performance.md). Between batches it merges
//! rows into the `(from, ts)` order as the writer does. Prints the WAL frames written
//! per message (right only until the first checkpoint, at 40,000 pages) and the wall
//! time per message.

use std::path::PathBuf;
use std::process::ExitCode;

use sqlx::{ConnectOptions, Connection, Executor};
use webhook_inbox::config::{DatabaseLocation, Synchronous};
use webhook_inbox::message::Message;
use webhook_inbox::metrics::Metrics;
use webhook_inbox::store::{
    insert_sqlite_messages, sqlite_write_connect_options, SqliteSenderOrder, SqliteWindowCopy,
    Store, StoreOptions,
};
use webhook_inbox::timestamp::Timestamp;

#[path = "support/traffic.rs"]
mod traffic;

const USAGE: &str = "usage: schemacost --database PATH [--messages N] [--batch N] [--setup SQL] \
     [--every N --periodic SQL]";
/// The load generator's default number of senders.
const SENDERS: usize = 1000;
/// SQLite's WAL frame: a 24-byte header and a 4 KiB page.
const FRAME_BYTES: f64 = 24.0 + 4096.0;

struct Options {
    database: PathBuf,
    messages: usize,
    batch: usize,
    setup: String,
    every: usize,
    periodic: String,
}

fn main() -> ExitCode {
    let Some(options) = parse(std::env::args().skip(1)) else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("schemacost: {error}");
            ExitCode::FAILURE
        }
    }
}

fn parse(mut args: impl Iterator<Item = String>) -> Option<Options> {
    let mut options = Options {
        database: PathBuf::new(),
        messages: 10_000,
        batch: 22,
        setup: String::new(),
        every: 0,
        periodic: String::new(),
    };
    while let Some(flag) = args.next() {
        let value = args.next()?;
        match flag.as_str() {
            "--database" => options.database = PathBuf::from(value),
            "--messages" => options.messages = value.parse().ok()?,
            "--batch" => options.batch = value.parse().ok().filter(|&n| n > 0)?,
            "--setup" => options.setup = value,
            "--every" => options.every = value.parse().ok()?,
            "--periodic" => options.periodic = value,
            _ => return None,
        }
    }
    // `--every` and `--periodic` come together or not at all.
    let periodic = (options.every == 0) == options.periodic.is_empty();
    (!options.database.as_os_str().is_empty() && periodic).then_some(options)
}

async fn run(options: Options) -> Result<(), sqlx::Error> {
    // The schema exactly as the service creates it.
    let store = StoreOptions {
        location: DatabaseLocation::File(options.database.clone()),
        synchronous: Synchronous::Normal,
        checkpoint_interval: None,
        read_connections: 1,
        read_timeout: None,
        write_queue_capacity: 1,
        write_batch_max: 1,
    };
    Store::open(&store, Metrics::new().writer.clone())
        .await?
        .close()
        .await;
    // The write connection's settings, without the writer's WAL sync.
    let mut connection = sqlite_write_connect_options(&options.database)
        .connect()
        .await?;
    if !options.setup.is_empty() {
        connection.execute(options.setup.as_str()).await?;
    }
    let indexes: Vec<usize> = (0..options.messages).collect();
    let mut sender_order = SqliteSenderOrder::default();
    let started = std::time::Instant::now();
    for batch in indexes.chunks(options.batch) {
        let messages: Vec<Message> = batch.iter().map(|&number| message(number)).collect();
        let inserted =
            insert_sqlite_messages(&mut connection, &messages, "2025-01-15T00:00:00.000000Z")
                .await?;
        let stored = batch[batch.len() - 1] + 1;
        if options.every > 0 && stored / options.every > batch[0] / options.every {
            connection.execute(options.periodic.as_str()).await?;
        }
        // Between batches, as the writer does.
        sender_order.stored(inserted.rows_affected() as usize);
        if sender_order.due() {
            sender_order
                .step(&mut connection, false, SqliteWindowCopy::Inline)
                .await?;
        }
    }
    let took = started.elapsed();
    let wal = std::fs::metadata(format!("{}-wal", options.database.display()))
        .map_or(0, |metadata| metadata.len());
    println!(
        "{} messages in batches of {}: {:.2} WAL frames per message, {:.2} µs per message",
        options.messages,
        options.batch,
        wal as f64 / FRAME_BYTES / options.messages.max(1) as f64,
        took.as_secs_f64() * 1e6 / options.messages.max(1) as f64
    );
    connection.close().await
}

/// Message `number` as the load generator sends it.
fn message(number: usize) -> Message {
    let fields = traffic::fields("bench", number, SENDERS);
    Message {
        message_id: fields.message_id,
        from: fields.from,
        to: traffic::TO.to_owned(),
        ts: Timestamp::parse(&fields.ts).expect("a valid ts"),
        text: Some(fields.text),
    }
}
