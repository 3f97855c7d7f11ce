//! What an operator does with the console: the first view, the filters, paging, links
//! and the keyboard.

use serde_json::Value;

use crate::browser::{webdriver_or_skip, Browser};
use crate::helpers::TestApp;
use crate::{ids, newest, seed, PAGE, SENDERS};

fn matching(messages: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    messages.iter().filter(|m| keep(m)).cloned().collect()
}

#[tokio::test]
async fn the_first_view_shows_the_newest_page_and_the_stats() {
    let Some(webdriver) = webdriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn().await;
    let messages = seed(&app, 120).await;
    let browser = Browser::open(&webdriver, 1280, 900).await;

    browser.goto(&app.address).await;

    browser.until_rows(&newest(&messages)).await;
    assert_eq!(browser.text("#summary").await, "Messages 71–120 of 120");
    browser
        .until(
            "the stats",
            "return document.getElementById('stat-total').textContent === '120';",
        )
        .await;
    assert_eq!(browser.text("#stat-senders").await, "3");
    assert_eq!(browser.text("#stat-first").await, "2025-01-15T08:00:00Z");
    assert_eq!(browser.text("#stat-last").await, "2025-01-15T09:59:00Z");
    let bars = browser
        .js(
            "return [...document.querySelectorAll('#senders li')].map((li) =>
                [li.querySelector('.sender').textContent, li.querySelector('.count').textContent,
                 li.querySelector('.fill').getBoundingClientRect().width > 0]);",
            vec![],
        )
        .await;
    assert_eq!(
        bars,
        serde_json::json!([
            [SENDERS[0], "40", true],
            [SENDERS[1], "40", true],
            [SENDERS[2], "40", true]
        ])
    );
    // A message without text says so rather than showing an empty cell.
    let no_text = browser
        .js(
            "return document.querySelector('#rows tr[data-id=\"m119\"] td.text').textContent;",
            vec![],
        )
        .await;
    assert_eq!(no_text, "(no text)");
    assert!(browser.console_errors().await.is_empty());
    browser.close().await;
}

#[tokio::test]
async fn each_filter_narrows_the_rows_and_lands_in_the_url() {
    let Some(webdriver) = webdriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn().await;
    let messages = seed(&app, 90).await;
    let browser = Browser::open(&webdriver, 1280, 900).await;
    browser.goto(&app.address).await;
    browser.until_rows(&newest(&messages)).await;

    browser.type_into("#filter-from", SENDERS[1]).await;
    browser.click("#filters button[type=submit]").await;
    let from = matching(&messages, |m| m["from"] == SENDERS[1]);
    browser.until_rows(&newest(&from)).await;
    assert_eq!(browser.location().await, "/?from=%2B15550000002");

    browser.type_into("#filter-from", "").await;
    browser.type_into("#filter-q", "HELLO").await;
    browser.click("#filters button[type=submit]").await;
    let hello = matching(&messages, |m| {
        m["text"]
            .as_str()
            .is_some_and(|text| text.contains("hello"))
    });
    browser.until_rows(&newest(&hello)).await;
    assert_eq!(browser.location().await, "/?q=HELLO");

    browser.type_into("#filter-q", "").await;
    browser
        .type_into("#filter-since", "2025-01-15T09:15:00Z")
        .await;
    browser.click("#filters button[type=submit]").await;
    browser.until_rows(&ids(&messages, 75..90)).await;
    assert_eq!(browser.text("#summary").await, "Messages 1–15 of 15");

    // Every filter at once, then a sender picked from the chart replaces `from`.
    browser.type_into("#filter-q", "number").await;
    browser.type_into("#filter-from", SENDERS[0]).await;
    browser.click("#filters button[type=submit]").await;
    let all = matching(&messages[75..], |m| {
        m["from"] == SENDERS[0] && !m["text"].is_null()
    });
    browser.until_rows(&newest(&all)).await;
    browser
        .until(
            "the chart",
            "return document.querySelectorAll('#senders .sender').length === 3;",
        )
        .await;
    browser.click("#senders li:nth-child(3) .sender").await;
    let picked = matching(&messages[75..], |m| {
        m["from"] == SENDERS[2] && !m["text"].is_null()
    });
    browser.until_rows(&newest(&picked)).await;
    assert_eq!(
        browser.location().await,
        "/?from=%2B15550000003&since=2025-01-15T09%3A15%3A00Z&q=number"
    );

    // A bad `since` is said plainly, from the API's own 422.
    browser.click("#clear").await;
    browser.until_rows(&newest(&messages)).await;
    browser.type_into("#filter-since", "yesterday").await;
    browser.click("#filters button[type=submit]").await;
    let status = browser
        .until(
            "the error",
            "return document.querySelector('#status.error')?.textContent;",
        )
        .await;
    assert!(status.as_str().unwrap().starts_with("since: "), "{status}");
    browser.close().await;
}

#[tokio::test]
async fn paging_goes_forward_by_cursor_and_back_by_the_pages_seen() {
    let Some(webdriver) = webdriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn().await;
    let messages = seed(&app, 120).await;
    let browser = Browser::open(&webdriver, 1280, 900).await;
    browser.goto(&app.address).await;
    browser.until_rows(&ids(&messages, 70..120)).await;
    let disabled = |id: &str| format!("return document.getElementById('{id}').disabled;");

    browser.click("#oldest").await;
    browser.until_rows(&ids(&messages, 0..PAGE)).await;
    assert_eq!(browser.js(&disabled("previous"), vec![]).await, true);
    browser.click("#next").await;
    browser.until_rows(&ids(&messages, 50..100)).await;
    browser.click("#next").await;
    browser.until_rows(&ids(&messages, 100..120)).await;
    assert_eq!(browser.text("#summary").await, "Messages 101–120 of 120");
    assert_eq!(browser.js(&disabled("next"), vec![]).await, true);
    assert_eq!(browser.js(&disabled("newest"), vec![]).await, true);
    browser.click("#previous").await;
    browser.until_rows(&ids(&messages, 50..100)).await;
    browser.click("#previous").await;
    browser.until_rows(&ids(&messages, 0..PAGE)).await;

    browser.click("#newest").await;
    browser.until_rows(&ids(&messages, 70..120)).await;
    // Back from the newest page, which was reached by offset, one page at a time.
    browser.click("#previous").await;
    browser.until_rows(&ids(&messages, 20..70)).await;
    browser.click("#previous").await;
    browser.until_rows(&ids(&messages, 0..PAGE)).await;
    browser.close().await;
}

#[tokio::test]
async fn a_link_reproduces_the_view_and_history_goes_back_through_filters() {
    let Some(webdriver) = webdriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn().await;
    let messages = seed(&app, 90).await;
    let browser = Browser::open(&webdriver, 1280, 900).await;
    let link = "/?q=hello&from=%2B15550000001";
    let expected = matching(&messages, |m| {
        m["from"] == SENDERS[0] && m["text"].as_str().is_some_and(|t| t.contains("hello"))
    });

    browser.goto(&format!("{}{link}", app.address)).await;

    browser.until_rows(&newest(&expected)).await;
    let form = browser
        .js(
            "return ['filter-from', 'filter-since', 'filter-q']
                .map((id) => document.getElementById(id).value);",
            vec![],
        )
        .await;
    assert_eq!(form, serde_json::json!([SENDERS[0], "", "hello"]));

    // A `+` typed unencoded in a link reaches the API as a space, which it reads as `+`.
    browser
        .goto(&format!("{}/?from=+15550000001&q=hello", app.address))
        .await;
    browser.until_rows(&newest(&expected)).await;

    browser.type_into("#filter-q", "other").await;
    browser.click("#filters button[type=submit]").await;
    let other = matching(&messages, |m| {
        m["from"] == SENDERS[0] && m["text"].as_str().is_some_and(|t| t.contains("other"))
    });
    browser.until_rows(&newest(&other)).await;
    let url = browser.location().await;
    assert_eq!(url, "/?from=%2B15550000001&q=other");
    browser.client.back().await.expect("back");
    browser.until_rows(&newest(&expected)).await;
    browser.client.forward().await.expect("forward");
    browser.until_rows(&newest(&other)).await;

    let second = Browser::open(&webdriver, 1280, 900).await;
    second.goto(&format!("{}{url}", app.address)).await;
    second.until_rows(&newest(&other)).await;
    second.close().await;
    browser.close().await;
}

#[tokio::test]
async fn the_keyboard_reaches_a_message_and_opens_it_whole() {
    let Some(webdriver) = webdriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn().await;
    let long_text = format!("{} the end", "long text ".repeat(80));
    let mut message = crate::seeded(0);
    message["text"] = long_text.clone().into();
    assert_eq!(app.post_webhook(&message).await.status(), 200);
    let browser = Browser::open(&webdriver, 1280, 900).await;
    browser.goto(&app.address).await;
    browser.until_rows(&["m000".to_owned()]).await;

    // Tab from the filters to the first row's button, then Enter.
    browser
        .js("document.getElementById('clear').focus();", vec![])
        .await;
    let mut focused = Value::Null;
    for _ in 0..6 {
        browser
            .client
            .active_element()
            .await
            .expect("focus")
            .send_keys("\u{E004}")
            .await
            .expect("Tab");
        focused = browser
            .js("return document.activeElement.className;", vec![])
            .await;
        if focused == "open" {
            break;
        }
    }
    assert_eq!(focused, "open", "Tab reaches the row's button");
    let active = browser.client.active_element().await.expect("focus");
    active.send_keys("\u{E007}").await.expect("Enter");

    browser
        .until(
            "the dialog",
            "return document.getElementById('message').open;",
        )
        .await;
    let shown = browser
        .js(
            "return document.getElementById('m-text').textContent;",
            vec![],
        )
        .await;
    assert_eq!(shown, long_text.as_str());
    assert_eq!(browser.text("#m-id").await, "m000");
    let escape = browser.client.active_element().await.expect("focus");
    escape.send_keys("\u{E00C}").await.expect("Escape");
    browser
        .until("closed", "return !document.getElementById('message').open;")
        .await;
    assert!(browser.console_errors().await.is_empty());
    browser.close().await;
}

#[tokio::test]
async fn the_newest_page_is_right_however_the_matches_are_spread_in_time() {
    let Some(webdriver) = webdriver_or_skip() else {
        return;
    };
    let app = TestApp::spawn().await;
    let recent = seed(&app, 120).await;
    // 120 messages of one sender hours before the others, the last 61 at one instant.
    let early: Vec<Value> = (0..120)
        .map(|i| {
            serde_json::json!({"message_id": format!("e{i:03}"), "from": "+15550000077",
                "to": "+14155550100", "ts": format!("2025-01-15T00:{:02}:00Z", i.min(59)),
                "text": "early bird"})
        })
        .collect();
    for message in &early {
        assert_eq!(app.post_webhook(message).await.status(), 200);
    }
    let everything: Vec<Value> = early.iter().chain(&recent).cloned().collect();
    let browser = Browser::open(&webdriver, 1280, 900).await;

    for (link, matches) in [
        ("/?from=%2B15550000077", early.clone()),
        ("/?q=bird", early.clone()),
        ("/?q=number", matching(&recent, |m| !m["text"].is_null())),
        ("/?since=2025-01-15T00:30:00Z", everything[30..].to_vec()),
        ("/", everything.clone()),
    ] {
        browser.goto(&format!("{}{link}", app.address)).await;
        browser.until_rows(&newest(&matches)).await;
        // One page back: the page before, whichever way the newest one was found.
        let back = (matches.len() - PAGE).saturating_sub(PAGE);
        browser.click("#previous").await;
        browser.until_rows(&ids(&matches, back..back + PAGE)).await;
    }
    browser.close().await;
}
