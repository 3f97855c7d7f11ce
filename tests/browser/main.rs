//! The operator console in a real browser: headless Chromium driven over WebDriver,
//! against the real binary on port 0 with a fresh database (the API tests' `TestApp`).
//! Needs a chromedriver at `WEBDRIVER_URL`: `make test-browser` installs Chromium when
//! missing, starts one and runs these; without it each test says it is skipped.

#[allow(dead_code, unused_imports)]
#[path = "../api/helpers/mod.rs"]
mod helpers;

mod browser;
mod navigation;
mod safety;

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::TestApp;

/// The console's page size.
pub const PAGE: usize = 50;
pub const SENDERS: [&str; 3] = ["+15550000001", "+15550000002", "+15550000003"];

/// Message `i` of the seeded inbox: one a minute from 08:00, three senders in turn,
/// `hello` in even texts, no text at all in every tenth.
pub fn seeded(i: usize) -> Value {
    let text = match i {
        i if i % 10 == 9 => Value::Null,
        i if i % 2 == 0 => json!(format!("hello number {i}")),
        i => json!(format!("other number {i}")),
    };
    json!({
        "message_id": format!("m{i:03}"),
        "from": SENDERS[i % SENDERS.len()],
        "to": "+14155550100",
        "ts": format!("2025-01-15T{:02}:{:02}:00Z", 8 + i / 60, i % 60),
        "text": text,
    })
}

/// Posts messages `0..count` and returns them in the API's order.
pub async fn seed(app: &TestApp, count: usize) -> Vec<Value> {
    let messages: Vec<Value> = (0..count).map(seeded).collect();
    for chunk in messages.chunks(20) {
        for response in join_all(chunk.iter().map(|message| app.post_webhook(message))).await {
            assert_eq!(response.status(), 200);
        }
    }
    messages
}

/// The ids of `messages`, `range` of them.
pub fn ids(messages: &[Value], range: std::ops::Range<usize>) -> Vec<String> {
    messages[range]
        .iter()
        .map(|message| message["message_id"].as_str().unwrap().to_owned())
        .collect()
}

/// The last page of `messages` (at most `PAGE`), as the console shows it first.
pub fn newest(messages: &[Value]) -> Vec<String> {
    ids(
        messages,
        messages.len().saturating_sub(PAGE)..messages.len(),
    )
}
