//! Builds a large database through the real store (the same writer, triggers and
//! indexes the service uses), with skewed senders, a year of timestamps and texts
//! drawn from a vocabulary with common, rare and non-ASCII words.
//!
//! cargo run --release --example seed -- --database /tmp/big.db --messages 1000000
//! cargo run --release --example seed -- --database postgres://postgres@127.0.0.1/big \
//!     --messages 1000000
//!
//! `--database` is a SQLite file path, or a `postgres://` / `postgresql://` URL of an
//! existing (empty) database: the store applies the migrations, as the service does.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use futures::stream::{self, StreamExt};
use webhook_inbox::config::{DatabaseLocation, Synchronous};
use webhook_inbox::message::Message;
use webhook_inbox::metrics::Metrics;
use webhook_inbox::store::{Store, StoreOptions};
use webhook_inbox::timestamp::Timestamp;

const COMMON: &[&str] = &["hello", "order", "thanks", "delivery", "payment", "today"];
const RARE: &str = "zanzibar";
const NON_ASCII: &[&str] = &["café", "naïve", "ÉCOLE", "привет", "größe", "🚀"];
const SENDERS: u64 = 5_000;
const SECONDS_PER_YEAR: u64 = 365 * 24 * 3600;
const USAGE: &str = "usage: seed --database PATH|postgres://URL [--messages N]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut database, mut messages) = (None, 1_000_000u64);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--database", Some(target)) => database = Some(location(target)),
            ("--messages", Some(count)) => messages = count.parse().unwrap_or(messages),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(database) = database else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(seed(database, messages))
}

/// A PostgreSQL URL as given, anything else a SQLite file path.
fn location(target: String) -> DatabaseLocation {
    match target.starts_with("postgres://") || target.starts_with("postgresql://") {
        true => DatabaseLocation::Postgres(target),
        false => DatabaseLocation::File(PathBuf::from(target)),
    }
}

async fn seed(database: DatabaseLocation, messages: u64) -> ExitCode {
    // Shown without a PostgreSQL password.
    let shown = match &database {
        DatabaseLocation::File(path) => path.display().to_string(),
        other => format!("{other:?}"),
    };
    let options = StoreOptions {
        location: database,
        synchronous: Synchronous::Full,
        // A bulk load: the writer's own checkpoints only (the most throughput).
        retention: None,
        read_connections: 1,
        read_timeout: None,
        write_queue_capacity: 8192,
        write_batch_max: 1024,
    };
    let store = match Store::open(&options, Metrics::new().writer.clone()).await {
        Ok(store) => store,
        Err(error) => {
            eprintln!("seed: cannot open {shown}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let inserted = stream::iter(0..messages)
        .map(|index| {
            let store = store.clone();
            async move { store.insert(generate(index, messages)).await }
        })
        .buffer_unordered(4096)
        .enumerate()
        .filter_map(|(done, result)| async move {
            if (done + 1) % 100_000 == 0 {
                eprintln!("seed: {} messages", done + 1);
            }
            result.ok()
        })
        .count()
        .await;
    store.close().await;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "seeded {inserted} of {messages} messages into {shown} in {seconds:.1} s ({:.0}/s)",
        inserted as f64 / seconds
    );
    if inserted as u64 == messages {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Message `index` of `total`: deterministic, so every run builds the same database.
fn generate(index: u64, total: u64) -> Message {
    let mut random = Random(index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    // Skewed senders: a few very busy ones, a long tail.
    let sender = (random.below(SENDERS) * random.below(SENDERS)) / SENDERS;
    let second = index * SECONDS_PER_YEAR / total.max(1) + random.below(600);
    let text = match random.below(10) {
        0 => None,
        _ => Some(text(&mut random)),
    };
    Message {
        message_id: format!("seed-{index:09}"),
        from: format!("+91{:010}", 9_000_000_000 + sender),
        to: "+14155550100".to_owned(),
        ts: Timestamp::parse(&timestamp(second, random.below(1000))).expect("valid ts"),
        text,
    }
}

fn text(random: &mut Random) -> String {
    let words = 3 + random.below(8);
    (0..words)
        .map(|_| match random.below(1000) {
            0..=59 => COMMON[random.below(COMMON.len() as u64) as usize].to_owned(),
            60..=69 => NON_ASCII[random.below(NON_ASCII.len() as u64) as usize].to_owned(),
            70 if random.below(50) == 0 => RARE.to_owned(),
            _ => syllables(random),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A made-up word of 2–4 syllables, from a few thousand possibilities.
fn syllables(random: &mut Random) -> String {
    const PARTS: &[&str] = &[
        "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "be", "da", "po", "xi", "gu", "fe", "ha",
        "jo", "ne", "qu", "wa", "zo",
    ];
    (0..2 + random.below(3))
        .map(|_| PARTS[random.below(PARTS.len() as u64) as usize])
        .collect()
}

/// `2025-01-01T00:00:00Z` plus `second` seconds and `millis` milliseconds.
fn timestamp(second: u64, millis: u64) -> String {
    const DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (mut day, time) = ((second / 86_400).min(364), second % 86_400);
    let mut month = 0;
    while day >= DAYS[month] {
        day -= DAYS[month];
        month += 1;
    }
    format!(
        "2025-{:02}-{:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        month + 1,
        day + 1,
        time / 3600,
        (time / 60) % 60,
        time % 60
    )
}

/// xorshift64: enough randomness for test data, and reproducible.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound.max(1)
    }
}
