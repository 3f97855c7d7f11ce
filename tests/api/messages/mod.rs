use futures::future::join_all;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::helpers::{json_with_status, message, with, TestApp};

mod filters;

/// One message to store: `(message_id, from, ts, text)`; `None` sends no `text` field.
type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

const ALICE: &str = "+911111111111";
const BOB: &str = "+922222222222";
const TS: &str = "2025-01-15T10:00:00Z";

/// Stores every row concurrently and asserts each answer is 200.
async fn seed(app: &TestApp, rows: &[Row<'_>]) {
    let bodies: Vec<Value> = rows
        .iter()
        .map(|&(id, from, ts, text)| {
            let mut body = with(message(id), json!({"from": from, "ts": ts, "text": text}));
            if text.is_none() {
                body.as_object_mut().unwrap().remove("text");
            }
            body
        })
        .collect();
    let responses = join_all(bodies.iter().map(|body| app.post_webhook(body))).await;
    for (response, body) in responses.into_iter().zip(&bodies) {
        assert_eq!(response.status(), 200, "seeding {body}");
    }
}

/// Stores `m00`, `m01`, … from BOB, message `i` sent at `ts(i)`; returns their ids.
async fn seed_numbered(app: &TestApp, count: usize, ts: impl Fn(usize) -> String) -> Vec<String> {
    let names: Vec<String> = (0..count).map(|i| format!("m{i:02}")).collect();
    let times: Vec<String> = (0..count).map(ts).collect();
    let rows: Vec<Row> = names
        .iter()
        .zip(&times)
        .map(|(id, ts)| (&id[..], BOB, &ts[..], None))
        .collect();
    seed(app, &rows).await;
    names
}

/// The `message_id`s of a page, in order.
fn ids(page: &Value) -> Vec<&str> {
    let data = page["data"].as_array().expect("data is an array");
    data.iter()
        .map(|message| message["message_id"].as_str().expect("message_id"))
        .collect()
}

/// Form-encodes a query value, so `+`, `%` and non-ASCII arrive as written.
fn encode(value: &str) -> String {
    utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
}

/// Asserts that `/messages?{query}` shows exactly `expected`, out of `total` matches.
async fn assert_page(app: &TestApp, query: &str, expected: &[&str], total: usize) {
    let page = app.messages(query).await;
    assert_eq!(ids(&page), expected, "ids for {query}");
    assert_eq!(page["total"], json!(total), "total for {query}");
}

/// Asserts that `/messages?{query}` matches exactly `expected`, all on one page.
async fn assert_matches(app: &TestApp, query: &str, expected: &[&str]) {
    assert_page(app, query, expected, expected.len()).await;
}

/// Asserts that `/messages?{query}` is a 422 naming exactly the query parameter `field`.
async fn assert_rejected(app: &TestApp, query: &str, field: &str) {
    let body = json_with_status(app.get(&format!("/messages?{query}")).await, 422).await;
    let detail = body["detail"].as_array().expect("detail is a list");
    assert_eq!(detail.len(), 1, "{query}: {body}");
    assert_eq!(detail[0]["loc"], json!(["query", field]), "{query}: {body}");
    for key in ["msg", "type"] {
        let text = detail[0][key].as_str().unwrap_or_default();
        assert!(!text.is_empty(), "{query}: {key} missing in {body}");
    }
}

#[tokio::test]
async fn messages_applies_limit_50_and_offset_0_when_none_are_given() {
    let app = TestApp::spawn().await;
    let empty = json!({"data": [], "total": 0, "limit": 50, "offset": 0, "next_cursor": null});
    assert_eq!(app.messages("").await, empty);
    let names = seed_numbered(&app, 55, |_| TS.to_owned()).await;

    let page = app.messages("").await;

    assert_eq!((&page["limit"], &page["offset"]), (&json!(50), &json!(0)));
    assert_eq!(page["total"], 55);
    assert_eq!(ids(&page), names[..50]);
}

#[tokio::test]
async fn messages_echoes_the_limit_and_offset_it_applied() {
    let app = TestApp::spawn().await;
    let rows = [
        ("a", ALICE, TS, None),
        ("b", ALICE, TS, None),
        ("c", BOB, TS, None),
    ];
    seed(&app, &rows).await;

    for (query, expected, limit, offset) in [
        ("limit=1&offset=1", vec!["b"], 1, 1),
        ("limit=100&offset=0", vec!["a", "b", "c"], 100, 0),
        ("offset=7", vec![], 50, 7),
    ] {
        let page = app.messages(query).await;
        assert_eq!(ids(&page), expected, "{query}");
        assert_eq!(page["limit"], limit, "{query}");
        assert_eq!(page["offset"], offset, "{query}");
        assert_eq!(page["total"], 3, "{query}");
    }
}

#[tokio::test]
async fn messages_rejects_a_limit_or_offset_out_of_range_or_not_an_integer_with_422() {
    let app = TestApp::spawn().await;
    for value in "0 101 -1 abc 1e9 1.5 99999999999999999999 ".split(' ') {
        assert_rejected(&app, &format!("limit={value}"), "limit").await;
    }
    for value in "-1 abc 1e9 2.0 ".split(' ') {
        assert_rejected(&app, &format!("offset={value}"), "offset").await;
    }
}

#[tokio::test]
async fn messages_rejects_a_since_that_is_not_a_contract_timestamp_with_422() {
    let app = TestApp::spawn().await;
    for value in [
        "yesterday",
        "2025-13-45T10:00:00Z",
        "2025-01-15T10:00:00",
        "2025-01-15T10:00:00+00:00",
        "2025-01-15",
        "2025-01-15T10:00:00.1234567890Z",
        "",
    ] {
        assert_rejected(&app, &format!("since={}", encode(value)), "since").await;
    }
}

#[tokio::test]
async fn messages_rejects_a_known_parameter_given_twice_with_422() {
    let app = TestApp::spawn().await;
    assert_rejected(&app, "limit=1&limit=2", "limit").await;
    assert_rejected(&app, "from=%2B1&from=%2B2", "from").await;
}

#[tokio::test]
async fn messages_orders_by_ts_as_an_instant_then_by_message_id() {
    let app = TestApp::spawn().await;
    // Text order of these ts strings differs from their time order.
    let rows = [
        ("0-later", ALICE, "2025-01-15T10:00:01Z", None),
        ("d-more", ALICE, "2025-01-15T10:00:00.50001Z", None),
        ("c-half", ALICE, "2025-01-15T10:00:00.5Z", None),
        ("b-tie", ALICE, "2025-01-15T10:00:00.000Z", None),
        ("a-tie", ALICE, "2025-01-15T10:00:00Z", None),
        ("y-jan10", ALICE, "2025-01-10T00:00:00Z", None),
        ("z-jan09", ALICE, "2025-01-09T23:59:59.9Z", None),
    ];
    seed(&app, &rows).await;

    let page = app.messages("").await;

    let order = [
        "z-jan09", "y-jan10", "a-tie", "b-tie", "c-half", "d-more", "0-later",
    ];
    assert_eq!(ids(&page), order);
    for message in page["data"].as_array().unwrap() {
        let sent = rows
            .iter()
            .find(|row| row.0 == message["message_id"])
            .unwrap();
        assert_eq!(message["ts"], sent.2, "ts is returned exactly as received");
    }
}

#[tokio::test]
async fn messages_pagination_walks_every_row_once_in_order() {
    let app = TestApp::spawn().await;
    // Message i is sent at second (23 - i) / 3: ids ascend as ts descend, three per ts.
    let second = |i: usize| (23 - i) / 3;
    let names = seed_numbered(&app, 23, |i| format!("2025-01-15T10:00:{:02}Z", second(i))).await;
    let mut order: Vec<usize> = (0..23).collect();
    order.sort_by_key(|&i| (second(i), i));

    let mut walked = Vec::new();
    for offset in (0..25).step_by(5) {
        let page = app.messages(&format!("limit=5&offset={offset}")).await;
        assert_eq!(page["total"], 23);
        walked.extend(ids(&page).into_iter().map(str::to_owned));
    }

    let expected: Vec<&String> = order.iter().map(|&i| &names[i]).collect();
    assert_eq!(walked.iter().collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn messages_total_counts_every_matching_row_ignoring_limit_and_offset() {
    let app = TestApp::spawn().await;
    let rows = [
        ("a", ALICE, TS, Some("x")),
        ("b", ALICE, TS, Some("y")),
        ("c", BOB, TS, Some("x")),
        ("d", ALICE, TS, None),
        ("e", ALICE, "2025-01-14T10:00:00Z", Some("x")),
    ];
    seed(&app, &rows).await;
    let alice = "from=%2B911111111111";

    assert_page(&app, "limit=1&offset=3", &["c"], 5).await;
    assert_page(&app, "limit=2&offset=9", &[], 5).await;
    assert_page(&app, &format!("{alice}&limit=1&offset=1"), &["a"], 4).await;
    assert_page(&app, &format!("{alice}&since={TS}&limit=1"), &["a"], 3).await;
    assert_page(&app, &format!("{alice}&q=x&limit=1"), &["e"], 2).await;
    assert_page(&app, "q=x&limit=1&offset=2", &["c"], 3).await;
    assert_page(&app, &format!("since={TS}&limit=1&offset=3"), &["d"], 4).await;
}
