use futures::future::join_all;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::helpers::{json_with_status, message, with, TestApp};

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

/// Two messages from ALICE, one from BOB, one from a number that is ALICE's minus a digit.
async fn seed_senders(app: &TestApp) {
    let rows = [
        ("a1", ALICE, TS, None),
        ("a2", ALICE, TS, None),
        ("b1", BOB, TS, None),
    ];
    seed(app, &rows).await;
    seed(app, &[("p1", "+91111111111", TS, None)]).await;
}

#[tokio::test]
async fn messages_filters_by_sender_when_plus_is_percent_encoded() {
    let app = TestApp::spawn().await;
    seed_senders(&app).await;

    assert_matches(&app, "from=%2B911111111111", &["a1", "a2"]).await;
    assert_matches(&app, "from=%2B91111111111", &["p1"]).await;
    assert_matches(&app, "from=%2B0", &[]).await;
}

#[tokio::test]
async fn messages_filters_by_sender_when_plus_arrives_as_a_space() {
    let app = TestApp::spawn().await;
    seed_senders(&app).await;

    assert_matches(&app, "from=+911111111111", &["a1", "a2"]).await;
    assert_matches(&app, "from=%20911111111111", &["a1", "a2"]).await;
    assert_matches(&app, "from=+922222222222", &["b1"]).await;
}

#[tokio::test]
async fn messages_since_is_inclusive_and_compares_fractional_seconds_as_instants() {
    let app = TestApp::spawn().await;
    let rows = [
        ("before", ALICE, "2025-01-15T09:59:59.999Z", None),
        ("whole", ALICE, "2025-01-15T10:00:00Z", None),
        ("half", ALICE, "2025-01-15T10:00:00.5Z", None),
        ("more", ALICE, "2025-01-15T10:00:00.50001Z", None),
        ("next", ALICE, "2025-01-15T10:00:01Z", None),
    ];
    seed(&app, &rows).await;

    for (since, expected) in [
        ("10:00:00Z", &["whole", "half", "more", "next"][..]),
        ("10:00:00.000Z", &["whole", "half", "more", "next"]),
        ("10:00:00.1Z", &["half", "more", "next"]),
        ("10:00:00.5Z", &["half", "more", "next"]),
        ("10:00:00.500000001Z", &["more", "next"]),
        ("10:00:00.6Z", &["next"]),
        ("10:00:01.000000001Z", &[]),
    ] {
        assert_matches(&app, &format!("since=2025-01-15T{since}"), expected).await;
    }
}

#[tokio::test]
async fn messages_q_matches_a_case_insensitive_substring() {
    let app = TestApp::spawn().await;
    let rows = [
        ("ascii", ALICE, TS, Some("Hello World")),
        ("shout", ALICE, TS, Some("say HELLO")),
        ("french", ALICE, TS, Some("L'école est ouverte")),
        ("upper", ALICE, TS, Some("ÉCOLE")),
        ("russian", ALICE, TS, Some("ПРИВЕТ мир")),
    ];
    seed(&app, &rows).await;

    for (q, expected) in [
        ("hello", &["ascii", "shout"][..]),
        ("O w", &["ascii"]),
        ("ÉCOLE", &["french", "upper"]),
        ("école", &["french", "upper"]),
        ("привет МИР", &["russian"]),
        ("ecole", &[]),
    ] {
        assert_matches(&app, &format!("q={}", encode(q)), expected).await;
    }
}

/// A `q` total is remembered between requests and brought up to date with what was
/// stored since: it must stay exact, search after search, for a `q` the trigram index
/// serves and for a shorter one.
#[tokio::test]
async fn messages_q_total_stays_exact_as_matching_messages_arrive_between_searches() {
    let app = TestApp::spawn().await;
    seed(
        &app,
        &[
            ("a1", ALICE, TS, Some("Hello")),
            ("a2", ALICE, TS, Some("bye")),
        ],
    )
    .await;
    assert_page(&app, "q=hell&limit=1", &["a1"], 1).await;
    assert_page(&app, "q=el&limit=1", &["a1"], 1).await;

    let arrivals = [
        [
            ("b1", ALICE, TS, Some("hello again")),
            ("b2", BOB, TS, Some("nope")),
        ],
        [("c1", BOB, TS, Some("SHELL")), ("c2", BOB, TS, None)],
    ];
    let mut expected = vec!["a1"];
    for rows in arrivals {
        seed(&app, &rows).await;
        expected.push(rows[0].0);
        assert_matches(&app, "q=hell", &expected).await;
        assert_matches(&app, "q=el", &expected).await;
        assert_page(&app, "q=HELL&limit=1", &["a1"], expected.len()).await;
    }
}

#[tokio::test]
async fn messages_q_treats_percent_and_underscore_as_literal_characters() {
    let app = TestApp::spawn().await;
    let rows = [
        ("pct", ALICE, TS, Some("50% off")),
        ("snake", ALICE, TS, Some("snake_case")),
        ("abc", ALICE, TS, Some("abc")),
        ("slash", ALICE, TS, Some(r"a\b")),
    ];
    seed(&app, &rows).await;

    for (q, expected) in [
        ("%", &["pct"][..]),
        ("_", &["snake"]),
        ("a_c", &[]),
        ("e_c", &["snake"]),
        ("0%", &["pct"]),
        (r"\", &["slash"]),
    ] {
        assert_matches(&app, &format!("q={}", encode(q)), expected).await;
    }
}

#[tokio::test]
async fn messages_q_never_matches_a_message_without_text() {
    let app = TestApp::spawn().await;
    let rows = [
        ("absent", ALICE, TS, None),
        ("texted", ALICE, TS, Some("null, none")),
    ];
    seed(&app, &rows).await;
    let explicit_null = with(message("null"), json!({"text": null}));
    assert_eq!(app.post_webhook(&explicit_null).await.status(), 200);

    for q in ["null", "none", "n", " "] {
        assert_matches(&app, &format!("q={}", encode(q)), &["texted"]).await;
    }
    assert_matches(&app, "q=%25", &[]).await;
}

#[tokio::test]
async fn messages_returns_null_text_for_a_message_sent_without_text() {
    let app = TestApp::spawn().await;
    let mut absent = message("absent");
    absent.as_object_mut().unwrap().remove("text");
    let explicit_null = with(message("null"), json!({"text": null}));
    for body in [&absent, &explicit_null] {
        assert_eq!(app.post_webhook(body).await.status(), 200);
    }

    let page = app.messages("").await;

    let expected = json!([with(absent, json!({"text": null})), explicit_null]);
    assert_eq!(page["data"], expected);
}

#[tokio::test]
async fn messages_combines_from_since_and_q_with_a_matching_total() {
    let app = TestApp::spawn().await;
    let rows = [
        ("hit1", ALICE, "2025-01-15T10:00:00Z", Some("Order shipped")),
        ("hit2", ALICE, "2025-01-15T11:00:00.5Z", Some("ORDER late")),
        ("hit3", ALICE, "2025-01-16T09:00:00Z", Some("new order")),
        ("early", ALICE, "2025-01-15T09:59:59.9Z", Some("order")),
        ("other", BOB, "2025-01-15T12:00:00Z", Some("order from bob")),
        ("nomatch", ALICE, "2025-01-15T12:00:00Z", Some("hello")),
        ("notext", ALICE, "2025-01-15T12:00:00Z", None),
    ];
    seed(&app, &rows).await;
    let filters = "from=%2B911111111111&since=2025-01-15T10:00:00.000Z&q=order";

    assert_matches(&app, filters, &["hit1", "hit2", "hit3"]).await;
    assert_page(&app, &format!("{filters}&limit=1&offset=1"), &["hit2"], 3).await;
    assert_page(&app, &format!("{filters}&limit=2&offset=2"), &["hit3"], 3).await;
}

/// A word that 5 of 2,600 messages hold: too rare for a walk in `ts` (or sender) order
/// to find a page of it soon, so PostgreSQL takes the matches from its trigram index
/// first, then sorts them (below 2,000 rows in range it walks). Pages, totals, cursors
/// and offsets must be the same either way, with `%` still a plain character.
#[tokio::test]
async fn messages_q_that_few_of_thousands_match_pages_exactly_by_offset_and_cursor() {
    let app = TestApp::spawn().await;
    let rare = |i: usize| match i {
        7 => Some("ZANZIBAR at last".to_owned()),
        701 => Some("from zanzibar".to_owned()),
        1402 => Some("Zanzibar 500 km".to_owned()),
        1500 => Some("zanzibar again".to_owned()),
        2222 => Some("Visit Zanzibar 50% off".to_owned()),
        _ => None,
    };
    let names: Vec<String> = (0..2600).map(|i| format!("r{i:04}")).collect();
    let texts: Vec<String> = (0..2600)
        .map(|i| rare(i).unwrap_or_else(|| format!("hello world {i}")))
        .collect();
    let times: Vec<String> = (0..2600)
        .map(|i| format!("2025-01-15T10:{:02}:{:02}Z", i / 60, i % 60))
        .collect();
    let rows: Vec<Row> = (0..2600)
        .map(|i| {
            let from = if i % 5 == 0 { ALICE } else { BOB };
            (&names[i][..], from, &times[i][..], Some(&texts[i][..]))
        })
        .collect();
    for chunk in rows.chunks(100) {
        seed(&app, chunk).await;
    }
    let all = ["r0007", "r0701", "r1402", "r1500", "r2222"];

    assert_matches(&app, "q=zanzibar", &all).await;
    assert_page(&app, "q=ZANZIBAR&offset=2", &all[2..], 5).await;
    assert_page(&app, "q=zanzibar&limit=3&offset=3", &all[3..], 5).await;
    assert_matches(&app, &format!("q={}", encode("zibar 50%")), &["r2222"]).await;
    // BOB sent 2,080 messages, four of them with the word.
    let bob = format!("from={}", encode(BOB));
    let bobs = ["r0007", "r0701", "r1402", "r2222"];
    assert_matches(&app, &format!("{bob}&q=Zanzibar"), &bobs).await;
    assert_matches(
        &app,
        &format!("{bob}&since={}&q=zanzibar", times[8]),
        &bobs[1..],
    )
    .await;
    // From the 6th message on (2,594 rows), and from the 701st (1,899 rows).
    assert_matches(&app, &format!("since={}&q=zanzibar", times[5]), &all).await;
    assert_matches(&app, &format!("since={}&q=zanzibar", times[701]), &all[1..]).await;

    let first = app.messages("q=zanzibar&limit=3").await;
    assert_eq!(ids(&first), &all[..3]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let second = app
        .messages(&format!("q=zanzibar&limit=3&cursor={cursor}"))
        .await;
    assert_eq!(ids(&second), &all[3..]);
    assert_eq!(
        (&second["total"], &second["next_cursor"]),
        (&json!(5), &Value::Null)
    );
}

#[tokio::test]
async fn messages_treats_an_empty_from_or_q_as_not_given() {
    let app = TestApp::spawn().await;
    seed(&app, &[("a", ALICE, TS, Some("x")), ("b", BOB, TS, None)]).await;

    for query in ["from=", "q=", "from=&q=&limit=10"] {
        assert_matches(&app, query, &["a", "b"]).await;
    }
}

#[tokio::test]
async fn messages_q_may_contain_nul_and_other_control_characters() {
    let app = TestApp::spawn().await;
    seed(
        &app,
        &[
            ("nul", ALICE, TS, Some("ab\u{0}cd")),
            ("plain", BOB, TS, Some("abcd")),
        ],
    )
    .await;

    for query in ["q=b%00c", "q=b%00c&since=2000-01-01T00:00:00Z", "q=%00"] {
        let page = app.messages(query).await;
        assert_eq!(ids(&page), ["nul"], "{query}");
        assert_eq!(page["total"], 1, "{query}");
    }
}
