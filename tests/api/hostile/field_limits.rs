//! Field limits keep every stored value, log line and cursor small, however large a
//! signed body is allowed to be.

use serde_json::json;

use crate::helpers::{json_with_status, message, sign, with, TestApp};

#[tokio::test]
async fn a_signed_megabyte_message_id_is_refused_and_logged_cut_short() {
    let mut app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "2097152")]).await;
    let body = serde_json::to_vec(&with(
        message("x"),
        json!({"message_id": "m".repeat(1 << 20)}),
    ))
    .unwrap();

    let refused = app.post_webhook_raw(body.clone(), Some(&sign(&body))).await;

    let detail = json_with_status(refused, 422).await;
    assert_eq!(detail["detail"][0]["loc"], json!(["body", "message_id"]));
    assert_eq!(detail["detail"][0]["type"], "string_too_long");
    let line = app.wait_for_log(|line| line["status"] == 422).await;
    assert_eq!(line["message_id"].as_str().unwrap().len(), 256);
    assert!(
        line.to_string().len() < 2000,
        "a log line of {} bytes",
        line.to_string().len()
    );
    assert_eq!(app.stats().await["total_messages"], 0);
}
