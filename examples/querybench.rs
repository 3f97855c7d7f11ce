//! Read benchmark: times each query shape of `/messages` and `/stats` over one
//! keep-alive connection and prints p50/p99 latency with the `total` it answered.
//! `first ms` is the shape's first request alone: what a query costs before anything
//! the server remembers between requests (such as the SQLite backend's search
//! totals) can help; the percentiles are over every request, first included.
//!
//! cargo run --release --example querybench -- --url http://127.0.0.1:8000 [--requests 200]
//!
//! The cursor shape pages 1,000 pages deep, or as deep as a smaller database allows
//! (its label says how deep).

use std::process::ExitCode;
use std::time::Instant;

mod support;
use support::{connect, get, percentile_ms, Connection};

/// A quiet sender of `examples/seed.rs`: 41 messages over the year at 1,000,000, so
/// its first page reads every day of the sender index.
const QUIET_SENDER: &str = "%2B919000004000";
/// The busiest sender of `examples/seed.rs` and a point near the end of its year.
const BUSY_SENDER: &str = "%2B919000000000";
const RECENT: &str = "2025-12-28T00:00:00Z";
const LONG_AGO: &str = "2024-01-01T00:00:00Z";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut url, mut requests) = ("http://127.0.0.1:8000".to_owned(), 200usize);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next()) {
            ("--url", Some(value)) => url = value,
            ("--requests", Some(value)) => requests = value.parse().unwrap_or(requests),
            _ => {
                eprintln!("usage: querybench [--url URL] [--requests N]");
                return ExitCode::from(2);
            }
        }
    }
    let authority = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(run(authority, requests))
}

async fn run(authority: String, requests: usize) -> ExitCode {
    let Some(mut connection) = connect(&authority).await else {
        eprintln!("querybench: cannot connect to {authority}");
        return ExitCode::FAILURE;
    };
    let Some(stored) = stored_total(&mut connection, &authority).await else {
        eprintln!("querybench: /stats did not answer a total");
        return ExitCode::FAILURE;
    };
    // A page of 50 (the default limit) has a next cursor while rows remain after it.
    let depth = (stored.saturating_sub(1) / 50).min(1000) as usize;
    let deep_cursor = match cursor_at_depth(&mut connection, &authority, depth).await {
        Some(cursor) => cursor,
        None => {
            eprintln!("querybench: could not page {} pages deep", thousands(depth));
            return ExitCode::FAILURE;
        }
    };
    let cursor_shape = format!("cursor, {} pages deep", thousands(depth));
    let shapes: Vec<(&str, String)> = vec![
        ("first page, unfiltered", "/messages".into()),
        (
            "from (busiest sender)",
            format!("/messages?from={BUSY_SENDER}"),
        ),
        (
            "from (a quiet sender)",
            format!("/messages?from={QUIET_SENDER}"),
        ),
        ("since, recent", format!("/messages?since={RECENT}")),
        ("since, very old", format!("/messages?since={LONG_AGO}")),
        ("q, common word", "/messages?q=hello".into()),
        ("q, rare word", "/messages?q=zanzibar".into()),
        ("q, 2 letters", "/messages?q=ka".into()),
        // Only "zanzibar" holds "zi": as rare as the rare word, but no index serves it.
        ("q, 2 letters, rare", "/messages?q=zi".into()),
        ("q, 2 letters, no match", "/messages?q=zz".into()),
        ("q, non-ASCII", "/messages?q=%C3%89cole".into()),
        (
            "from + since + q",
            format!("/messages?from={BUSY_SENDER}&since=2025-06-01T00:00:00Z&q=order"),
        ),
        ("offset=10000", "/messages?offset=10000".into()),
        (
            cursor_shape.as_str(),
            match &deep_cursor {
                Some(cursor) => format!("/messages?cursor={cursor}"),
                None => "/messages".into(),
            },
        ),
        ("/stats", "/stats".into()),
    ];
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>10}",
        "query", "p50 ms", "p99 ms", "first ms", "total"
    );
    let mut failed = false;
    for (name, path) in shapes {
        let mut samples = Vec::with_capacity(requests);
        let mut total = String::from("-");
        for _ in 0..requests {
            let started = Instant::now();
            let Ok((status, body)) = get(&mut connection, &authority, &path).await else {
                failed = true;
                break;
            };
            samples.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            if status != 200 {
                eprintln!("querybench: {path} answered {status}");
                failed = true;
                break;
            }
            if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&body) {
                if let Some(value) = json.get("total").or_else(|| json.get("total_messages")) {
                    total = value.to_string();
                }
            }
        }
        let first = samples.first().map_or(0.0, |&us| f64::from(us) / 1000.0);
        samples.sort_unstable();
        println!(
            "{name:<28} {:>9.2} {:>9.2} {first:>9.2} {total:>10}",
            percentile_ms(&samples, 0.50),
            percentile_ms(&samples, 0.99)
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `total_messages` from `/stats`.
async fn stored_total(connection: &mut Connection, authority: &str) -> Option<u64> {
    let (_, body) = get(connection, authority, "/stats").await.ok()?;
    let stats: serde_json::Value = serde_json::from_slice(&body).ok()?;
    stats["total_messages"].as_u64()
}

/// Follows `next_cursor` from the first page `depth` times; `Some(None)` for depth 0.
async fn cursor_at_depth(
    connection: &mut Connection,
    authority: &str,
    depth: usize,
) -> Option<Option<String>> {
    let mut path = "/messages".to_owned();
    let mut cursor = None;
    for _ in 0..depth {
        let (_, body) = get(connection, authority, &path).await.ok()?;
        let page: serde_json::Value = serde_json::from_slice(&body).ok()?;
        let next = page["next_cursor"].as_str()?.to_owned();
        path = format!("/messages?cursor={next}");
        cursor = Some(next);
    }
    Some(cursor)
}

/// `n` with a comma between groups of three digits: 1,000.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}
