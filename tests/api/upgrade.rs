//! Upgrades in place: a SQLite database made by the previous release is migrated at
//! startup and keeps every message, found by every filter as before; on PostgreSQL,
//! texts folded before the final sigma was are folded again.

use std::path::Path;

use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::helpers::{
    json_ok, message, message_ids, postgres_or_skip, with, TestApp, TestDatabase,
};

/// The schema of 0.2.0: its one migration, exactly as released.
const RELEASED: &str = "20251206000001_messages.sql";

/// Rows as 0.2.0 stored them: over three days, two senders, one just before midnight.
const STORED: &str = "INSERT INTO messages \
    (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) VALUES \
    ('late', '+919876543210', '+14155550100', \
        '2025-01-16T08:00:00Z', '2025-01-16T08:00:00.000000000Z', \
        'See you LATER', 'see you later', '2025-01-16T08:00:01.000000Z'), \
    ('eve', '+919876543210', '+14155550100', \
        '2025-01-14T23:59:59.5Z', '2025-01-14T23:59:59.500000000Z', \
        'Later, maybe', 'later, maybe', '2025-01-14T23:59:59.600000Z'), \
    ('other', '+14155550123', '+14155550100', \
        '2025-01-15T10:00:00Z', '2025-01-15T10:00:00.000000000Z', \
        'later', 'later', '2025-01-15T10:00:01.000000Z'), \
    ('dawn', '+919876543210', '+14155550100', \
        '2025-01-15T00:00:00Z', '2025-01-15T00:00:00.000000000Z', \
        NULL, NULL, '2025-01-15T00:00:01.000000Z'), \
    ('sigma', '+14155550123', '+14155550100', \
        '2025-01-17T10:00:00Z', '2025-01-17T10:00:00.000000000Z', \
        'ΟΔΟΣ', 'οδος', '2025-01-17T10:00:01.000000Z'), \
    ('nul', '+14155550123', '+14155550100', \
        '2025-01-17T11:00:00Z', '2025-01-17T11:00:00.000000000Z', \
        'a' || char(0) || 'hello', 'a' || char(0) || 'hello', '2025-01-17T11:00:01.000000Z')";

#[tokio::test]
async fn a_sqlite_database_of_the_previous_release_is_migrated_and_keeps_its_messages() {
    let database = TestDatabase::sqlite();
    let released = earlier_migrations("sqlite", &[RELEASED]).await;
    let mut connection = SqliteConnectOptions::new()
        .filename(database.sqlite_path())
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    released.run(&mut connection).await.unwrap();
    sqlx::raw_sql(STORED)
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();

    let app = TestApp::spawn_on(database, &[]).await;
    let sender = app.messages("from=%2B919876543210").await;
    assert_eq!(message_ids(&sender), ["eve", "dawn", "late"]);
    assert_eq!(sender["total"], 3);
    let since = app
        .messages("from=%2B919876543210&since=2025-01-15T00:00:00Z&q=LATER")
        .await;
    assert_eq!(message_ids(&since), ["late"]);
    assert_eq!(since["total"], 1);
    assert_eq!(app.stats().await["total_messages"], 6);
    // 0.2.0 folded a final Σ as ς, and its trigram index stopped at a NUL: both folded
    // again, searched by the trigram index (3 characters or more) and without it.
    for (q, expected) in [("%CE%A3", "sigma"), ("%CE%B4%CE%BF%CF%83", "sigma")] {
        let page = app.messages(&format!("q={q}")).await;
        assert_eq!(
            (message_ids(&page), &page["total"]),
            (vec![expected.to_owned()], &json!(1)),
            "{q}"
        );
    }
    for q in ["hello", "a%00h", "%00"] {
        let page = app.messages(&format!("q={q}")).await;
        assert_eq!(
            (message_ids(&page), &page["total"]),
            (vec!["nul".to_owned()], &json!(1)),
            "{q}"
        );
    }

    // Stored after the upgrade, it takes its place among them.
    let body = with(
        message("noon"),
        json!({"from": "+919876543210", "ts": "2025-01-15T12:00:00Z"}),
    );
    json_ok(app.post_webhook(&body).await).await;
    let sender = app.messages("from=%2B919876543210&limit=2").await;
    assert_eq!(message_ids(&sender), ["eve", "dawn"]);
    let cursor = sender["next_cursor"].as_str().expect("a next page");
    let rest = app
        .messages(&format!("from=%2B919876543210&cursor={cursor}"))
        .await;
    assert_eq!(message_ids(&rest), ["noon", "late"]);

    // The trigram index holds exactly the folded text of every row (an error if not),
    // a row without text ('dawn') included.
    app.tamper_with_database(
        "INSERT INTO messages_text (messages_text, rank) VALUES ('integrity-check', 1)",
    )
    .await;
}

/// The PostgreSQL schema before the final sigma was folded as σ: its first three
/// migrations, as they were.
const POSTGRES_BEFORE_REFOLD: [&str; 3] = [
    "20251206000001_messages.sql",
    "20251207000001_search_blocks.sql",
    "20251209000001_forget_blocks_below_deleted_rows.sql",
];

#[tokio::test]
async fn a_postgres_database_folded_before_the_final_sigma_is_folded_again() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    let earlier = earlier_migrations("postgres", &POSTGRES_BEFORE_REFOLD).await;
    let mut connection = PgConnection::connect(&database.url()).await.unwrap();
    earlier.run(&mut connection).await.unwrap();
    // As the earlier version stored it: Σ at the end of a word folded as ς.
    sqlx::raw_sql(
        "INSERT INTO messages \
         (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) \
         VALUES ('sigma'::BYTEA, '+14155550123', '+14155550100', '2025-01-17T10:00:00Z', \
         '2025-01-17T10:00:00.000000000Z', convert_to('ΟΔΟΣ', 'UTF8'), 'οδος', \
         '2025-01-17T10:00:01.000000Z')",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    connection.close().await.unwrap();

    let app = TestApp::spawn_on(database, &[]).await;

    // Searched by the trigram index (3 characters or more) and without it.
    for q in ["%CE%A3", "%CE%B4%CE%BF%CF%83"] {
        let page = app.messages(&format!("q={q}")).await;
        assert_eq!(
            (message_ids(&page), &page["total"]),
            (vec!["sigma".to_owned()], &json!(1)),
            "{q}"
        );
    }
}

/// A migrator of only the `names` of `migrations/<backend>`: the schema of an earlier
/// version.
async fn earlier_migrations(backend: &str, names: &[&str]) -> Migrator {
    let earlier = tempfile::tempdir().unwrap();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for name in names {
        std::fs::copy(migrations.join(name), earlier.path().join(name)).unwrap();
    }
    Migrator::new(earlier.path()).await.unwrap()
}
