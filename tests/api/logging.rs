use serde_json::{json, Value};
use webhook_inbox::config::Secret;

use crate::helpers::{json_ok, json_with_status, message, sign, with, TestApp};
use crate::lifecycle::Process;

#[tokio::test]
async fn every_line_from_startup_to_shutdown_is_one_json_object() {
    let process = Process::start().await;
    process.get("/health/live").await;
    process.get("/metrics").await;
    let client = reqwest::Client::new();
    let not_found = client
        .get(format!("{}/nope?x=%ff", process.address))
        .send()
        .await
        .unwrap();
    assert_eq!(not_found.status(), 404);
    let garbage = client
        .post(format!("{}/webhook", process.address))
        .header("x-signature", sign(b"\xff{not json"))
        .body(&b"\xff{not json"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 422);

    // `stop_with` parses every stdout line and fails on one that is not a JSON object.
    let (status, lines, stderr) = process.stop_with("TERM").await;

    assert!(status.success());
    assert_eq!(stderr, Vec::<String>::new(), "nothing on stderr");
    assert!(
        lines.len() >= 6,
        "startup, four requests, shutdown: {lines:?}"
    );
    for line in &lines {
        assert!(
            line["ts"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    assert_eq!(
        lines.iter().filter(|l| l["message"] == "listening").count(),
        1
    );
    let last = lines.last().unwrap();
    assert!(
        last.get("request_id").is_none_or(Value::is_null),
        "the last line is the shutdown, not a request: {last}"
    );
}

#[tokio::test]
async fn each_request_writes_one_line_with_the_contract_fields() {
    let mut app = TestApp::spawn().await;

    let response = get_with_id(&app, "/health/live", "probe-1").await;
    assert_eq!(response.status(), 200);
    get_with_id(&app, "/stats", "probe-2").await;
    let line = request_line(&mut app, "probe-1").await;
    request_line(&mut app, "probe-2").await;

    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["path"], "/health/live");
    assert_eq!(line["status"], 200);
    assert!(
        line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{line}"
    );
    let ts = line["ts"].as_str().expect("ts is a string");
    humantime::parse_rfc3339(ts).unwrap_or_else(|_| panic!("ts is not ISO-8601: {ts}"));
    let probe_lines = app
        .logs()
        .into_iter()
        .filter(|l| l["request_id"] == "probe-1")
        .count();
    assert_eq!(probe_lines, 1, "exactly one line per request");
    assert!(line.get("result").is_none_or(Value::is_null), "{line}");
}

#[tokio::test]
async fn webhook_lines_carry_result_dup_and_message_id() {
    let mut app = TestApp::spawn().await;

    json_ok(post_with_id(&app, &message("m1"), "first").await).await;
    json_ok(post_with_id(&app, &message("m1"), "again").await).await;
    let invalid = with(message("m2"), json!({"ts": "2025-13-45T10:00:00Z"}));
    json_with_status(post_with_id(&app, &invalid, "invalid").await, 422).await;

    let created = request_line(&mut app, "first").await;
    assert_eq!(created["method"], "POST");
    assert_eq!(created["path"], "/webhook");
    assert_eq!(created["status"], 200);
    assert_eq!(created["result"], "created");
    assert_eq!(created["dup"], false);
    assert_eq!(created["message_id"], "m1");
    let duplicate = request_line(&mut app, "again").await;
    assert_eq!(duplicate["status"], 200);
    assert_eq!(duplicate["result"], "duplicate");
    assert_eq!(duplicate["dup"], true);
    assert_eq!(duplicate["message_id"], "m1");
    let rejected = request_line(&mut app, "invalid").await;
    assert_eq!(rejected["status"], 422);
    assert_eq!(rejected["result"], "validation_error");
    assert_eq!(rejected["dup"], false);
    assert_eq!(rejected["message_id"], "m2", "the id could be read");
}

#[tokio::test]
async fn an_invalid_signature_is_logged_at_error_level_without_a_message_id() {
    let mut app = TestApp::spawn().await;
    let body = serde_json::to_vec(&message("m1")).unwrap();

    let response = app
        .client
        .post(format!("{}/webhook", app.address))
        .header("x-request-id", "forged")
        .header("content-type", "application/json")
        .header("x-signature", sign(b"another body"))
        .body(body)
        .send()
        .await
        .unwrap();
    json_with_status(response, 401).await;

    let line = request_line(&mut app, "forged").await;
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["status"], 401);
    assert_eq!(line["result"], "invalid_signature");
    assert_eq!(line["dup"], false);
    assert!(line.get("message_id").is_none_or(Value::is_null), "{line}");
}

#[tokio::test]
async fn an_incoming_request_id_is_echoed_and_logged() {
    let mut app = TestApp::spawn().await;

    let response = get_with_id(&app, "/messages", "client-chosen-42").await;

    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
    let line = request_line(&mut app, "client-chosen-42").await;
    assert_eq!(line["path"], "/messages");
}

#[tokio::test]
async fn without_a_request_id_each_request_gets_a_unique_generated_one() {
    let mut app = TestApp::spawn().await;

    let first = app.get("/health/live").await;
    let second = app.get("/health/live").await;

    let id = |response: &reqwest::Response| {
        let value = response.headers().get("x-request-id").expect("echoed id");
        value.to_str().unwrap().to_owned()
    };
    let (first, second) = (id(&first), id(&second));
    assert!(!first.is_empty());
    assert_ne!(first, second);
    for generated in [first, second] {
        let line = request_line(&mut app, &generated).await;
        assert_eq!(line["path"], "/health/live");
    }
}

#[tokio::test]
async fn the_secret_never_appears_in_any_log_line() {
    let secret = "zebra-Quux-7781-do-not-log";
    let mut app = TestApp::spawn_with(&[("WEBHOOK_SECRET", secret), ("LOG_LEVEL", "trace")]).await;
    let signed = |body: &[u8]| webhook_inbox::signature::sign(&Secret::new(secret), body);
    let body = serde_json::to_vec(&message("m1")).unwrap();

    let created = app
        .post_webhook_raw(body.clone(), Some(&signed(&body)))
        .await;
    json_ok(created).await;
    let forged = app.post_webhook_raw(body.clone(), Some(&sign(&body))).await;
    assert_eq!(
        forged.status(),
        401,
        "the test secret is not this app's secret"
    );
    let invalid = br#"{"message_id": "m2"}"#.to_vec();
    let rejected = app
        .post_webhook_raw(invalid.clone(), Some(&signed(&invalid)))
        .await;
    assert_eq!(rejected.status(), 422);
    app.wait_for_log(|line| line["status"] == 422).await;

    let logs = app.logs();
    assert!(logs.len() >= 4);
    for line in logs {
        assert!(!line.to_string().contains(secret), "secret leaked: {line}");
    }
    assert!(app.stderr().iter().all(|line| !line.contains(secret)));
}

async fn get_with_id(app: &TestApp, path: &str, request_id: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.address))
        .header("x-request-id", request_id)
        .send()
        .await
        .expect("GET")
}

async fn post_with_id(app: &TestApp, body: &Value, request_id: &str) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    app.client
        .post(format!("{}/webhook", app.address))
        .header("x-request-id", request_id)
        .header("content-type", "application/json")
        .header("x-signature", sign(&bytes))
        .body(bytes)
        .send()
        .await
        .expect("POST /webhook")
}

/// Waits for the request line carrying `request_id`.
async fn request_line(app: &mut TestApp, request_id: &str) -> Value {
    app.wait_for_log(|line| line["request_id"] == request_id && line["status"].is_number())
        .await
}
