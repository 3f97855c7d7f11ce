//! RETENTION: a message stored longer ago than that leaves every answer (`/messages`
//! with any filter, `total`, `/stats`), and its `message_id` may be stored again. On
//! the backend under test (`make test` / `make test-postgres`). Expiry is waited for by
//! polling; only the gap between two generations of messages is a deliberate pause.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::ConnectOptions;

use crate::helpers::{
    json_ok, message, message_ids, run_to_exit, with, TestApp, TestDatabase, SECRET,
};

async fn post_ok(app: &TestApp, bodies: &[Value]) {
    let responses = join_all(bodies.iter().map(|body| app.post_webhook(body))).await;
    for response in responses {
        assert_eq!(json_ok(response).await, json!({"status": "ok"}));
    }
}

fn sent(id: &str, from: &str, ts: &str, text: &str) -> Value {
    with(message(id), json!({"from": from, "ts": ts, "text": text}))
}

/// The value of one series in the Prometheus text of `/metrics`.
async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app.metrics().await;
    let line = text.lines().find(|line| {
        line.strip_prefix(series)
            .is_some_and(|rest| rest.starts_with(' '))
    });
    line.and_then(|line| line.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

const CREATED: &str = "webhook_requests_total{result=\"created\"}";
const DELETED: &str = "webhook_retention_deleted_total";

#[tokio::test]
async fn expired_messages_leave_every_answer_and_their_ids_are_stored_again() {
    let app = TestApp::spawn_with(&[("RETENTION", "3s")]).await;
    post_ok(
        &app,
        &[
            sent("a1", "+111", "2025-01-15T10:00:00Z", "alpha order"),
            sent("a2", "+111", "2025-01-15T11:00:00Z", "alpha"),
            sent("b1", "+222", "2025-01-15T12:00:00Z", "beta order"),
        ],
    )
    .await;
    assert_eq!(app.stats().await["total_messages"], 3);
    assert_eq!(app.messages("q=alpha").await["total"], 2);

    let stats = app.wait_for_total(0).await;
    assert_eq!(
        stats,
        json!({"total_messages": 0, "senders_count": 0, "messages_per_sender": [],
               "first_message_ts": null, "last_message_ts": null})
    );
    for query in [
        "",
        "q=alpha",
        "q=or",
        "from=%2B111",
        "since=2025-01-15T00:00:00Z",
    ] {
        let page = app.messages(query).await;
        assert_eq!(
            (page["total"].clone(), page["data"].clone()),
            (json!(0), json!([]))
        );
    }
    assert_eq!(metric(&app, DELETED).await, 3.0);
    let swept: u64 = app
        .logs()
        .iter()
        .filter(|line| line["message"] == "deleted expired messages")
        .map(|line| {
            assert_eq!(line["level"], "INFO", "{line}");
            line["deleted"].as_u64().expect("the count")
        })
        .sum();
    assert_eq!(swept, 3);

    // The same message_id after its message expired: stored again, as new.
    let again = sent("a1", "+333", "2025-01-16T10:00:00Z", "alpha again");
    post_ok(&app, std::slice::from_ref(&again)).await;
    assert_eq!(metric(&app, CREATED).await, 4.0);
    let page = app.messages("q=alpha").await;
    assert_eq!(
        (page["total"].clone(), page["data"].clone()),
        (json!(1), json!([again]))
    );
}

#[tokio::test]
async fn messages_expire_by_when_they_were_stored_and_the_newer_ones_stay_exact() {
    let app = TestApp::spawn_with(&[("RETENTION", "8s")]).await;
    post_ok(
        &app,
        &[
            sent("old1", "+111", "2025-01-01T10:00:00Z", "old order"),
            sent("old2", "+111", "2025-03-01T10:00:00Z", "old order"),
            sent("old3", "+111", "2025-03-02T10:00:00Z", "old"),
            sent("old4", "+444", "2025-03-03T10:00:00Z", "old order"),
        ],
    )
    .await;
    // A second generation, stored well after the first; older by `ts`, so order by
    // `ts` and order of storing differ.
    tokio::time::sleep(Duration::from_secs(4)).await;
    post_ok(
        &app,
        &[
            sent("new1", "+111", "2025-02-01T10:00:00Z", "new order"),
            sent("new2", "+333", "2025-02-02T10:00:00Z", "new"),
            sent("new3", "+333", "2025-02-03T10:00:00Z", "new"),
        ],
    )
    .await;
    assert_eq!(app.stats().await["total_messages"], 7);

    let stats = app.wait_for_total(3).await;
    assert_eq!(
        stats,
        json!({"total_messages": 3, "senders_count": 2,
               "messages_per_sender": [{"from": "+333", "count": 2}, {"from": "+111", "count": 1}],
               "first_message_ts": "2025-02-01T10:00:00Z",
               "last_message_ts": "2025-02-03T10:00:00Z"})
    );
    let page = app.messages("").await;
    assert_eq!(
        (page["total"].clone(), message_ids(&page)),
        (
            json!(3),
            ["new1", "new2", "new3"].map(String::from).to_vec()
        )
    );
    let expected: [(&str, u64, &[&str]); 4] = [
        ("q=order", 1, &["new1"]),
        ("q=OR", 1, &["new1"]),
        ("from=%2B111", 1, &["new1"]),
        ("since=2025-02-02T00:00:00Z", 2, &["new2", "new3"]),
    ];
    for (query, total, ids) in expected {
        let page = app.messages(query).await;
        assert_eq!(
            (page["total"].as_u64(), message_ids(&page)),
            (Some(total), ids.iter().map(|id| id.to_string()).collect()),
            "{query}"
        );
    }
    assert_eq!(metric(&app, DELETED).await, 4.0);

    // On a day whose messages all expired, a message counts, and is the first again.
    post_ok(
        &app,
        &[sent("late", "+555", "2025-01-01T12:00:00Z", "late")],
    )
    .await;
    let stats = app.stats().await;
    assert_eq!(
        (
            stats["total_messages"].clone(),
            stats["first_message_ts"].clone()
        ),
        (json!(4), json!("2025-01-01T12:00:00Z"))
    );
    let since = app.messages("since=2024-12-31T00:00:00Z").await;
    assert_eq!(since["total"], 4);
}

/// Webhooks keep arriving while the sweep deletes: each acknowledged message is there
/// right after its answer, and in the end every one was deleted exactly once.
#[tokio::test]
async fn ingest_and_expiry_at_once_lose_nothing_acknowledged_that_did_not_expire() {
    let app = TestApp::spawn_with(&[("RETENTION", "2s")]).await;
    let mut acknowledged = 0;
    let started = Instant::now();
    let mut wave = 0;
    while started.elapsed() < Duration::from_secs(5) {
        let ids: Vec<String> = (0..40).map(|n| format!("w{wave}-{n}")).collect();
        let bodies: Vec<Value> = ids.iter().map(|id| message(id)).collect();
        post_ok(&app, &bodies).await;
        acknowledged += ids.len();
        let mut database = app.database.connect().await;
        let stored = database.message_ids().await;
        database.close().await;
        for id in &ids {
            assert!(
                stored.contains(id),
                "{id} was acknowledged but is not stored"
            );
        }
        wave += 1;
    }
    app.wait_for_total(0).await;
    assert_eq!(metric(&app, CREATED).await, acknowledged as f64);
    assert_eq!(metric(&app, DELETED).await, acknowledged as f64);
    let mut database = app.database.connect().await;
    assert_eq!(database.count_messages().await, 0);
    database.close().await;
}

/// A retention longer than the time since 1970 keeps every message: the sweep's first
/// step, due at startup, once panicked and took the writer down with it.
#[tokio::test]
async fn a_retention_reaching_back_before_1970_keeps_everything() {
    let app = TestApp::spawn_with(&[("RETENTION", "100y")]).await;
    post_ok(
        &app,
        &[sent("kept", "+111", "2025-01-15T10:00:00Z", "kept")],
    )
    .await;
    assert_eq!(app.get("/health/ready").await.status(), 200);
    post_ok(
        &app,
        &[sent("kept2", "+111", "2025-01-15T10:00:01Z", "kept")],
    )
    .await;

    assert_eq!(app.stats().await["total_messages"], 2);
    let panics: Vec<_> = app
        .logs()
        .into_iter()
        .filter(|line| line["message"] == "panic")
        .collect();
    assert!(panics.is_empty(), "{panics:?}");
}

#[tokio::test]
async fn a_retention_that_is_not_a_positive_duration_stops_startup() {
    for bad in ["0s", "-5m", "forever", "10", "5 parsecs"] {
        let (status, stdout, stderr) = run_to_exit(&[
            ("WEBHOOK_SECRET", SECRET),
            ("DATABASE_URL", "sqlite::memory:"),
            ("PORT", "0"),
            ("RETENTION", bad),
        ])
        .await;
        assert!(!status.success(), "{bad:?}: {status}");
        let error = stdout.iter().find(|line| line["level"] == "ERROR");
        let error = error.unwrap_or_else(|| panic!("{bad:?}: no ERROR line in {stdout:?}"));
        assert_eq!(error["variable"], "RETENTION", "{error}");
        assert!(stdout.iter().all(|line| line["message"] != "listening"));
        assert_eq!(stderr, Vec::<String>::new());
    }
}

/// A database migrated by a newer version, or made before the schema was squashed into
/// one migration (0.1.0), records migrations this version does not have: it is refused,
/// untouched, with what to do about each.
#[tokio::test]
async fn a_database_of_a_newer_version_or_of_0_1_0_is_refused_with_what_to_do() {
    let cases: [(i64, &[&str]); 2] = [
        (
            20250115000010,
            &["0.1.0", "20250115000010", "DATABASE_URL", "new database"],
        ),
        (
            29991231000001,
            &["newer version", "29991231000001", "backup"],
        ),
    ];
    for (version, words) in cases {
        let database = TestDatabase::fresh().await;
        if !database.is_postgres() {
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(database.sqlite_path())
                .create_if_missing(true)
                .connect()
                .await
                .unwrap();
        }
        let mut connection = database.connect().await;
        connection
            .execute(&format!(
                "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, success BOOLEAN NOT NULL); \
                 INSERT INTO _sqlx_migrations VALUES ({version}, TRUE)"
            ))
            .await;
        let url = database.url();
        let (status, stdout, stderr) = run_to_exit(&[
            ("WEBHOOK_SECRET", SECRET),
            ("DATABASE_URL", &url),
            ("PORT", "0"),
        ])
        .await;
        assert!(!status.success(), "{status}");
        assert_eq!(stderr, Vec::<String>::new());
        let error = stdout.iter().find(|line| line["level"] == "ERROR");
        let error = error.unwrap_or_else(|| panic!("no ERROR line in {stdout:?}"))["error"]
            .as_str()
            .expect("the error")
            .to_owned();
        for words in words {
            assert!(error.contains(words), "{version}: {error}");
        }
        let tables: (i64,) = connection
            .fetch_one("SELECT COUNT(*) FROM _sqlx_migrations")
            .await;
        assert_eq!(tables, (1,), "nothing was migrated");
        connection.close().await;
    }
}

/// A search asked again is answered from totals remembered per block of stored rows
/// (4,096 to a block): they must follow rows stored into a counted block since, and
/// rows that expired from it, to the exact total and page.
#[tokio::test]
async fn a_search_asked_again_follows_new_and_expired_rows_across_blocks() {
    // Newer rows carry older timestamps: `ts` order is not storing order.
    let generation = |name: &str, count: usize| -> Vec<(String, String, String)> {
        (0..count)
            .map(|n| {
                let text = match (n % 3, n % 500) {
                    (_, 0) => "a rare zq",
                    (0, _) => "Alpha",
                    _ => "beta",
                };
                let ts = format!("2025-01-01T{:02}:{:02}:00Z", 23 - n / 300 % 24, n % 60);
                (format!("{name}{n:05}"), ts, text.to_owned())
            })
            .collect()
    };
    let app = TestApp::spawn_with(&[("RETENTION", "20s")]).await;
    let older = generation("old", 4_200);
    store(&app, &older).await;
    let older_stored = Instant::now();
    searched_twice(&app, &older).await;
    // The newer rows go into the block the older ones ended in, after a gap that leaves
    // a busy machine seconds to spare on both sides: searching both generations before
    // the older expire, and searching the newer alone before they expire too.
    tokio::time::sleep_until((older_stored + Duration::from_secs(8)).into()).await;
    let newer = generation("new", 600);
    store(&app, &newer).await;
    searched_twice(&app, &[older, newer.clone()].concat()).await;
    // Now the first block has emptied, and the second has only lost rows since its
    // matches were counted.
    app.wait_for_total(newer.len() as u64).await;
    searched_twice(&app, &newer).await;
}

/// Stores `rows` (`message_id`, `ts`, `text`), 200 webhooks at a time.
async fn store(app: &TestApp, rows: &[(String, String, String)]) {
    for chunk in rows.chunks(200) {
        let bodies: Vec<Value> = chunk
            .iter()
            .map(|(id, ts, text)| sent(id, "+111", ts, text))
            .collect();
        post_ok(app, &bodies).await;
    }
}

/// Each search twice (counted, then remembered): the total and first page must be
/// those of the rows `kept`.
async fn searched_twice(app: &TestApp, kept: &[(String, String, String)]) {
    for (q, needle) in [
        ("alpha", "alpha"),
        ("LPH", "lph"),
        ("zq", "zq"),
        ("ta", "ta"),
    ] {
        let mut expected: Vec<&(String, String, String)> = kept
            .iter()
            .filter(|(_, _, text)| text.to_lowercase().contains(needle))
            .collect();
        expected.sort_by(|a, b| (&a.1, &a.0).cmp(&(&b.1, &b.0)));
        let first: Vec<String> = expected.iter().take(50).map(|m| m.0.clone()).collect();
        for _ in 0..2 {
            let page = app.messages(&format!("q={q}")).await;
            assert_eq!(page["total"].as_u64(), Some(expected.len() as u64), "{q}");
            assert_eq!(message_ids(&page), first, "{q}");
        }
    }
}
