//! Backup of a live SQLite file: `VACUUM INTO` taken while webhooks keep arriving gives
//! a database that a second service opens with every message acknowledged before the
//! backup started, whose search index passes its check, and whose answers agree with
//! its rows.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use tokio::sync::Notify;

use crate::helpers::{json_ok, message, message_ids, with, TestApp, TestDatabase};

/// Concurrent senders, and the most messages each sends (the load stops by itself).
const SENDERS: usize = 8;
const MOST_PER_SENDER: usize = 5_000;
/// Acknowledged messages before the backup starts.
const BEFORE_BACKUP: usize = 400;

/// What the senders share with the backup.
#[derive(Default)]
struct Load {
    acknowledged: Mutex<Vec<String>>,
    acknowledged_changed: Notify,
    stop: AtomicBool,
}

#[tokio::test]
async fn a_backup_taken_under_write_load_restores_every_message_acknowledged_before_it() {
    let app = TestApp::spawn_on(TestDatabase::sqlite(), &[]).await;
    let load = Load::default();
    let backup_dir = tempfile::tempdir().expect("temporary directory");
    let backup_path = backup_dir.path().join("app.db");

    let senders = join_all((0..SENDERS).map(|sender| send_until_stopped(&app, &load, sender)));
    let backup = async {
        wait_for_acknowledged(&load, BEFORE_BACKUP).await;
        let before = load.acknowledged.lock().unwrap().clone();
        vacuum_into(&app.database_path(), &backup_path).await;
        load.stop.store(true, Ordering::SeqCst);
        before
    };
    let (_, before) = tokio::join!(senders, backup);

    let after = load.acknowledged.lock().unwrap().len();
    assert!(
        after > before.len(),
        "the senders were still being acknowledged after the backup started"
    );
    let mut copy = connect(&backup_path).await;
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut copy)
        .await
        .expect("integrity check");
    assert_eq!(check, "ok");
    // The trigram index holds exactly the folded text of every row (an error if not).
    sqlx::query("INSERT INTO messages_text (messages_text, rank) VALUES ('integrity-check', 1)")
        .execute(&mut copy)
        .await
        .expect("the trigram index's check");
    copy.close().await.expect("close");

    let restored = TestApp::spawn_on(TestDatabase::sqlite_in(backup_dir), &[]).await;
    assert_eq!(
        json_ok(restored.get("/health/ready").await).await["status"],
        "ok"
    );
    let listed = every_message_id(&restored).await;
    let listed: HashSet<&str> = listed.iter().map(String::as_str).collect();
    for id in &before {
        assert!(
            listed.contains(id.as_str()),
            "{id} was acknowledged before the backup started but is not in it"
        );
    }
    let mut rows = restored.open_database().await;
    let row_count = rows.count_messages().await;
    let (senders_count,): (i64,) = rows
        .fetch_one("SELECT COUNT(DISTINCT from_msisdn) FROM messages")
        .await;
    let (first_sender_rows,): (i64,) = rows
        .fetch_one(&format!(
            "SELECT COUNT(*) FROM messages WHERE from_msisdn = '{}'",
            sender_msisdn(0)
        ))
        .await;
    rows.close().await;
    assert_eq!(listed.len() as i64, row_count, "/messages lists every row");
    let stats = restored.stats().await;
    assert_eq!(stats["total_messages"], row_count);
    assert_eq!(stats["senders_count"], senders_count);
    let from_first = restored
        .messages(&format!("limit=1&from=%2B{}", &sender_msisdn(0)[1..]))
        .await;
    assert_eq!(from_first["total"], first_sender_rows);
}

/// Posts messages `b{sender}-{n}` one after another until the backup is done, recording
/// each one answered 200. A 503 (the write queue is full) is a refusal, not a failure.
async fn send_until_stopped(app: &TestApp, load: &Load, sender: usize) {
    for n in 0..MOST_PER_SENDER {
        if load.stop.load(Ordering::SeqCst) {
            return;
        }
        let id = format!("b{sender}-{n}");
        let body = with(
            message(&id),
            json!({
                "from": sender_msisdn(sender),
                "ts": format!("2025-01-15T10:{:02}:{:02}Z", n / 60 % 60, n % 60),
                // Some without text, which the trigram index's check must also accept.
                "text": (n % 5 != 0).then(|| format!("message {n} from sender {sender}")),
            }),
        );
        let response = app.post_webhook(&body).await;
        match response.status().as_u16() {
            200 => {
                load.acknowledged.lock().unwrap().push(id);
                load.acknowledged_changed.notify_waiters();
            }
            503 => {}
            status => panic!("{id} answered {status}"),
        }
    }
}

fn sender_msisdn(sender: usize) -> String {
    format!("+9198765432{sender:02}")
}

/// Waits until at least `count` messages were acknowledged.
async fn wait_for_acknowledged(load: &Load, count: usize) {
    loop {
        let changed = load.acknowledged_changed.notified();
        if load.acknowledged.lock().unwrap().len() >= count {
            return;
        }
        changed.await;
    }
}

/// The backup, as an operator takes it: `VACUUM INTO` on a connection of its own to
/// the live file, which the service keeps writing to meanwhile.
async fn vacuum_into(live: &Path, backup: &Path) {
    let mut connection = connect(live).await;
    sqlx::query("VACUUM INTO ?")
        .bind(backup.to_str().expect("a UTF-8 path"))
        .execute(&mut connection)
        .await
        .expect("VACUUM INTO");
    connection.close().await.expect("close");
}

async fn connect(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()))
}

/// Every `message_id` that `/messages` lists, page after page by `next_cursor`.
async fn every_message_id(app: &TestApp) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page: Value = app.messages("limit=100").await;
    loop {
        ids.extend(message_ids(&page));
        let Some(cursor) = page["next_cursor"].as_str() else {
            return ids;
        };
        page = app.messages(&format!("limit=100&cursor={cursor}")).await;
    }
}
