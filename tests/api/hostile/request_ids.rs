//! `X-Request-ID` is taken only when it is 1 to 128 visible ASCII characters; any
//! other is replaced by a new id, the same in the log line and the response.

use reqwest::header::HeaderValue;

use crate::helpers::TestApp;

/// Waits for the request line carrying `request_id`.
async fn request_line(app: &mut TestApp, request_id: &str) -> serde_json::Value {
    app.wait_for_log(|line| line["request_id"] == request_id && line["status"].is_number())
        .await
}

async fn live_with_id(app: &TestApp, request_id: &[u8]) -> String {
    let response = app
        .client
        .get(format!("{}/health/live", app.address))
        .header("x-request-id", HeaderValue::from_bytes(request_id).unwrap())
        .send()
        .await
        .expect("GET");
    assert_eq!(response.status(), 200);
    let echoed = response.headers()["x-request-id"].to_str().unwrap();
    echoed.to_owned()
}

#[tokio::test]
async fn a_request_id_of_128_visible_characters_is_taken_as_it_is() {
    let mut app = TestApp::spawn().await;
    let longest = format!("{}~", "r".repeat(127));

    let echoed = live_with_id(&app, longest.as_bytes()).await;

    assert_eq!(echoed, longest);
    request_line(&mut app, &longest).await;
}

#[tokio::test]
async fn a_request_id_too_long_or_not_visible_ascii_is_replaced_alike_in_log_and_response() {
    let mut app = TestApp::spawn().await;
    let refused: [&[u8]; 5] = [
        &[b'r'; 129],
        &[b'r'; 8000],
        b"has space",
        "caf\u{e9}-\u{1f600}".as_bytes(),
        b"tab\there",
    ];
    let mut echoed = Vec::new();
    for value in refused {
        let id = live_with_id(&app, value).await;

        assert_ne!(id.as_bytes(), value);
        assert!((1..=128).contains(&id.len()), "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_graphic()), "{id}");
        let line = request_line(&mut app, &id).await;
        assert_eq!(line["path"], "/health/live");
        echoed.push(id);
    }
    echoed.sort();
    echoed.dedup();
    assert_eq!(echoed.len(), refused.len(), "replaced ids must be unique");
}
