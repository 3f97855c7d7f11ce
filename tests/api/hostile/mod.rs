//! A corpus of hostile requests. Each must get a 4xx with a JSON body (never a 5xx,
//! never a hang) and none may store a row; filters full of SQL and search syntax
//! must match as literal text.

mod corpus;
mod exhaustion;
mod field_limits;
mod raw;
mod request_cases;
mod request_ids;
mod webhook_cases;

use serde_json::{json, Value};

use crate::helpers::{json_ok, message, message_ids, with, TestApp};
use corpus::{run, Case, Expect, DEFAULT_LIMIT, SMALL_LIMIT};
use request_cases::{broken_http, framing, literal_filters, query_parameters, routing};
use webhook_cases::{oversized_bodies, webhook_bodies, webhook_headers};

/// The messages every app holds before the corpus runs.
fn seeds() -> [Value; 3] {
    [
        with(
            message("seed-1"),
            json!({"from": "+111", "text": "50% off_now"}),
        ),
        with(
            message("seed-2"),
            json!({"from": "+222", "text": "He said \"hi\" OR NOT* it"}),
        ),
        with(message("seed-3"), json!({"from": "+111", "text": null})),
    ]
}

async fn seeded_app(env: &[(&str, &str)]) -> TestApp {
    let app = TestApp::spawn_with(env).await;
    for seed in seeds() {
        json_ok(app.post_webhook(&seed).await).await;
    }
    app
}

/// Both apps still answer, and hold exactly the seeded messages.
async fn assert_nothing_stored_and_alive(apps: [&TestApp; 2]) {
    let seeded: Vec<Value> = seeds()
        .into_iter()
        .map(|seed| seed["message_id"].clone())
        .collect();
    for app in apps {
        let page = app.messages("limit=100").await;
        let ids: Vec<Value> = message_ids(&page).into_iter().map(Value::from).collect();
        assert_eq!(ids, seeded, "rows other than the seeds were stored");
        assert_eq!(page["total"], 3);
        assert_eq!(app.stats().await["total_messages"], 3);
        assert_eq!(json_ok(app.get("/health/live").await).await["status"], "ok");
        // Every line the process wrote is still one JSON object with its time and level.
        for line in app.logs() {
            assert!(
                line["ts"].is_string() && line["level"].is_string(),
                "{line}"
            );
        }
    }
}

async fn spawn_pair() -> (TestApp, TestApp) {
    let limit = SMALL_LIMIT.to_string();
    let small = seeded_app(&[("MAX_BODY_BYTES", &limit), ("REQUEST_TIMEOUT_SECS", "2")]).await;
    let default = seeded_app(&[("MAX_BODY_BYTES", &DEFAULT_LIMIT.to_string())]).await;
    (small, default)
}

#[tokio::test]
async fn hostile_requests_get_a_json_4xx_or_a_literal_match_and_store_nothing() {
    let (small, default) = spawn_pair().await;
    let cases: Vec<Case> = [
        webhook_bodies(),
        webhook_headers(),
        oversized_bodies(),
        framing(),
        routing(),
        query_parameters(),
        literal_filters(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let refusals = cases
        .iter()
        .filter(|case| !matches!(case.expect, Expect::Page(_)))
        .count();
    assert!(refusals >= 60, "only {refusals} hostile cases expect a 4xx");

    let failures = run(&cases, &small, &default, true).await;

    assert!(
        failures.is_empty(),
        "{} of {} hostile cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_nothing_stored_and_alive([&small, &default]).await;
}

#[tokio::test]
async fn broken_http_is_refused_with_a_4xx_and_stores_nothing() {
    let (small, default) = spawn_pair().await;
    let cases = broken_http();

    let failures = run(&cases, &small, &default, false).await;

    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_nothing_stored_and_alive([&small, &default]).await;
}

#[tokio::test]
async fn broken_http_is_refused_with_a_json_body() {
    let (small, default) = spawn_pair().await;
    let cases = broken_http();

    let failures = run(&cases, &small, &default, true).await;

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
