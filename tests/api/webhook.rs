use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{json_ok, json_with_status, message, sign, with, TestApp};

#[tokio::test]
async fn webhook_stores_a_valid_signed_message_and_answers_ok() {
    let app = TestApp::spawn().await;

    let body = json_ok(app.post_webhook(&message("m1")).await).await;

    assert_eq!(body, json!({"status": "ok"}));
    let page = app.messages("").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["data"][0], message("m1"));
}
