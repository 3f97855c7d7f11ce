//! Inserts messages like the load generator's straight into a SQLite database, in
//! batches of an exact size, one multi-row `INSERT … ON CONFLICT DO NOTHING` each, as
//! the writer does; no HTTP, no writer, no timing. Run under `valgrind --tool=callgrind`
//! (see `scripts/bench-instructions.sh`), it tells what each part of the schema costs
//! in instructions, which unlike seconds do not depend on what else the machine runs.
//!
//! cargo run --release --example schemacost -- --database /tmp/cost.db \
//!     --messages 10000 --batch 22 [--setup 'DROP INDEX messages_by_ts;']
//!
//! The store creates the database and applies the migrations; `--setup` then runs on
//! it, before the inserts (to drop part of the schema, say). Prints the WAL frames
//! written per message.

use std::path::PathBuf;
use std::process::ExitCode;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection, Executor, QueryBuilder, SqliteConnection};
use webhook_inbox::config::{DatabaseLocation, Synchronous};
use webhook_inbox::metrics::Metrics;
use webhook_inbox::store::{fold_case, Store, StoreOptions};
use webhook_inbox::timestamp::Timestamp;

const USAGE: &str = "usage: schemacost --database PATH [--messages N] [--batch N] [--setup SQL]";
/// The load generator's texts and senders.
const TEXTS: [&str; 5] = [
    "Hello",
    "Order shipped",
    "Your code is 123456",
    "See you at 5",
    "Thanks!",
];
const SENDERS: usize = 1000;
/// SQLite's WAL frame: a 24-byte header and a 4 KiB page.
const FRAME_BYTES: f64 = 24.0 + 4096.0;

struct Options {
    database: PathBuf,
    messages: usize,
    batch: usize,
    setup: String,
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
    };
    while let Some(flag) = args.next() {
        let value = args.next()?;
        match flag.as_str() {
            "--database" => options.database = PathBuf::from(value),
            "--messages" => options.messages = value.parse().ok()?,
            "--batch" => options.batch = value.parse().ok().filter(|&n| n > 0)?,
            "--setup" => options.setup = value,
            _ => return None,
        }
    }
    (!options.database.as_os_str().is_empty()).then_some(options)
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
    let mut connection = SqliteConnectOptions::new()
        .filename(&options.database)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("temp_store", "MEMORY")
        .pragma("wal_autocheckpoint", "40000")
        .connect()
        .await?;
    if !options.setup.is_empty() {
        connection.execute(options.setup.as_str()).await?;
    }
    let indexes: Vec<usize> = (0..options.messages).collect();
    for batch in indexes.chunks(options.batch) {
        insert(&mut connection, batch).await?;
    }
    let wal = std::fs::metadata(format!("{}-wal", options.database.display()))
        .map_or(0, |metadata| metadata.len());
    println!(
        "{} messages in batches of {}: {:.2} WAL frames per message",
        options.messages,
        options.batch,
        wal as f64 / FRAME_BYTES / options.messages.max(1) as f64
    );
    connection.close().await
}

/// Messages `batch` in one statement, as the writer inserts a batch.
async fn insert(connection: &mut SqliteConnection, batch: &[usize]) -> Result<(), sqlx::Error> {
    let messages: Vec<_> = batch.iter().map(|&index| message(index)).collect();
    let mut insert = QueryBuilder::new(
        "INSERT INTO messages \
         (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) ",
    );
    insert.push_values(&messages, |mut row, (id, from, ts, text)| {
        row.push_bind(id)
            .push_bind(from)
            .push_bind("+14155550100")
            .push_bind(ts.as_str())
            .push_bind(ts.sort_key())
            .push_bind(text)
            .push_bind(fold_case(text))
            .push_bind("2025-01-15T00:00:00.000000Z");
    });
    insert.push(" ON CONFLICT (message_id) DO NOTHING");
    insert.build().execute(&mut *connection).await.map(drop)
}

/// Message `index` as the load generator writes it: id, sender, ts and text.
fn message(index: usize) -> (String, String, Timestamp, String) {
    let ts = format!(
        "2025-01-15T{:02}:{:02}:{:02}.{:03}Z",
        (index / 3_600_000) % 24,
        (index / 60_000) % 60,
        (index / 1000) % 60,
        index % 1000
    );
    (
        format!("bench-{index}"),
        format!("+9198{:08}", index % SENDERS),
        Timestamp::parse(&ts).expect("a valid ts"),
        format!("{} #{index}", TEXTS[index % TEXTS.len()]),
    )
}
