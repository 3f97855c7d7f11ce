//! Standard Webhooks on `POST /webhook`, and key rotation for both schemes.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::Response;
use serde_json::{json, Value};
use sha2::Sha256;

use webhook_inbox::config::Secret;
use webhook_inbox::signature::sign;

use crate::helpers::{json_ok, json_with_status, message, TestApp};

/// A `whsec_` secret and the key it stands for.
const WHSEC: &str = "whsec_c3RhbmRhcmQtd2ViaG9va3MtdGVzdC1rZXk=";
const KEY: &[u8] = b"standard-webhooks-test-key";
const OLD_WHSEC: &str = "whsec_b2xkLWtleQ";
const OLD_KEY: &[u8] = b"old-key";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `v1,<base64>` over `{id}.{timestamp}.{body}`, computed here independently.
fn v1(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `X-Signature` of `body` under `secret`.
fn hex(secret: &str, body: &[u8]) -> String {
    sign(&Secret::new(secret), body)
}

async fn post(app: &TestApp, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut request = app
        .client
        .post(format!("{}/webhook", app.address))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST /webhook")
}

async fn post_standard(
    app: &TestApp,
    key: &[u8],
    id: &str,
    timestamp: u64,
    body: &Value,
) -> Response {
    let body = serde_json::to_vec(body).unwrap();
    let timestamp = timestamp.to_string();
    let signature = v1(key, id, &timestamp, &body);
    let headers = [
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.as_str()),
        ("webhook-signature", signature.as_str()),
    ];
    post(app, &headers, &body).await
}

async fn assert_refused(response: Response) {
    let body = json_with_status(response, 401).await;
    assert_eq!(body, json!({"detail": "invalid signature"}));
}

#[tokio::test]
async fn a_standard_webhooks_request_is_stored_once_whichever_scheme_delivers_it() {
    let app = TestApp::spawn_with(&[("WEBHOOK_SECRET", WHSEC)]).await;
    let first = post_standard(&app, KEY, "msg_1", now(), &message("m1")).await;
    assert_eq!(json_ok(first).await, json!({"status": "ok"}));
    // The X-Signature key of a whsec_ secret is the secret as written.
    let body = serde_json::to_vec(&message("m1")).unwrap();
    let again = post(&app, &[("x-signature", &hex(WHSEC, &body))], &body).await;
    json_ok(again).await;

    let page = app.messages("").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["data"][0], message("m1"));
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"webhook_requests_total{result="created"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"webhook_requests_total{result="duplicate"} 1"#));
}

#[tokio::test]
async fn a_signed_but_stale_timestamp_is_refused_and_told_apart_in_logs_and_metrics() {
    let mut app =
        TestApp::spawn_with(&[("WEBHOOK_SECRET", WHSEC), ("WEBHOOK_TOLERANCE_SECS", "60")]).await;
    for timestamp in [now() - 3600, now() + 3600] {
        assert_refused(post_standard(&app, KEY, "msg_s", timestamp, &message("m1")).await).await;
    }
    let line = app
        .wait_for_log(|line| line["result"] == "stale_timestamp")
        .await;
    assert_eq!(line["status"], 401);
    // Which secret signed it: a sender whose clock is off may also sign with an old one.
    assert_eq!(line["secret"], "current", "{line}");
    // A wrong signature with a stale timestamp is a plain invalid signature.
    assert_refused(
        post_standard(&app, b"not-the-key", "msg_x", now() - 3600, &message("m2")).await,
    )
    .await;
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"webhook_requests_total{result="stale_timestamp"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"webhook_requests_total{result="invalid_signature"} 1"#));
    assert_eq!(app.messages("").await["total"], 0);
}

#[tokio::test]
async fn malformed_standard_webhooks_requests_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn_with(&[("WEBHOOK_SECRET", WHSEC)]).await;
    let body = serde_json::to_vec(&message("m1")).unwrap();
    let ts = now().to_string();
    let good = v1(KEY, "msg_1", &ts, &body);
    let other = v1(b"other", "msg_1", &ts, &body);
    let hex_signature = hex(WHSEC, &body);
    let nine = format!("{} {good}", [other.as_str(); 8].join(" "));
    let cases: Vec<Vec<(&str, &str)>> = vec![
        // `v1,` alone (an empty signature) never matches.
        vec![
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", "v1,"),
        ],
        vec![
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", ""),
        ],
        vec![
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &other),
        ],
        // Only the first 8 entries are checked.
        vec![
            ("webhook-id", "msg_1"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &nine),
        ],
        vec![("webhook-timestamp", &ts), ("webhook-signature", &good)],
        vec![("webhook-id", "msg_1"), ("webhook-signature", &good)],
        vec![
            ("webhook-id", "msg_2"),
            ("webhook-timestamp", &ts),
            ("webhook-signature", &good),
        ],
        // Carrying webhook-signature, the request is judged by Standard Webhooks alone.
        vec![
            ("webhook-signature", "v1,"),
            ("x-signature", &hex_signature),
        ],
    ];
    for headers in &cases {
        assert_refused(post(&app, headers, &body).await).await;
    }
    assert_eq!(app.messages("").await["total"], 0);
    let metrics = app.metrics().await;
    let expected = format!(
        r#"webhook_requests_total{{result="invalid_signature"}} {}"#,
        cases.len()
    );
    assert!(metrics.contains(&expected), "{metrics}");
}

#[tokio::test]
async fn a_service_with_plain_secrets_refuses_every_standard_webhooks_request() {
    let app = TestApp::spawn_with(&[("WEBHOOK_SECRET", "plain-secret")]).await;
    // Neither the secret's bytes nor anything else is a Standard Webhooks key.
    for key in [&b"plain-secret"[..], KEY] {
        assert_refused(post_standard(&app, key, "msg_1", now(), &message("m1")).await).await;
    }
}

/// Both are accepted, and the log line and `webhook_previous_secret_total` say which
/// signed: the operator's sign that senders have switched.
#[tokio::test]
async fn during_a_rotation_the_current_and_previous_secrets_are_both_accepted() {
    let mut app = TestApp::spawn_with(&[
        ("WEBHOOK_SECRET", WHSEC),
        (
            "WEBHOOK_PREVIOUS_SECRETS",
            &format!("{OLD_WHSEC} older-plain"),
        ),
    ])
    .await;
    json_ok(post_standard(&app, KEY, "msg_1", now(), &message("m1")).await).await;
    json_ok(post_standard(&app, OLD_KEY, "msg_2", now(), &message("m2")).await).await;
    for (id, secret) in [("m3", WHSEC), ("m4", OLD_WHSEC), ("m5", "older-plain")] {
        let body = serde_json::to_vec(&message(id)).unwrap();
        let signature = hex(secret, &body);
        json_ok(post(&app, &[("x-signature", &signature)], &body).await).await;
    }
    assert_refused(post_standard(&app, b"older-plain", "msg_6", now(), &message("m6")).await).await;
    assert_eq!(app.messages("").await["total"], 5);
    let text = app.metrics().await;
    assert!(
        text.lines()
            .any(|line| line == "webhook_previous_secret_total 3"),
        "{text}"
    );
    let signers = [
        ("m1", "current"),
        ("m2", "previous"),
        ("m3", "current"),
        ("m4", "previous"),
        ("m5", "previous"),
    ];
    for (id, secret) in signers {
        let line = app
            .wait_for_log(|line| line["message"] == "request" && line["message_id"] == id)
            .await;
        assert_eq!(line["secret"], secret, "{id}: {line}");
    }
}
