use futures::future::join_all;
use serde_json::{json, Value};

use crate::helpers::{json_ok, json_with_status, message, sign, with, TestApp};

async fn stored_count(app: &TestApp) -> u64 {
    app.messages("").await["total"].as_u64().expect("total")
}

/// Posts `body` signed over exactly these bytes, and returns status and JSON body.
async fn post_signed_bytes(app: &TestApp, body: &[u8]) -> (u16, Value) {
    let response = app.post_webhook_raw(body.to_vec(), Some(&sign(body))).await;
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
    (status, json)
}

fn detail_locs(body: &Value) -> Vec<Value> {
    body["detail"]
        .as_array()
        .expect("detail is a list")
        .iter()
        .map(|entry| {
            assert!(
                entry["msg"].is_string() && entry["type"].is_string(),
                "{entry}"
            );
            entry["loc"].clone()
        })
        .collect()
}

#[tokio::test]
async fn webhook_stores_a_valid_signed_message_and_answers_ok() {
    let app = TestApp::spawn().await;

    let body = json_ok(app.post_webhook(&message("m1")).await).await;

    assert_eq!(body, json!({"status": "ok"}));
    let page = app.messages("").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["data"][0], message("m1"));
}

#[tokio::test]
async fn webhook_answers_ok_to_a_duplicate_and_keeps_the_first_version() {
    let app = TestApp::spawn().await;
    json_ok(app.post_webhook(&message("m1")).await).await;

    let second = with(message("m1"), json!({"text": "Changed", "to": "+1999"}));
    let body = json_ok(app.post_webhook(&second).await).await;

    assert_eq!(body, json!({"status": "ok"}));
    let page = app.messages("").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["data"][0], message("m1"));
}

#[tokio::test]
async fn webhook_stores_one_row_for_fifty_simultaneous_identical_posts() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&message("same")).unwrap();
    let signature = sign(&body);

    let responses =
        join_all((0..50).map(|_| app.post_webhook_raw(body.clone(), Some(&signature)))).await;

    for response in responses {
        assert_eq!(json_ok(response).await, json!({"status": "ok"}));
    }
    assert_eq!(stored_count(&app).await, 1);
    assert_eq!(app.stats().await["total_messages"], 1);
}

#[tokio::test]
async fn webhook_returns_401_when_the_signature_is_missing_empty_or_wrong() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&message("m1")).unwrap();
    let other_body = sign(b"something else");
    let truncated = &sign(&body)[..40];

    for signature in [
        None,
        Some(""),
        Some("not-hex"),
        Some(truncated),
        Some(&other_body),
    ] {
        let response = app.post_webhook_raw(body.clone(), signature).await;
        assert_eq!(
            json_with_status(response, 401).await,
            json!({"detail": "invalid signature"}),
            "signature {signature:?}"
        );
    }
    assert_eq!(stored_count(&app).await, 0);
}

#[tokio::test]
async fn webhook_checks_the_signature_before_validating_the_body() {
    let app = TestApp::spawn().await;

    for body in [&b"not json"[..], b"", b"[]", br#"{"message_id": ""}"#] {
        let response = app.post_webhook_raw(body.to_vec(), Some(&sign(b"x"))).await;
        assert_eq!(
            json_with_status(response, 401).await,
            json!({"detail": "invalid signature"})
        );
    }
}

#[tokio::test]
async fn webhook_verifies_the_exact_bytes_received_not_reserialized_json() {
    let app = TestApp::spawn().await;
    let spaced = br#"{ "text" : "Hi",  "ts":"2025-01-15T10:00:00Z",
        "to":"+14155550100", "from":"+919876543210", "message_id":"raw" }"#;

    assert_eq!(post_signed_bytes(&app, spaced).await.0, 200);

    // The same JSON, re-serialized, does not carry the original's signature.
    let reserialized =
        serde_json::to_vec(&serde_json::from_slice::<Value>(spaced).unwrap()).unwrap();
    let response = app
        .post_webhook_raw(reserialized, Some(&sign(spaced)))
        .await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.messages("").await["data"][0]["text"], "Hi");
}

#[tokio::test]
async fn webhook_accepts_the_signature_in_uppercase_hex() {
    let app = TestApp::spawn().await;
    let body = serde_json::to_vec(&message("upper")).unwrap();

    let response = app
        .post_webhook_raw(body.clone(), Some(&sign(&body).to_uppercase()))
        .await;

    assert_eq!(json_ok(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn webhook_returns_422_for_bodies_that_are_not_one_json_object() {
    let app = TestApp::spawn().await;

    let bodies: [&[u8]; 9] = [
        b"",
        b"not json",
        b"[]",
        b"[{}]",
        // The fields of a valid message, in order, but in an array.
        br#"["m1","+919876543210","+14155550100","2025-01-15T10:00:00Z","hi"]"#,
        b"\"m1\"",
        b"{\"message_id\":",
        b"\xff\xfe{}",
        // Not UTF-8, in a field the message does not read.
        b"{\"message_id\":\"m1\",\"from\":\"+919876543210\",\"to\":\"+14155550100\",\
          \"ts\":\"2025-01-15T10:00:00Z\",\"x\":\"\xff\"}",
    ];
    for body in bodies {
        let (status, json) = post_signed_bytes(&app, body).await;
        assert_eq!(status, 422, "body {body:?}");
        assert_eq!(detail_locs(&json), [json!(["body"])], "body {body:?}");
    }
    assert_eq!(stored_count(&app).await, 0);
}

#[tokio::test]
async fn webhook_returns_422_naming_each_broken_field_rule() {
    let app = TestApp::spawn().await;
    let cases = [
        (with(message("x"), json!({"message_id": ""})), "message_id"),
        (with(message("x"), json!({"message_id": 12})), "message_id"),
        (with(message("x"), json!({"from": null})), "from"),
        (with(message("x"), json!({"from": "919876543210"})), "from"),
        (with(message("x"), json!({"from": "+91-98765"})), "from"),
        (with(message("x"), json!({"from": "+"})), "from"),
        (with(message("x"), json!({"to": "+1415555010x"})), "to"),
        (
            with(message("x"), json!({"ts": "2025-13-45T10:00:00Z"})),
            "ts",
        ),
        (
            with(message("x"), json!({"ts": "2025-02-29T10:00:00Z"})),
            "ts",
        ),
        (
            with(message("x"), json!({"ts": "2025-01-15T10:00:00+00:00"})),
            "ts",
        ),
        (
            with(message("x"), json!({"ts": "2025-01-15 10:00:00"})),
            "ts",
        ),
        (with(message("x"), json!({"text": 42})), "text"),
        (
            with(message("x"), json!({"text": "a".repeat(4097)})),
            "text",
        ),
    ];
    for (body, field) in cases {
        let json = json_with_status(app.post_webhook(&body).await, 422).await;
        assert_eq!(detail_locs(&json), [json!(["body", field])], "{body}");
        // A field given, even as null, is never reported missing.
        assert_ne!(json["detail"][0]["type"], "missing", "{body}");
    }
    let mut missing = message("x");
    missing.as_object_mut().unwrap().remove("to");
    let json = json_with_status(app.post_webhook(&missing).await, 422).await;
    assert_eq!(detail_locs(&json), [json!(["body", "to"])]);
    assert_eq!(stored_count(&app).await, 0);
}

#[tokio::test]
async fn webhook_reports_every_broken_rule_in_one_answer() {
    let app = TestApp::spawn().await;
    let body = json!({"message_id": "", "from": "x", "to": "y", "ts": "z"});

    let json = json_with_status(app.post_webhook(&body).await, 422).await;

    let mut locs = detail_locs(&json);
    locs.sort_by_key(|loc| loc.to_string());
    let fields = ["from", "message_id", "to", "ts"];
    assert_eq!(locs, fields.map(|field| json!(["body", field])));
}

#[tokio::test]
async fn webhook_limits_text_to_4096_characters_not_bytes() {
    let app = TestApp::spawn().await;
    let long = "é".repeat(4096);

    json_ok(
        app.post_webhook(&with(message("long"), json!({"text": long})))
            .await,
    )
    .await;

    assert_eq!(app.messages("").await["data"][0]["text"], json!(long));
}

#[tokio::test]
async fn webhook_accepts_missing_or_null_text_and_fractional_seconds() {
    let app = TestApp::spawn().await;
    let mut no_text = message("a");
    no_text.as_object_mut().unwrap().remove("text");
    let null_text = with(
        message("b"),
        json!({"text": null, "ts": "2025-01-15T10:00:00.123456789Z"}),
    );

    json_ok(app.post_webhook(&no_text).await).await;
    json_ok(app.post_webhook(&null_text).await).await;

    let data = app.messages("").await["data"].clone();
    assert_eq!(data[0]["text"], Value::Null);
    assert_eq!(data[1]["text"], Value::Null);
    assert_eq!(data[1]["ts"], "2025-01-15T10:00:00.123456789Z");
}

#[tokio::test]
async fn webhook_refuses_a_body_that_names_another_content_type() {
    let mut app = TestApp::spawn().await;
    let body = serde_json::to_vec(&message("m1")).unwrap();

    let response = app
        .client
        .post(format!("{}/webhook", app.address))
        .header("content-type", "text/plain")
        .header("x-signature", sign(&body))
        .body(body)
        .send()
        .await
        .unwrap();

    let json = json_with_status(response, 422).await;
    assert_eq!(detail_locs(&json), [json!(["header", "content-type"])]);
    assert_eq!(stored_count(&app).await, 0);
    // Correctly signed: its line says which message was refused.
    let line = app
        .wait_for_log(|line| line["path"] == "/webhook" && line["status"] == 422)
        .await;
    assert_eq!(line["message_id"], "m1", "{line}");
}

/// `application/json` and the JSON types `application/…+json`, with any parameters, are
/// read as JSON; a type that only looks like them is not.
#[tokio::test]
async fn webhook_reads_every_json_content_type_and_no_other() {
    let app = TestApp::spawn().await;
    let post = async |id: &str, content_type: &str| {
        let body = serde_json::to_vec(&message(id)).unwrap();
        app.client
            .post(format!("{}/webhook", app.address))
            .header("content-type", content_type)
            .header("x-signature", sign(&body))
            .body(body)
            .send()
            .await
            .unwrap()
    };

    let accepted = [
        "application/json",
        "Application/JSON; charset=utf-8",
        "application/vnd.sender.message+json",
    ];
    for (index, content_type) in accepted.into_iter().enumerate() {
        json_ok(post(&format!("json{index}"), content_type).await).await;
    }
    for content_type in ["text/json", "application/jsonp", "application/json-seq"] {
        let json = json_with_status(post("refused", content_type).await, 422).await;
        assert_eq!(
            detail_locs(&json),
            [json!(["header", "content-type"])],
            "{content_type}"
        );
    }
    assert_eq!(stored_count(&app).await, 3);
}

#[tokio::test]
async fn webhook_returns_413_for_bodies_over_the_limit_with_or_without_a_length() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "1024")]).await;
    let text = "a".repeat(2000);
    let big = serde_json::to_vec(&with(message("big"), json!({"text": text}))).unwrap();

    let declared = app.post_webhook_raw(big.clone(), Some(&sign(&big))).await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(100).map(|chunk| Ok(chunk.to_vec())).collect();
    let chunked = app
        .post_webhook_raw(
            reqwest::Body::wrap_stream(futures::stream::iter(chunks)),
            Some(&sign(&big)),
        )
        .await;

    for response in [declared, chunked] {
        let json = json_with_status(response, 413).await;
        assert!(json["detail"].is_string());
    }
    assert_eq!(stored_count(&app).await, 0);
    // A body under the limit still goes through.
    json_ok(app.post_webhook(&message("small")).await).await;
}
