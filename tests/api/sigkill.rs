//! A 200 is a promise: a message acknowledged a moment before the process is killed
//! outright (no shutdown, no flush) is there after a restart. `tests/crash.rs` does
//! the same at random moments under load, with the release build.

use std::os::unix::process::ExitStatusExt;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{json_ok, message, message_ids, TestApp};

#[tokio::test]
async fn messages_acknowledged_just_before_a_sigkill_are_there_after_a_restart() {
    let app = TestApp::spawn().await;
    let database = app.database.clone();
    let ids: Vec<String> = (0..40).map(|n| format!("acked-{n:02}")).collect();

    let bodies: Vec<Value> = ids.iter().map(|id| message(id)).collect();
    let answers = join_all(bodies.iter().map(|body| app.post_webhook(body))).await;
    for answer in answers {
        assert_eq!(json_ok(answer).await, json!({"status": "ok"}));
    }
    let status = app.kill().await;

    assert_eq!(status.signal(), Some(9), "killed, not stopped: {status}");
    let app = TestApp::spawn_on(database, &[]).await;
    let stored = message_ids(&app.messages("limit=100").await);
    assert_eq!(stored, ids);
    assert_eq!(app.stats().await["total_messages"], 40);
}
