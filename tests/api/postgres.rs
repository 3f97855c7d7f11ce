//! What only the PostgreSQL backend does: reads that outlive their request are
//! cancelled in the database too, and leave their connection clean; remembered `q`
//! totals count what transactions open at the time committed later; startup warns when
//! expired messages' space would never be reused; the retention sweep holds up no
//! webhook; a day's count stays exact while one transaction empties it and another
//! adds to it.
//!
//! PostgreSQL only: without `TEST_POSTGRES_URL` each test says it is skipped and passes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{
    json_ok, json_with_status, message, message_ids, postgres_or_skip, with, TestApp,
    TestConnection, TestDatabase,
};

/// How many of the app's queries PostgreSQL shows waiting for a lock, as `observer`
/// (a connection to the app's database) sees them.
async fn app_queries_waiting(observer: &mut TestConnection) -> i64 {
    let (waiting,): (i64,) = observer
        .fetch_one(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE application_name = 'webhook-inbox' AND wait_event_type = 'Lock' \
             AND datname = current_database()",
        )
        .await;
    waiting
}

/// Polls, for up to 30 s, until `done` holds for the number of the app's queries
/// waiting for a lock; returns the last number.
async fn poll_app_queries_waiting(app: &TestApp, done: impl Fn(i64) -> bool) -> i64 {
    let mut observer = app.open_database().await;
    let started = Instant::now();
    let mut waiting = app_queries_waiting(&mut observer).await;
    while !done(waiting) && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        waiting = app_queries_waiting(&mut observer).await;
    }
    observer.close().await;
    waiting
}

/// A connection of the test's own, holding a lock that every read of `messages` waits
/// for until it rolls back.
async fn lock_out_reads(app: &TestApp) -> TestConnection {
    let mut blocker = app.open_database().await;
    blocker
        .execute("BEGIN; LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        .await;
    blocker
}

#[tokio::test]
async fn a_read_that_outlives_its_request_is_cancelled_in_the_database_and_its_connection_reused() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    let app = TestApp::spawn_on(database, &[("REQUEST_TIMEOUT_SECS", "1")]).await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    let mut blocker = lock_out_reads(&app).await;

    let response = app.get("/messages?q=hello").await;
    assert_eq!(response.status(), 408);

    // While the lock is still held, the database stops working on the abandoned read:
    // its statement_timeout is the request's timeout.
    let waiting = poll_app_queries_waiting(&app, |waiting| waiting == 0).await;
    assert_eq!(waiting, 0, "the abandoned read still waits in the database");

    blocker.execute("ROLLBACK").await;
    // Every read connection serves again, none left inside an abandoned transaction.
    for _ in 0..8 {
        let page = app.messages("q=hello&limit=1").await;
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(page["data"][0], message("m1"));
    }
    assert_eq!(app.stats().await["total_messages"], json!(1));
}

/// Readiness has a connection of its own: a read holding the only read connection (a
/// slow search, here one waiting for a lock) does not make the probe wait for it and
/// fail, which would take the replica out of its load balancer.
#[tokio::test]
async fn readiness_answers_while_reads_hold_every_read_connection() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    let app = TestApp::spawn_on(database, &[("DB_READ_CONNECTIONS", "1")]).await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    let mut blocker = lock_out_reads(&app).await;
    let stuck_read = tokio::spawn({
        let (client, url) = (
            app.client.clone(),
            format!("{}/messages?q=hello", app.address),
        );
        async move {
            client
                .get(url)
                .send()
                .await
                .map(|response| response.status())
        }
    });
    let waiting = poll_app_queries_waiting(&app, |waiting| waiting > 0).await;
    assert!(waiting > 0, "the read never waited");

    let ready = app.get("/health/ready").await;

    assert_eq!(ready.status(), 200);
    blocker.execute("ROLLBACK").await;
    assert_eq!(stuck_read.await.unwrap().unwrap(), 200);
}

/// A database that hangs is reported unavailable while a probe still waits for the
/// answer (3 s in the manifests), not after `REQUEST_TIMEOUT_SECS` as a 408 that the
/// not-ready alert does not count.
#[tokio::test]
async fn readiness_answers_503_in_time_while_the_database_hangs() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    // A request of 3 s, the probe's time-out: a later answer would be a 408.
    let app = TestApp::spawn_on(database, &[("REQUEST_TIMEOUT_SECS", "3")]).await;
    let mut blocker = app.open_database().await;
    blocker
        .execute("BEGIN; LOCK TABLE _sqlx_migrations IN ACCESS EXCLUSIVE MODE")
        .await;

    let ready = json_with_status(app.get("/health/ready").await, 503).await;

    assert!(ready["detail"].to_string().contains("no answer"), "{ready}");
    blocker.execute("ROLLBACK").await;
    let mut status = 503;
    for _ in 0..100 {
        status = app.get("/health/ready").await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200, "ready again once the database answers");
}

/// A connection of the test's own whose shard (`pg_backend_pid() % 16`, which picks the
/// rows of the totals and blocks a transaction writes) no connection of the app has.
/// Another replica's transaction on the writer's shard would hold up the writer until
/// it commits: briefly in real life, for as long as a test keeps it open here.
async fn connection_on_a_shard_of_its_own(app: &TestApp) -> TestConnection {
    for _ in 0..100 {
        let mut connection = app.open_database().await;
        let (clash,): (bool,) = connection
            .fetch_one(
                "SELECT pg_backend_pid() % 16 IN (SELECT pid % 16 FROM pg_stat_activity \
                 WHERE application_name = 'webhook-inbox' AND datname = current_database())",
            )
            .await;
        if !clash {
            return connection;
        }
        connection.close().await;
    }
    panic!("every connection shared a shard with the app");
}

/// A connection of the test's own, in a transaction that has inserted message m2
/// ("Hello") and not committed: another replica's batch, say.
async fn m2_inserted_by_another_replica_not_committed(app: &TestApp) -> TestConnection {
    let mut other_replica = connection_on_a_shard_of_its_own(app).await;
    other_replica
        .execute(
            "BEGIN; INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, ts_key, \
             text, text_folded, created_at) VALUES ('m2'::bytea, '+1', '+2', \
             '2025-01-15T10:00:00Z', '2025-01-15T10:00:00.000000000Z', 'Hello'::bytea, \
             'hello', '2025-01-15T10:00:00Z')",
        )
        .await;
    other_replica
}

/// A `q` total is remembered with the snapshot it was counted in. A transaction still
/// open then (another replica's batch, say) commits later, after newer messages:
/// its rows must be counted once it is visible, although they are older than those.
#[tokio::test]
async fn a_remembered_q_total_counts_the_rows_of_a_transaction_that_was_open_when_counted() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let app = TestApp::spawn_on(TestDatabase::postgres(&server).await, &[]).await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    let mut other_replica = m2_inserted_by_another_replica_not_committed(&app).await;

    let total = async || app.messages("q=hello").await["total"].clone();
    assert_eq!(total().await, json!(1), "m2 is not committed");
    json_ok(app.post_webhook(&message("m3")).await).await;
    assert_eq!(total().await, json!(2), "m3 added to the remembered 1");
    other_replica.execute("COMMIT").await;
    assert_eq!(total().await, json!(3), "m2, committed after m3, added too");
    let page = app.messages("q=hello").await;
    assert_eq!(message_ids(&page), ["m1", "m2", "m3"]);
}

/// A `q` of two letters (no trigram to look up) with few matches is remembered with its
/// matches, and its pages read those rows alone (a walk would test 5,000 rows that do
/// not match). The rows of a transaction open when they were remembered, committed
/// later after newer messages, join them.
#[tokio::test]
async fn remembered_matches_of_a_short_q_take_the_rows_of_a_transaction_open_when_counted() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let app = TestApp::spawn_on(TestDatabase::postgres(&server).await, &[]).await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    app.open_database()
        .await
        .execute(
            "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, ts_key, text, \
             text_folded, created_at) SELECT ('x' || n)::bytea, '+1', '+2', \
             '2025-01-15T09:00:00Z', '2025-01-15T09:00:00.000000000Z', 'bye'::bytea, 'bye', \
             '2025-01-15T09:00:00Z' FROM generate_series(1, 5000) AS n",
        )
        .await;
    let mut other_replica = m2_inserted_by_another_replica_not_committed(&app).await;

    let found = async || {
        let page = app.messages("q=LL").await;
        (page["total"].clone(), message_ids(&page))
    };
    assert_eq!(found().await, (json!(1), vec!["m1".to_owned()]));
    json_ok(app.post_webhook(&message("m3")).await).await;
    json_ok(
        app.post_webhook(&with(message("y1"), json!({"text": "no"})))
            .await,
    )
    .await;
    let ids = |ids: &[&str]| ids.iter().map(|id| (*id).to_owned()).collect::<Vec<_>>();
    assert_eq!(found().await, (json!(2), ids(&["m1", "m3"])));
    other_replica.execute("COMMIT").await;
    assert_eq!(found().await, (json!(3), ids(&["m1", "m2", "m3"])));
    let page = app.messages("q=ll&limit=1&offset=2").await;
    assert_eq!(message_ids(&page), ["m3"]);
}

/// Expired messages leave space that only vacuum makes reusable: with RETENTION,
/// startup warns once when autovacuum is off for `messages`, and serves all the same.
#[tokio::test]
async fn with_retention_startup_warns_once_when_autovacuum_is_off_for_messages() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let warnings = |app: &TestApp| {
        let logs = app.logs();
        let about = |line: &&serde_json::Value| {
            line["level"] == "WARN"
                && line["message"]
                    .as_str()
                    .is_some_and(|text| text.contains("autovacuum"))
        };
        logs.iter().filter(about).count()
    };
    let database = TestDatabase::postgres(&server).await;
    let app = TestApp::spawn_on(database.clone(), &[]).await;
    assert_eq!(warnings(&app), 0, "without RETENTION: {:?}", app.logs());
    app.stop().await;
    let mut connection = database.connect().await;
    connection
        .execute("ALTER TABLE messages SET (autovacuum_enabled = off)")
        .await;
    connection.close().await;

    let app = TestApp::spawn_on(database, &[("RETENTION", "1h")]).await;
    assert_eq!(warnings(&app), 1, "{:?}", app.logs());
    json_ok(app.post_webhook(&message("m1")).await).await;
    assert_eq!(app.stats().await["total_messages"], 1);
}

/// Stored long ago: what the sweep deletes next.
const EXPIRED: &str = "'2000-01-01T00:00:00.000000Z'";

/// Waits until one of the app's queries waits for a lock (the sweep, in these tests).
async fn wait_until_the_app_waits_for_a_lock(app: &TestApp) {
    let waiting = poll_app_queries_waiting(app, |waiting| waiting > 0).await;
    assert_eq!(waiting, 1, "the sweep never waited for the lock");
}

/// The retention sweep deletes on a connection of its own, beside the writer's: a
/// sweep held up in the database (here by a lock on an expiring sender's count) holds
/// up no webhook, and finishes once it may.
#[tokio::test]
async fn a_sweep_held_up_in_the_database_holds_up_no_webhook() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    let app = TestApp::spawn_on(database, &[("RETENTION", "30s")]).await;
    json_ok(
        app.post_webhook(&with(message("old"), json!({"from": "+111"})))
            .await,
    )
    .await;
    let mut blocker = app.open_database().await;
    blocker
        .execute("BEGIN; SELECT count FROM sender_counts WHERE from_msisdn = '+111' FOR UPDATE")
        .await;
    // "old" expires: the sweep deletes it and waits for the sender's count.
    app.tamper_with_database(&format!(
        "UPDATE messages SET created_at = {EXPIRED} WHERE message_id = 'old'::bytea"
    ))
    .await;
    wait_until_the_app_waits_for_a_lock(&app).await;

    let new = with(message("new"), json!({"from": "+222"}));
    assert_eq!(
        json_ok(app.post_webhook(&new).await).await,
        json!({"status": "ok"})
    );
    let stats = app.stats().await;
    assert_eq!(
        stats["total_messages"], 2,
        "the sweep has not committed: {stats}"
    );

    blocker.execute("ROLLBACK").await;
    app.wait_for_total(1).await;
    assert_eq!(message_ids(&app.messages("").await), ["new"]);
    assert_eq!(app.stats().await["senders_count"], 1);
}

/// A sweep that deletes the last committed rows while a batch that reaches into the
/// next block of 4,096 seqs is still open forgets no block that batch writes to: once
/// committed, its rows are counted by `q` (they were left out when the sweep forgot
/// every block below the next seq to be taken).
#[tokio::test]
async fn a_sweep_of_the_last_rows_forgets_no_block_an_open_batch_writes_to() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    let app = TestApp::spawn_on(database, &[("RETENTION", "30s")]).await;
    let mut batch = connection_of_a_shard_the_app_does_not_use(&app).await;
    let insert = |id: &str, from: &str, day: &str, text: &str| {
        format!(
            "INSERT INTO messages (message_id, from_msisdn, to_msisdn, ts, ts_key, text, \
             text_folded, created_at) SELECT ({id})::bytea, '{from}', '+2', \
             '2025-01-{day}T10:00:00Z', '2025-01-{day}T10:00:00.000000000Z', '{text}'::bytea, \
             '{text}', '2999-01-01T00:00:00.000000Z'"
        )
    };
    // "old" and its block's stamp, written by this connection (its shard).
    batch.execute(&insert("'old'", "+111", "01", "bye")).await;
    // 4,096 more from it, open: they change that stamp and reach into the next block.
    let more = insert("'n' || n", "+1", "02", "hello") + " FROM generate_series(1, 4096) AS n";
    batch.execute(&format!("BEGIN; {more}")).await;
    app.tamper_with_database(&format!(
        "UPDATE messages SET created_at = {EXPIRED} WHERE message_id = 'old'::bytea"
    ))
    .await;
    // The sweep deletes "old" and commits, or waits for the open batch: either way,
    // the batch commits then.
    let mut observer = app.open_database().await;
    let started = Instant::now();
    loop {
        if app_queries_waiting(&mut observer).await > 0 || app.stats().await["total_messages"] == 0
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "\"old\" never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    batch.execute("COMMIT").await;

    app.wait_for_total(4096).await;
    assert_eq!(app.messages("q=hello").await["total"], 4096);
    assert_eq!(
        app.messages("q=hello&limit=1&offset=4095").await["data"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}

/// A message from `from` as the service stores it, inserted by SQL.
fn stored(id: &str, from: &str, ts: &str) -> String {
    format!(
        "INSERT INTO messages \
         (message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at) \
         VALUES ('{id}'::BYTEA, '{from}', '+14155550100', '{ts}', \
         '{}.000000000Z', NULL, NULL, '2025-01-15T12:00:00.000000Z')",
        ts.trim_end_matches('Z')
    )
}

#[tokio::test]
async fn a_day_emptied_while_a_writer_adds_to_it_keeps_an_exact_count_and_goes_once_empty() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let app = TestApp::spawn_on(TestDatabase::postgres(&server).await, &[]).await;
    let mut writer = app.open_database().await;
    writer
        .execute(&stored("first", "+111", "2025-01-15T10:00:00Z"))
        .await;
    // Another shard than the writer's, so that its deletion waits for nothing.
    let (shard,): (i32,) = writer.fetch_one("SELECT pg_backend_pid() % 16").await;
    let mut deleter = connection_of_a_shard_not_in(&app, &[shard]).await;
    // Waiting for the writer would wait forever: fail instead.
    deleter.execute("SET lock_timeout = '10s'").await;
    // The writer holds its row of the day, with a second message (from another
    // sender) not committed yet, while the day's only committed message is deleted:
    // the day's rows then seem to sum to zero, and only those the writer does not hold
    // may go.
    writer
        .execute(&format!(
            "BEGIN; {}",
            stored("second", "+222", "2025-01-15T11:00:00Z")
        ))
        .await;
    deleter
        .execute("DELETE FROM messages WHERE message_id = 'first'::BYTEA")
        .await;
    writer.execute("COMMIT").await;

    // The day counts the second message alone (`since` an earlier day sums the days).
    let page = app.messages("since=2025-01-14T00:00:00Z").await;
    assert_eq!(
        (page["total"].clone(), message_ids(&page)),
        (json!(1), vec!["second".to_owned()])
    );
    let stats = app.stats().await;
    assert_eq!(
        (
            stats["total_messages"].clone(),
            stats["first_message_ts"].clone()
        ),
        (json!(1), json!("2025-01-15T11:00:00Z"))
    );
    // Emptied with no writer in the way, the day goes.
    deleter
        .execute("DELETE FROM messages WHERE message_id = 'second'::BYTEA")
        .await;
    let (days,): (i64,) = deleter
        .fetch_one("SELECT COUNT(*) FROM messages_per_day")
        .await;
    assert_eq!(days, 0);
    assert_eq!(app.stats().await["first_message_ts"], json!(null));
}

/// A connection of the test's own whose totals shard (`pg_backend_pid() % 16`) none of
/// the app's connections has, so that the app's sweep waits on nothing this connection
/// writes but the blocks' stamps.
async fn connection_of_a_shard_the_app_does_not_use(app: &TestApp) -> TestConnection {
    let apps: Vec<(i32,)> = app
        .open_database()
        .await
        .fetch_all(
            "SELECT pid % 16 FROM pg_stat_activity \
             WHERE application_name = 'webhook-inbox' AND datname = current_database()",
        )
        .await;
    let apps: Vec<i32> = apps.into_iter().map(|(shard,)| shard).collect();
    connection_of_a_shard_not_in(app, &apps).await
}

/// A connection of the test's own whose totals shard (`pg_backend_pid() % 16`) is none
/// of `taken`.
async fn connection_of_a_shard_not_in(app: &TestApp, taken: &[i32]) -> TestConnection {
    for _ in 0..100 {
        let mut connection = app.open_database().await;
        let (shard,): (i32,) = connection.fetch_one("SELECT pg_backend_pid() % 16").await;
        if !taken.contains(&shard) {
            return connection;
        }
        connection.close().await;
    }
    panic!("no connection on a shard other than {taken:?}");
}
