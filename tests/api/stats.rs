use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{message, with, TestApp};

/// Posts every body concurrently and asserts each answer is 200.
async fn post_all(app: &TestApp, bodies: &[Value]) {
    let responses = join_all(bodies.iter().map(|body| app.post_webhook(body))).await;
    for (response, body) in responses.into_iter().zip(bodies) {
        assert_eq!(response.status(), 200, "posting {body}");
    }
}

/// One message per `(message_id, from, ts)`.
fn messages(rows: &[(&str, &str, &str)]) -> Vec<Value> {
    rows.iter()
        .map(|&(id, from, ts)| with(message(id), json!({"from": from, "ts": ts})))
        .collect()
}

/// The twelve-digit sender number `n`, so that text order is numeric order.
fn sender(n: u32) -> String {
    format!("+9100000000{n:02}")
}

#[tokio::test]
async fn stats_reports_zeros_and_nulls_for_an_empty_store() {
    let app = TestApp::spawn().await;

    assert_eq!(
        app.stats().await,
        json!({"total_messages": 0, "senders_count": 0, "messages_per_sender": [],
               "first_message_ts": null, "last_message_ts": null})
    );
}

/// Posts `counts[n - 1]` messages from sender n, the last sender's first, a second
/// apart, 100 webhooks at a time.
async fn post_per_sender(app: &TestApp, counts: &[u32]) {
    let bodies: Vec<Value> = (1..=counts.len() as u32)
        .rev()
        .flat_map(|n| {
            (0..counts[n as usize - 1]).map(move |i| {
                let ts = format!("2025-01-15T10:{:02}:{:02}Z", i / 60, i % 60);
                with(
                    message(&format!("s{n}-{i}")),
                    json!({"from": sender(n), "ts": ts}),
                )
            })
        })
        .collect();
    for chunk in bodies.chunks(100) {
        post_all(app, chunk).await;
    }
}

/// `messages_per_sender` as `/stats` lists it, from `(sender number, count)` pairs.
fn senders_listed(top: &[(u32, u32)]) -> Value {
    top.iter()
        .map(|&(n, count)| json!({"from": sender(n), "count": count}))
        .collect()
}

#[tokio::test]
async fn stats_lists_the_top_ten_senders_by_count_then_by_sender() {
    let app = TestApp::spawn().await;
    // Several counts tie, also at the cut-off.
    post_per_sender(&app, &[1, 5, 3, 5, 2, 1, 4, 3, 2, 6, 1, 2]).await;

    let stats = app.stats().await;

    let expected = [
        (10, 6),
        (2, 5),
        (4, 5),
        (7, 4),
        (3, 3),
        (8, 3),
        (5, 2),
        (9, 2),
        (12, 2),
        (1, 1),
    ];
    assert_eq!(stats["messages_per_sender"], senders_listed(&expected));
    assert_eq!(stats["total_messages"], 35);
    assert_eq!(stats["senders_count"], 12);
}

#[tokio::test]
async fn stats_ranks_the_top_ten_exactly_among_counts_of_a_hundred_and_more() {
    let app = TestApp::spawn().await;
    // 22 counts from 100 to 109, the largest of them sent by the later senders, and the
    // cut-off among equal counts; one count above them all and one below.
    let counts = [
        100, 101, 100, 100, 102, 100, 101, 100, 103, 100, 100, 101, 100, 100, 104, 100, 105, 106,
        101, 107, 108, 109, 250, 99,
    ];
    post_per_sender(&app, &counts).await;

    let stats = app.stats().await;

    let expected = [
        (23, 250),
        (22, 109),
        (21, 108),
        (20, 107),
        (18, 106),
        (17, 105),
        (15, 104),
        (9, 103),
        (5, 102),
        (2, 101),
    ];
    assert_eq!(stats["messages_per_sender"], senders_listed(&expected));
    assert_eq!(stats["total_messages"], 2597);
    assert_eq!(stats["senders_count"], 24);
}

#[tokio::test]
async fn stats_does_not_count_a_redelivered_message_twice() {
    let app = TestApp::spawn().await;
    let first = with(
        message("m1"),
        json!({"from": sender(1), "ts": "2025-01-15T10:00:00Z"}),
    );
    post_all(&app, std::slice::from_ref(&first)).await;
    // The same id again: identical, from another sender, at other times, and all at once.
    let changed = with(
        first.clone(),
        json!({"from": sender(2), "ts": "2025-01-20T10:00:00Z"}),
    );
    let earlier = with(first.clone(), json!({"ts": "2025-01-01T00:00:00Z"}));
    post_all(&app, &[first.clone(), changed, earlier]).await;
    let burst = with(
        message("m2"),
        json!({"from": sender(1), "ts": "2025-01-15T11:00:00Z"}),
    );
    post_all(&app, &vec![burst; 8]).await;

    assert_eq!(
        app.stats().await,
        json!({"total_messages": 2, "senders_count": 1,
               "messages_per_sender": [{"from": sender(1), "count": 2}],
               "first_message_ts": "2025-01-15T10:00:00Z",
               "last_message_ts": "2025-01-15T11:00:00Z"})
    );
}

#[tokio::test]
async fn stats_first_and_last_ts_compare_instants_not_strings() {
    let app = TestApp::spawn().await;
    let alice = "+911111111111";
    // As text, "10:00:00.5Z" sorts before "10:00:00Z"; as instants it is after.
    post_all(
        &app,
        &messages(&[
            ("a", alice, "2025-01-15T10:00:00.5Z"),
            ("b", alice, "2025-01-15T10:00:00Z"),
        ]),
    )
    .await;

    let stats = app.stats().await;

    assert_eq!(stats["first_message_ts"], "2025-01-15T10:00:00Z");
    assert_eq!(stats["last_message_ts"], "2025-01-15T10:00:00.5Z");
}

#[tokio::test]
async fn stats_first_and_last_ts_span_days_and_are_returned_exactly_as_received() {
    let app = TestApp::spawn().await;
    let alice = "+911111111111";
    post_all(
        &app,
        &messages(&[
            ("a", alice, "2025-01-10T08:00:00.000Z"),
            ("b", alice, "2025-01-15T10:00:00.5Z"),
            ("c", alice, "2025-01-09T23:59:59.250Z"),
            // After "…00.5Z" as an instant, before it as text.
            ("d", alice, "2025-01-15T10:00:00.50001Z"),
            ("e", alice, "2025-01-12T00:00:00Z"),
        ]),
    )
    .await;

    let stats = app.stats().await;

    assert_eq!(stats["first_message_ts"], "2025-01-09T23:59:59.250Z");
    assert_eq!(stats["last_message_ts"], "2025-01-15T10:00:00.50001Z");
    assert_eq!(stats["total_messages"], 5);
}

#[tokio::test]
async fn stats_equal_a_full_scan_after_random_traffic_with_concurrent_duplicates() {
    let app = TestApp::spawn().await;
    // A fixed pseudo-random mix: 12 senders, ids drawn from a small range so that
    // the same message arrives several times at once.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % bound
    };
    let bodies: Vec<Value> = (0..240)
        .map(|_| {
            let id = next(90);
            with(
                message(&format!("r{id}")),
                json!({
                    "from": format!("+9100000000{:02}", next(12)),
                    "ts": format!("2025-01-{:02}T10:00:{:02}.{}Z", 1 + next(28), next(60), next(10)),
                }),
            )
        })
        .collect();
    post_all(&app, &bodies).await;

    let stats = app.stats().await;

    let mut connection = app.open_database().await;
    let (total, senders): (i64, i64) = connection
        .fetch_one("SELECT COUNT(*), COUNT(DISTINCT from_msisdn) FROM messages")
        .await;
    let top: Vec<(String, i64)> = connection
        .fetch_all(
            "SELECT from_msisdn, COUNT(*) AS n FROM messages GROUP BY from_msisdn \
             ORDER BY n DESC, from_msisdn ASC LIMIT 10",
        )
        .await;
    connection.close().await;
    let all = app.messages("limit=100").await["total"].clone();
    assert_eq!(stats["total_messages"], total);
    assert_eq!(all, total);
    assert_eq!(stats["senders_count"], senders);
    let expected_top: Vec<Value> = top
        .iter()
        .map(|(from, count)| json!({"from": from, "count": count}))
        .collect();
    assert_eq!(stats["messages_per_sender"], json!(expected_top));
}
