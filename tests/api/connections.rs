//! Slow and greedy clients: time limits on headers and bodies, and a server that
//! keeps answering while such clients hold connections.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{json_ok, sign, TestApp};

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect")
}

/// Reads until the server closes the connection (or 10 s pass); returns what it said.
async fn read_until_closed(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer));
    let _ = read.await.expect("the server closes the connection");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_sending_its_headers_too_slowly_is_disconnected() {
    let app = TestApp::spawn_with(&[("HEADER_READ_TIMEOUT_SECS", "1")]).await;
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let started = Instant::now();
    let answer = read_until_closed(&mut stream).await;

    assert!(
        !answer.contains("200 OK"),
        "no answer to an unfinished request: {answer}"
    );
    // Given its second, not dropped at once; and not left for the default 10 s.
    assert!(started.elapsed() >= Duration::from_millis(500));
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[tokio::test]
async fn a_client_sending_its_body_too_slowly_gets_408() {
    let mut app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let body = br#"{"message_id":"slow","from":"+1","to":"+2","ts":"2025-01-15T10:00:00Z"}"#;
    let mut stream = connect(&app).await;
    let head = format!(
        "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         X-Signature: {}\r\nContent-Length: {}\r\n\r\n{}",
        sign(body),
        body.len(),
        std::str::from_utf8(&body[..10]).unwrap()
    );
    stream.write_all(head.as_bytes()).await.unwrap();

    let answer = read_until_closed(&mut stream).await;

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
    assert_eq!(app.messages("").await["total"], 0);
    // Counted and logged as a webhook outcome, although the handler never finished.
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("webhook_requests_total{result=\"timed_out\"} 1"),
        "{metrics}"
    );
    let line = app
        .wait_for_log(|line| line["path"] == "/webhook" && line["status"] == 408)
        .await;
    assert_eq!(line["result"], "timed_out", "{line}");
    assert!(
        line.get("dup").is_none(),
        "whether it is a duplicate is unknown: {line}"
    );
}

#[tokio::test]
async fn the_server_keeps_answering_while_slow_clients_hold_connections() {
    let app = TestApp::spawn().await;
    let mut slow = Vec::new();
    for _ in 0..100 {
        let mut stream = connect(&app).await;
        stream
            .write_all(b"POST /webhook HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }

    let started = Instant::now();
    let body = json_ok(app.get("/health/ready").await).await;

    assert_eq!(body["status"], "ok");
    println!(
        "/health/ready answered in {:?} with 100 slow clients connected",
        started.elapsed()
    );
    // Answered while they still held their connections, not once the header time-out
    // had dropped them.
    for stream in &slow {
        let mut byte = [0u8; 1];
        match stream.try_read(&mut byte) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("a slow client was answered or dropped: {other:?}"),
        }
    }
}
