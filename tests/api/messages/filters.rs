//! `/messages` filters: `from`, `since` and `q`, alone and together.

use super::*;

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
        // Σ ends a word in one and not in the other: one q must find it in both.
        ("greek-inside", ALICE, TS, Some("ΟΣΑ")),
        ("greek-last", ALICE, TS, Some("ΟΔΟΣ")),
    ];
    seed(&app, &rows).await;

    for (q, expected) in [
        ("hello", &["ascii", "shout"][..]),
        ("O w", &["ascii"]),
        ("ÉCOLE", &["french", "upper"]),
        ("école", &["french", "upper"]),
        ("привет МИР", &["russian"]),
        ("ecole", &[]),
        ("ΟΣ", &["greek-inside", "greek-last"]),
        ("ος", &["greek-inside", "greek-last"]),
        ("Σ", &["greek-inside", "greek-last"]),
        ("δος", &["greek-last"]),
        ("ΟΣΑ", &["greek-inside"]),
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

/// SQLite's trigram index stopped at a NUL: the words after it were missed by the
/// count, though not by the page.
#[tokio::test]
async fn messages_q_finds_and_counts_the_text_after_a_nul() {
    let app = TestApp::spawn().await;
    seed(
        &app,
        &[
            (
                "nul",
                ALICE,
                "2025-01-15T10:00:00Z",
                Some("a\u{0}hello world"),
            ),
            ("plain", BOB, "2025-01-15T11:00:00Z", Some("xyz hello")),
        ],
    )
    .await;

    assert_matches(&app, "q=hello", &["nul", "plain"]).await;
    assert_matches(&app, "q=a%00hel", &["nul"]).await;
    assert_page(&app, "q=hello&offset=1", &["plain"], 2).await;
}
