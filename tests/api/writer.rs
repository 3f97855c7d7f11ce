//! The group-commit writer seen from outside: failed commits and a full queue.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::helpers::{json_ok, json_with_status, message, message_ids, TestApp, TestConnection};

/// Posts one message per id at once; returns each id with its status and Retry-After.
async fn post_all(app: &TestApp, ids: &[String]) -> Vec<(String, u16, Option<String>)> {
    let bodies: Vec<_> = ids.iter().map(|id| message(id)).collect();
    let responses = join_all(bodies.iter().map(|body| app.post_webhook(body))).await;
    let mut answers = Vec::new();
    for (id, response) in ids.iter().zip(responses) {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned());
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        if status == 503 {
            assert!(body["detail"].is_string(), "{body}");
        }
        answers.push((id.clone(), status, retry_after));
    }
    answers
}

fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("{prefix}-{index}"))
        .collect()
}

/// Triggers that make every insert into `messages` fail, and, with `updates`, every
/// update of `message_totals` too (the writer's probe), as a full or read-only disk
/// would: the SQL that creates them and the SQL that removes them.
fn refuse_writes(app: &TestApp, updates: bool) -> (String, String) {
    let mut refuse = String::new();
    let mut accept = String::new();
    if app.database.is_postgres() {
        refuse.push_str(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'simulated storage failure'; END $$; \
             CREATE TRIGGER refuse_inserts BEFORE INSERT ON messages \
             FOR EACH STATEMENT EXECUTE FUNCTION refuse();",
        );
        accept.push_str("DROP TRIGGER refuse_inserts ON messages;");
        if updates {
            refuse.push_str(
                "CREATE TRIGGER refuse_updates BEFORE UPDATE ON message_totals \
                 FOR EACH STATEMENT EXECUTE FUNCTION refuse();",
            );
            accept.push_str("DROP TRIGGER refuse_updates ON message_totals;");
        }
        accept.push_str("DROP FUNCTION refuse();");
    } else {
        refuse.push_str(
            "CREATE TRIGGER refuse_inserts BEFORE INSERT ON messages \
             BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
        );
        accept.push_str("DROP TRIGGER refuse_inserts;");
        if updates {
            refuse.push_str(
                "CREATE TRIGGER refuse_updates BEFORE UPDATE ON message_totals \
                 BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;",
            );
            accept.push_str("DROP TRIGGER refuse_updates;");
        }
    }
    (refuse, accept)
}

#[tokio::test]
async fn a_failing_commit_answers_503_with_retry_after_and_never_200() {
    let app = TestApp::spawn().await;
    let (refuse, accept) = refuse_writes(&app, false);
    app.tamper_with_database(&refuse).await;

    let answers = post_all(&app, &ids("failing", 20)).await;

    for (id, status, retry_after) in &answers {
        assert_eq!(*status, 503, "{id}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{id}");
    }
    app.tamper_with_database(&accept).await;
    assert_eq!(app.messages("").await["total"], 0);
    assert_eq!(app.open_database().await.count_messages().await, 0);
    let metrics = app.metrics().await;
    assert!(metrics.contains("webhook_requests_total{result=\"store_unavailable\"} 20"));
}

#[tokio::test]
async fn while_commits_fail_readiness_says_why_and_reads_keep_working() {
    let app = TestApp::spawn().await;
    json_ok(app.post_webhook(&message("before")).await).await;
    let (refuse, _) = refuse_writes(&app, true);
    app.tamper_with_database(&refuse).await;

    json_with_status(app.post_webhook(&message("during")).await, 503).await;

    let ready = json_with_status(app.get("/health/ready").await, 503).await;
    assert!(
        ready["detail"].as_str().unwrap().contains("writer"),
        "{ready}"
    );
    assert_eq!(app.messages("").await["data"][0], message("before"));
    assert_eq!(app.stats().await["total_messages"], 1);
    json_ok(app.get("/health/live").await).await;
}

#[tokio::test]
async fn writes_and_readiness_recover_by_themselves_once_the_failure_is_gone() {
    let app = TestApp::spawn().await;
    let (refuse, accept) = refuse_writes(&app, true);
    app.tamper_with_database(&refuse).await;
    json_with_status(app.post_webhook(&message("retried")).await, 503).await;
    json_with_status(app.get("/health/ready").await, 503).await;

    app.tamper_with_database(&accept).await;

    // No traffic needed: the writer probes the disk by itself.
    let mut ready = app.get("/health/ready").await.status();
    for _ in 0..200 {
        if ready == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        ready = app.get("/health/ready").await.status();
    }
    assert_eq!(ready, 200, "readiness recovers without a restart");
    assert_eq!(
        json_ok(app.post_webhook(&message("retried")).await).await,
        json!({"status": "ok"})
    );
    assert_eq!(app.messages("").await["data"][0], message("retried"));
}

#[tokio::test]
async fn a_full_write_queue_answers_503_with_retry_after_and_keeps_what_it_accepted() {
    let app = TestApp::spawn_with(&[("WRITE_QUEUE_CAPACITY", "1"), ("WRITE_BATCH_MAX", "1")]).await;
    let mut blocker = hold_the_write_lock(&app).await;

    let ids = ids("burst", 12);
    let (answers, overloaded) = tokio::join!(post_all(&app, &ids), async {
        // Overloaded answers come at once, while the writer is still stalled.
        let overloaded = wait_for_metric(&app, OVERLOADED, |overloaded| overloaded > 0).await;
        blocker.execute("ROLLBACK").await;
        overloaded
    });
    blocker.close().await;

    let refused: Vec<_> = answers
        .iter()
        .filter(|(_, status, _)| *status == 503)
        .collect();
    let accepted: Vec<_> = answers
        .iter()
        .filter(|(_, status, _)| *status == 200)
        .collect();
    assert_eq!(
        refused.len() + accepted.len(),
        ids.len(),
        "only 200 or 503: {answers:?}"
    );
    assert!(refused.len() as u64 >= overloaded);
    assert!(refused
        .iter()
        .all(|(_, _, retry)| retry.as_deref() == Some("1")));
    assert!(
        !accepted.is_empty(),
        "what was queued is committed after the stall"
    );
    let mut stored_ids = message_ids(&app.messages("limit=100").await);
    stored_ids.sort_unstable();
    let mut accepted_ids: Vec<String> = accepted.iter().map(|(id, _, _)| id.clone()).collect();
    accepted_ids.sort_unstable();
    assert_eq!(
        stored_ids, accepted_ids,
        "every 200 is stored and nothing else"
    );
}

/// The queue's depth is read when scraped, not only when the writer takes a batch: a
/// commit that hangs shows as a queue that grows.
#[tokio::test]
async fn the_queue_depth_grows_while_a_commit_hangs() {
    let app = TestApp::spawn_with(&[("WRITE_BATCH_MAX", "1")]).await;
    let mut blocker = hold_the_write_lock(&app).await;

    // The writer takes the first message and hangs on it; each later one waits.
    let mut posts = Vec::new();
    for (waiting, id) in ids("hang", 4).iter().enumerate() {
        let request = app.signed_webhook(&message(id));
        posts.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
        if waiting > 0 {
            wait_for_metric(&app, QUEUE_DEPTH, |depth| depth == waiting as u64).await;
        }
    }
    blocker.execute("ROLLBACK").await;
    blocker.close().await;

    for post in posts {
        // 503 only if the lock outlived SQLite's 5 s busy timeout.
        let status = post.await.unwrap().as_u16();
        assert!(status == 200 || status == 503, "{status}");
    }
    wait_for_metric(&app, QUEUE_DEPTH, |depth| depth == 0).await;
}

/// A webhook whose commit outlasts `REQUEST_TIMEOUT_SECS` is answered 408 and may
/// still be stored: its line says which message it was, and which secret signed it.
#[tokio::test]
async fn a_webhook_cut_short_by_a_hung_commit_is_logged_with_its_message_id() {
    let mut app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut blocker = hold_the_write_lock(&app).await;

    json_with_status(app.post_webhook(&message("hung")).await, 408).await;

    blocker.execute("ROLLBACK").await;
    blocker.close().await;
    let line = app
        .wait_for_log(|line| line["path"] == "/webhook" && line["status"] == 408)
        .await;
    let logged = ["result", "message_id", "secret"].map(|field| line[field].clone());
    assert_eq!(
        logged,
        [json!("timed_out"), json!("hung"), json!("current")],
        "{line}"
    );
    assert!(
        line.get("dup").is_none(),
        "whether it is a duplicate is unknown: {line}"
    );
}

/// A client that gives up while its webhook waits for a hung commit gets no answer, and
/// the webhook may still be stored: its line says so, and which message it was, and it
/// is counted as abandoned.
#[tokio::test]
async fn a_webhook_its_client_gave_up_on_is_logged_with_its_message_id() {
    let mut app = TestApp::spawn().await;
    let mut blocker = hold_the_write_lock(&app).await;

    let request = app.signed_webhook(&message("gone"));
    let gave_up = request.timeout(Duration::from_secs(2)).send().await;

    assert!(gave_up.unwrap_err().is_timeout());
    let line = app
        .wait_for_log(|line| line["message"] == "request abandoned before its answer")
        .await;
    blocker.execute("ROLLBACK").await;
    blocker.close().await;
    assert_eq!(
        (&line["path"], &line["message_id"]),
        (&json!("/webhook"), &json!("gone")),
        "{line}"
    );
    assert_eq!(line["level"], "WARN", "{line}");
    let metrics = app.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|line| line == r#"http_requests_abandoned_total{path="/webhook"} 1"#),
        "{metrics}"
    );
}

/// A connection holding the write lock, so that the writer stalls on its next batch
/// until it rolls back: SQLite's database lock, or on PostgreSQL a table lock that
/// conflicts with INSERT (not with reads).
async fn hold_the_write_lock(app: &TestApp) -> TestConnection {
    let mut blocker = app.open_database().await;
    blocker
        .execute(match app.database.is_postgres() {
            true => "BEGIN; LOCK TABLE messages IN EXCLUSIVE MODE",
            false => "BEGIN IMMEDIATE",
        })
        .await;
    blocker
}

const OVERLOADED: &str = "webhook_requests_total{result=\"overloaded\"}";
const QUEUE_DEPTH: &str = "webhook_write_queue_depth";

/// Polls `/metrics` until the value of `series` (0 while it is absent) satisfies
/// `done`; returns that value.
async fn wait_for_metric(app: &TestApp, series: &str, done: impl Fn(u64) -> bool) -> u64 {
    let mut value = 0;
    for _ in 0..200 {
        value = app
            .metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if done(value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{series} stayed {value}");
}
