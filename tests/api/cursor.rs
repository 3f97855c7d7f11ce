//! Keyset pagination: `next_cursor` and `?cursor=`.

use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{json_with_status, message, message_ids, with, TestApp};

const SENDERS: [&str; 2] = ["+911111111111", "+922222222222"];

/// 37 messages over two senders and three days (not in the order they are stored),
/// several sharing a `ts`, some without the word "ping".
async fn seed(app: &TestApp) {
    let bodies: Vec<Value> = (0..37)
        .map(|i| {
            with(
                message(&format!("c{i:02}")),
                json!({
                    "from": SENDERS[i % 2],
                    "ts": format!("2025-01-{}T10:00:{:02}.{}Z", 14 + i / 3 % 3, i / 3, i % 3),
                    "text": if i % 4 == 0 { "no match here" } else { "Ping pong" },
                }),
            )
        })
        .collect();
    for response in join_all(bodies.iter().map(|body| app.post_webhook(body))).await {
        assert_eq!(response.status(), 200);
    }
}

/// Every page of `query` by following `next_cursor`; the number of pages.
async fn walk_by_cursor(app: &TestApp, query: &str) -> (Vec<String>, usize) {
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut page = app.messages(query).await;
    loop {
        pages += 1;
        seen.extend(message_ids(&page));
        let Some(cursor) = page["next_cursor"].as_str() else {
            return (seen, pages);
        };
        page = app.messages(&format!("{query}&cursor={cursor}")).await;
    }
}

#[tokio::test]
async fn following_next_cursor_visits_every_row_once_in_order_with_filters() {
    let app = TestApp::spawn().await;
    seed(&app).await;

    for filter in [
        "",
        "&from=%2B911111111111",
        "&q=PING",
        "&since=2025-01-15T10:00:05Z&q=ng",
        "&from=%2B922222222222&since=2025-01-15T10:00:04Z",
        "&from=%2B911111111111&q=ping",
    ] {
        let all = app.messages(&format!("limit=100{filter}")).await;
        let (walked, pages) = walk_by_cursor(&app, &format!("limit=4{filter}")).await;

        assert_eq!(walked, message_ids(&all), "filter {filter:?}");
        assert_eq!(
            pages,
            message_ids(&all).len().div_ceil(4).max(1),
            "filter {filter:?}"
        );
    }
}

#[tokio::test]
async fn a_cursor_page_reports_the_filtered_total_and_offset_zero() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let first = app.messages("limit=5&q=ping").await;

    let second = app
        .messages(&format!(
            "limit=5&q=ping&cursor={}",
            first["next_cursor"].as_str().unwrap()
        ))
        .await;

    assert_eq!(second["total"], first["total"]);
    assert_eq!(second["offset"], 0);
    assert_eq!(second["limit"], 5);
    assert!(!message_ids(&second)
        .iter()
        .any(|id| message_ids(&first).contains(id)));
}

#[tokio::test]
async fn the_last_page_has_a_null_next_cursor() {
    let app = TestApp::spawn().await;
    seed(&app).await;

    assert_eq!(app.messages("limit=37").await["next_cursor"], Value::Null);
    assert!(app.messages("limit=36").await["next_cursor"].is_string());
    assert_eq!(app.messages("offset=36").await["next_cursor"], Value::Null);
}

#[tokio::test]
async fn a_foreign_cursor_or_a_cursor_with_offset_is_refused() {
    let app = TestApp::spawn().await;
    seed(&app).await;
    let cursor = app.messages("limit=1").await["next_cursor"]
        .as_str()
        .unwrap()
        .to_owned();

    for query in [
        "cursor=not-ours".to_owned(),
        format!("cursor={cursor}&offset=3"),
    ] {
        let body = json_with_status(app.get(&format!("/messages?{query}")).await, 422).await;
        assert_eq!(
            body["detail"][0]["loc"],
            json!(["query", "cursor"]),
            "{query}"
        );
    }
}

#[tokio::test]
async fn the_longest_message_ids_page_by_cursors_of_a_few_hundred_bytes() {
    let app = TestApp::spawn().await;
    let ids: Vec<String> = ["a", "b", "c"].iter().map(|c| c.repeat(256)).collect();
    for id in &ids {
        assert_eq!(app.post_webhook(&message(id)).await.status(), 200);
    }

    let first = app.messages("limit=1").await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    assert!(cursor.len() <= 400, "cursor of {} bytes", cursor.len());
    let (walked, pages) = walk_by_cursor(&app, "limit=1").await;

    assert_eq!(walked, ids);
    assert_eq!(pages, 3);
}
