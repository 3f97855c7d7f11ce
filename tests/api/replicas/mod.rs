//! Several server processes sharing one PostgreSQL database, as replicas behind a load
//! balancer: migrations applied once when they start together, each message stored
//! once when the same one reaches several replicas at the same moment, aggregates that
//! stay exact under concurrent inserts, and no lost 200 when one replica dies.
//!
//! PostgreSQL only: without `TEST_POSTGRES_URL` each test says it is skipped and passes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::join_all;
use futures::{stream, StreamExt};
use serde_json::{json, Value};
use webhook_inbox::timestamp::Timestamp;

use crate::helpers::{
    json_ok, message, message_ids, postgres_or_skip, sign, with, TestApp, TestDatabase,
};

mod traffic;

/// How long a replica may take to make progress before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// The sender of message number `n`, out of `senders`: twelve digits, so that text
/// order is numeric order.
fn sender(n: usize, senders: usize) -> String {
    format!("+9100000{:05}", n % senders)
}

/// The order of instants, as the service keys them.
fn instant_key(ts: &str) -> String {
    Timestamp::parse(ts)
        .expect("a contract timestamp")
        .sort_key()
        .to_owned()
}

/// The value of the `webhook_requests_total` series for `result`.
async fn webhook_results(app: &TestApp, result: &str) -> u64 {
    let series = format!("webhook_requests_total{{result=\"{result}\"}}");
    app.metrics()
        .await
        .lines()
        .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

/// A stored row: `(message_id, from, ts, text)`.
type Row = (String, String, String, Option<String>);
/// The same as PostgreSQL holds it: id and text are UTF-8 bytes (bytea).
type RawRow = (Vec<u8>, String, String, Option<Vec<u8>>);

/// Every stored row, read directly from the database.
async fn stored_rows(database: &TestDatabase) -> Vec<Row> {
    let mut connection = database.connect().await;
    let rows: Vec<RawRow> = connection
        .fetch_all("SELECT message_id, from_msisdn, ts, text FROM messages")
        .await;
    connection.close().await;
    let utf8 = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
    rows.into_iter()
        .map(|(id, from, ts, text)| (utf8(id), from, ts, text.map(utf8)))
        .collect()
}

/// The `/stats` body a full scan of `rows` (`(from, ts)` pairs) implies.
fn stats_of(rows: &[(String, String)]) -> Value {
    let mut per_sender: BTreeMap<&str, u64> = BTreeMap::new();
    for (from, _) in rows {
        *per_sender.entry(from).or_default() += 1;
    }
    let mut top: Vec<(&str, u64)> = per_sender.iter().map(|(f, c)| (*f, *c)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<Value> = top
        .iter()
        .take(10)
        .map(|(from, count)| json!({"from": from, "count": count}))
        .collect();
    let first = rows
        .iter()
        .map(|(_, ts)| ts)
        .min_by_key(|ts| instant_key(ts));
    let last = rows
        .iter()
        .map(|(_, ts)| ts)
        .max_by_key(|ts| instant_key(ts));
    json!({
        "total_messages": rows.len(),
        "senders_count": per_sender.len(),
        "messages_per_sender": top,
        "first_message_ts": first,
        "last_message_ts": last,
    })
}

/// Every `/messages` row of `app`, read page by page with the cursor.
async fn all_messages(app: &TestApp) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut page = app.messages("limit=100").await;
    loop {
        rows.extend(page["data"].as_array().expect("data").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => page = app.messages(&format!("limit=100&cursor={cursor}")).await,
            None => return rows,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_starting_at_once_on_an_empty_database_apply_each_migration_once() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;

    let replicas = join_all((0..3).map(|_| TestApp::spawn_on(database.clone(), &[]))).await;

    for replica in &replicas {
        assert_eq!(
            json_ok(replica.get("/health/ready").await).await,
            json!({"status": "ok"})
        );
    }
    let mut connection = database.connect().await;
    let applied: Vec<(i64, i64)> = connection
        .fetch_all(
            "SELECT version, COUNT(*) FROM _sqlx_migrations WHERE success \
             GROUP BY version ORDER BY version",
        )
        .await;
    connection.close().await;
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("the PostgreSQL migrations")
        .filter(|entry| {
            let entry = entry.as_ref().expect("a directory entry");
            entry.file_name().to_string_lossy().ends_with(".sql")
        })
        .count();
    assert_eq!(
        applied.len(),
        embedded,
        "every migration applied: {applied:?}"
    );
    assert!(applied.iter().all(|(_, times)| *times == 1), "{applied:?}");
    // One database behind all three.
    json_ok(replicas[0].post_webhook(&message("shared")).await).await;
    for replica in &replicas {
        assert_eq!(message_ids(&replica.messages("").await), ["shared"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_messages_posted_at_once_to_two_replicas_are_stored_once_and_all_answered_200() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    const IDS: usize = 50;
    const POSTS_PER_REPLICA: usize = 3;
    const SENDERS: usize = 7;
    let database = TestDatabase::postgres(&server).await;
    let (a, b) = tokio::join!(
        TestApp::spawn_on(database.clone(), &[]),
        TestApp::spawn_on(database.clone(), &[])
    );
    // Each replica gets its own version of every message (only the text differs);
    // whichever commits first is the one kept.
    let version = |n: usize, replica: &str| {
        with(
            message(&format!("dup-{n:02}")),
            json!({
                "from": sender(n, SENDERS),
                "ts": format!("2025-01-15T10:{:02}:{:02}.5Z", n / 60, n % 60),
                "text": format!("via {replica}"),
            }),
        )
    };
    let mut posts = Vec::new();
    for n in 0..IDS {
        for _ in 0..POSTS_PER_REPLICA {
            posts.push((&a, version(n, "a")));
            posts.push((&b, version(n, "b")));
        }
    }

    // Every post in flight at once, each on a connection of its own.
    let answers = join_all(posts.iter().map(|(app, body)| app.post_webhook(body))).await;

    for (answer, (_, body)) in answers.into_iter().zip(&posts) {
        let status = answer.status();
        let text = answer.text().await.expect("body");
        assert_eq!(status, 200, "{body}: {text}");
        assert_eq!(text, r#"{"status":"ok"}"#, "{body}");
    }
    let rows = stored_rows(&database).await;
    assert_eq!(rows.len(), IDS, "one row per message_id");
    let mut kept: HashMap<String, Value> = HashMap::new();
    for (id, from, ts, text) in &rows {
        let n: usize = id.strip_prefix("dup-").unwrap().parse().unwrap();
        let expected = [version(n, "a"), version(n, "b")];
        let stored = json!({"message_id": id, "from": from, "to": "+14155550100",
                            "ts": ts, "text": text});
        assert!(
            expected.contains(&stored),
            "{stored} is one of the posted versions"
        );
        kept.insert(id.clone(), stored);
    }
    // Both replicas serve exactly the kept versions, in order, and exact totals.
    let (pages_a, pages_b) = tokio::join!(all_messages(&a), all_messages(&b));
    assert_eq!(pages_a, pages_b);
    assert_eq!(pages_a.len(), IDS);
    for row in &pages_a {
        assert_eq!(Some(row), kept.get(row["message_id"].as_str().unwrap()));
    }
    let mut per_sender: Vec<Value> = (0..SENDERS)
        .map(|s| json!({"from": sender(s, SENDERS), "count": (IDS - s).div_ceil(SENDERS)}))
        .collect();
    per_sender.sort_by_key(|row| std::cmp::Reverse(row["count"].as_u64()));
    let expected = json!({
        "total_messages": IDS,
        "senders_count": SENDERS,
        "messages_per_sender": per_sender,
        "first_message_ts": "2025-01-15T10:00:00.5Z",
        "last_message_ts": format!("2025-01-15T10:00:{:02}.5Z", IDS - 1),
    });
    assert_eq!(a.stats().await, expected);
    assert_eq!(b.stats().await, expected);
    for s in 0..SENDERS {
        let from = sender(s, SENDERS).replace('+', "%2B");
        let count = (IDS - s).div_ceil(SENDERS);
        assert_eq!(a.messages(&format!("from={from}")).await["total"], count);
        assert_eq!(b.messages(&format!("from={from}")).await["total"], count);
    }
    // Across the replicas, exactly one post per id created its row.
    let created = webhook_results(&a, "created").await + webhook_results(&b, "created").await;
    let duplicates =
        webhook_results(&a, "duplicate").await + webhook_results(&b, "duplicate").await;
    assert_eq!(created, IDS as u64);
    assert_eq!(duplicates, (IDS * (2 * POSTS_PER_REPLICA - 1)) as u64);
}
