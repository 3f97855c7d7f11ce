use std::collections::BTreeSet;

use serde_json::json;

use crate::helpers::{json_ok, json_with_status, message, with, TestApp};

#[tokio::test]
async fn metrics_are_served_in_the_prometheus_text_format() {
    let app = TestApp::spawn().await;
    json_ok(app.get("/health/live").await).await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "content-type: {content_type}"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains("# TYPE http_requests_total counter"),
        "{body}"
    );
    assert!(body.contains("# TYPE webhook_requests_total counter"));
    assert!(body.contains("# TYPE request_latency_ms histogram"));
}

#[tokio::test]
async fn webhook_outcomes_are_counted_exactly_after_known_traffic() {
    let app = TestApp::spawn().await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    json_ok(app.post_webhook(&message("m2")).await).await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    let bad_signature = app
        .post_webhook_raw(
            serde_json::to_vec(&message("m3")).unwrap(),
            Some("00".repeat(32).as_str()),
        )
        .await;
    assert_eq!(bad_signature.status(), 401);
    json_with_status(
        app.post_webhook(&with(message("m4"), json!({"from": "nope"})))
            .await,
        422,
    )
    .await;

    let text = app.metrics().await;

    let webhook = |result: &str| sample(&text, "webhook_requests_total", &[("result", result)]);
    assert_eq!(webhook("created"), Some(2.0), "{text}");
    assert_eq!(webhook("duplicate"), Some(1.0));
    assert_eq!(webhook("invalid_signature"), Some(1.0));
    assert_eq!(webhook("validation_error"), Some(1.0));
    let http = |status: &str| {
        sample(
            &text,
            "http_requests_total",
            &[("path", "/webhook"), ("status", status)],
        )
    };
    assert_eq!(http("200"), Some(3.0), "{text}");
    assert_eq!(http("401"), Some(1.0));
    assert_eq!(http("422"), Some(1.0));
}

#[tokio::test]
async fn request_latency_is_a_histogram_whose_count_grows() {
    let app = TestApp::spawn().await;
    let before = app.metrics().await;
    let count_before = sample(&before, "request_latency_ms_count", &[]).expect("_count");

    for _ in 0..3 {
        json_ok(app.get("/health/live").await).await;
    }
    let after = app.metrics().await;

    let count_after = sample(&after, "request_latency_ms_count", &[]).expect("_count");
    // The three probes plus the first scrape, which is counted once it is answered.
    assert!(
        count_after >= count_before + 4.0,
        "{count_before} -> {count_after}"
    );
    assert!(sample(&after, "request_latency_ms_sum", &[]).is_some_and(|sum| sum > 0.0));
    assert!(sample(&after, "request_latency_ms_bucket", &[("le", "100")]).is_some());
    assert_eq!(
        sample(&after, "request_latency_ms_bucket", &[("le", "+Inf")]),
        Some(count_after),
        "the +Inf bucket holds every observation"
    );
}

#[tokio::test]
async fn unknown_urls_share_one_unmatched_path_label() {
    let app = TestApp::spawn().await;
    let scan = [
        "/a1",
        "/b2/c3",
        "/d4e5f6",
        "/webhook/extra",
        "/.env",
        "/admin?x=1",
    ];

    for path in scan {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let first = app.metrics().await;
    for path in ["/g7", "/h8/i9/j10", "/k11"] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    let second = app.metrics().await;

    assert_eq!(
        sample(
            &first,
            "http_requests_total",
            &[("path", "unmatched"), ("status", "404")]
        ),
        Some(scan.len() as f64),
        "{first}"
    );
    assert_eq!(
        sample(
            &second,
            "http_requests_total",
            &[("path", "unmatched"), ("status", "404")]
        ),
        Some((scan.len() + 3) as f64)
    );
    for raw in [
        "/a1", "/b2", "c3", "d4e5f6", "/extra", ".env", "admin", "/g7", "j10",
    ] {
        assert!(!second.contains(raw), "{raw} leaked into the metrics");
    }
    let known = [
        "/webhook",
        "/messages",
        "/stats",
        "/metrics",
        "/health/live",
    ];
    let allowed: BTreeSet<&str> = known
        .into_iter()
        .chain(["/health/ready", "unmatched"])
        .collect();
    for path in label_values(&second, "http_requests_total", "path") {
        assert!(
            allowed.contains(path.as_str()),
            "unexpected path label {path:?}"
        );
    }
}

#[tokio::test]
async fn the_writer_exports_batch_size_commit_latency_and_queue_depth() {
    let app = TestApp::spawn().await;
    json_ok(app.post_webhook(&message("m1")).await).await;

    let text = app.metrics().await;

    let batches = sample(&text, "webhook_write_batch_size_count", &[]);
    assert!(batches.is_some_and(|n| n >= 1.0), "{text}");
    assert!(sample(&text, "webhook_write_batch_size_sum", &[]).is_some_and(|n| n >= 1.0));
    let commits = sample(&text, "webhook_write_commit_latency_ms_count", &[]);
    assert!(commits.is_some_and(|n| n >= 1.0), "{text}");
    assert!(sample(
        &text,
        "webhook_write_commit_latency_ms_bucket",
        &[("le", "+Inf")]
    )
    .is_some());
    assert!(sample(&text, "webhook_write_queue_depth", &[]).is_some());
    // Exported without RETENTION too: nothing has expired.
    let deleted = sample(&text, "webhook_retention_deleted_total", &[]);
    assert_eq!(deleted, Some(0.0), "{text}");
    // Only a SQLite file syncs its WAL itself; PostgreSQL syncs inside its commit.
    let syncs = sample(&text, "webhook_write_wal_sync_latency_ms_count", &[]).unwrap_or(-1.0);
    if app.database.is_postgres() {
        assert_eq!(syncs, 0.0, "{text}");
    } else {
        assert!(syncs >= 1.0, "{text}");
    }
}

/// One parsed sample line: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            let value: f64 = value.parse().expect("numeric value");
            let (name, labels) = match series.split_once('{') {
                None => (series, Vec::new()),
                Some((name, rest)) => {
                    let inner = rest.strip_suffix('}').expect("closing brace");
                    let labels = inner
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair.split_once("=\"").expect("key=\"value\"");
                            (key.to_owned(), value.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name, labels)
                }
            };
            (name.to_owned(), labels, value)
        })
        .collect()
}

/// The value of the series `name` whose labels are exactly `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut wanted: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    wanted.sort();
    samples(text).into_iter().find_map(|(n, mut l, value)| {
        l.sort();
        (n == name && l == wanted).then_some(value)
    })
}

/// Every value the label `label` takes on the series `name`.
fn label_values(text: &str, name: &str, label: &str) -> BTreeSet<String> {
    samples(text)
        .into_iter()
        .filter(|(n, _, _)| n == name)
        .flat_map(|(_, labels, _)| labels)
        .filter(|(key, _)| key == label)
        .map(|(_, value)| value)
        .collect()
}

/// A request hyper cannot parse never reaches the router; it is refused in JSON with a
/// request id all the same, logged under that id, and counted under `unmatched`.
#[tokio::test]
async fn a_request_that_is_not_http_is_refused_in_json_logged_and_counted() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut app = TestApp::spawn().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"HELLO\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();

    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{head}");
    assert!(
        head.contains("\r\ncontent-type: application/json\r\n"),
        "{head}"
    );
    let body: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(body, json!({"detail": "the request is not valid HTTP/1.1"}));
    let line = app
        .wait_for_log(|line| line["message"] == "request refused: not valid HTTP/1.1")
        .await;
    assert_eq!(
        (&line["level"], &line["status"]),
        (&json!("WARN"), &json!(400))
    );
    let request_id = head
        .split("\r\n")
        .find_map(|header| header.strip_prefix("x-request-id: "))
        .unwrap_or_else(|| panic!("no x-request-id: {head}"));
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
    assert_eq!(line["request_id"], request_id);
    let text = app.metrics().await;
    let refused = [("path", "unmatched"), ("status", "400")];
    assert_eq!(
        sample(&text, "http_requests_total", &refused),
        Some(1.0),
        "{text}"
    );
}
