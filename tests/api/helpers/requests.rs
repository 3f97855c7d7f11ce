//! Building requests and reading answers: signed bodies, valid messages, JSON bodies.

use serde_json::{json, Value};
use webhook_inbox::config::Secret;

/// The `WEBHOOK_SECRET` of every `TestApp` unless a test sets its own.
pub const SECRET: &str = "test-secret";

/// The lowercase hex HMAC-SHA256 of `body` under the test secret, as the service's
/// own `sign` computes it.
pub fn sign(body: &[u8]) -> String {
    webhook_inbox::signature::sign(&Secret::new(SECRET), body)
}

/// A valid message with the given id; override fields with `with`.
pub fn message(id: &str) -> Value {
    json!({
        "message_id": id,
        "from": "+919876543210",
        "to": "+14155550100",
        "ts": "2025-01-15T10:00:00Z",
        "text": "Hello"
    })
}

/// `base` with the fields of `changes` replaced (a `null` change keeps the null).
pub fn with(mut base: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().expect("changes are an object") {
        base[key] = value.clone();
    }
    base
}

/// The `message_id`s of a `/messages` page, in order.
pub fn message_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|row| row["message_id"].as_str().expect("message_id").to_owned())
        .collect()
}

/// Asserts a 200 and returns the JSON body.
pub async fn json_ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.expect("body");
    assert_eq!(status, 200, "unexpected status; body: {body}");
    serde_json::from_str(&body).expect("JSON body")
}

/// Asserts `status` and returns the JSON body.
pub async fn json_with_status(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("body is not JSON: {body:?}"))
}
