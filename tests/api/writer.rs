//! The group-commit writer seen from outside: failed commits and a full queue.

use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use sqlx::Connection;

use crate::helpers::{json_ok, json_with_status, message, message_ids, TestApp};

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

#[tokio::test]
async fn a_failing_commit_answers_503_with_retry_after_and_never_200() {
    let app = TestApp::spawn().await;
    app.tamper_with_database(
        "CREATE TRIGGER refuse BEFORE INSERT ON messages \
         BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END",
    )
    .await;

    let answers = post_all(&app, &ids("failing", 20)).await;

    for (id, status, retry_after) in &answers {
        assert_eq!(*status, 503, "{id}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{id}");
    }
    app.tamper_with_database("DROP TRIGGER refuse").await;
    assert_eq!(app.messages("").await["total"], 0);
    let metrics = app.metrics().await;
    assert!(metrics.contains("webhook_requests_total{result=\"store_unavailable\"} 20"));
}

/// Makes every write fail, as a full or read-only disk would.
const REFUSE_WRITES: &str = "\
    CREATE TRIGGER refuse_inserts BEFORE INSERT ON messages \
    BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END; \
    CREATE TRIGGER refuse_updates BEFORE UPDATE ON message_totals \
    BEGIN SELECT RAISE(ABORT, 'simulated storage failure'); END;";
const ACCEPT_WRITES: &str = "DROP TRIGGER refuse_inserts; DROP TRIGGER refuse_updates;";

#[tokio::test]
async fn while_commits_fail_readiness_says_why_and_reads_keep_working() {
    let app = TestApp::spawn().await;
    json_ok(app.post_webhook(&message("before")).await).await;
    app.tamper_with_database(REFUSE_WRITES).await;

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
    app.tamper_with_database(REFUSE_WRITES).await;
    json_with_status(app.post_webhook(&message("retried")).await, 503).await;
    json_with_status(app.get("/health/ready").await, 503).await;

    app.tamper_with_database(ACCEPT_WRITES).await;

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
    // Hold SQLite's write lock so the writer stalls on its first batch.
    let mut blocker = app.open_database().await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .unwrap();

    let ids = ids("burst", 12);
    let (answers, overloaded) = tokio::join!(post_all(&app, &ids), async {
        // Overloaded answers come at once, while the writer is still stalled.
        let overloaded =
            wait_for_metric(&app, "webhook_requests_total{result=\"overloaded\"}").await;
        sqlx::query("ROLLBACK").execute(&mut blocker).await.unwrap();
        overloaded
    });
    blocker.close().await.unwrap();

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

/// Polls `/metrics` until `series` is positive; returns its value.
async fn wait_for_metric(app: &TestApp, series: &str) -> u64 {
    for _ in 0..200 {
        let value = app
            .metrics()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse::<u64>().ok())
            .unwrap_or(0);
        if value > 0 {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{series} never became positive");
}
