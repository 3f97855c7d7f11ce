use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdout, Command};

use crate::helpers::{json_ok, message, parse_log_line, sign, with, TestApp, TestDatabase, SECRET};

const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn messages_survive_a_restart_on_the_same_database() {
    let app = TestApp::spawn().await;
    json_ok(app.post_webhook(&message("m1")).await).await;
    let other = json!({"from": "+15550001", "ts": "2025-01-15T11:00:00Z", "text": null});
    json_ok(app.post_webhook(&with(message("m2"), other)).await).await;
    let before = app.messages("").await;

    let app = app.restart().await;

    let after = app.messages("").await;
    assert_eq!(after, before);
    assert_eq!(after["total"], 2);
    assert_eq!(after["data"][0], message("m1"));
    let stats = app.stats().await;
    assert_eq!(stats["total_messages"], 2);
    assert_eq!(stats["senders_count"], 2);
    assert_eq!(stats["first_message_ts"], "2025-01-15T10:00:00Z");
    assert_eq!(stats["last_message_ts"], "2025-01-15T11:00:00Z");
    // The first stored version still wins after the restart.
    let changed = with(message("m1"), json!({"text": "Changed"}));
    json_ok(app.post_webhook(&changed).await).await;
    assert_eq!(app.messages("").await, before);
}

#[tokio::test]
async fn sigterm_stops_gracefully_with_status_0_and_a_shutdown_line() {
    let process = Process::start().await;
    process.get("/health/live").await;

    let (status, lines, stderr) = process.stop_with("TERM").await;

    assert!(status.success(), "exit status: {status}");
    assert_has_shutdown_line(&lines, "SIGTERM");
    assert_eq!(stderr, Vec::<String>::new());
}

#[tokio::test]
async fn sigint_stops_gracefully_with_status_0_and_a_shutdown_line() {
    let process = Process::start().await;
    process.get("/health/live").await;

    let (status, lines, stderr) = process.stop_with("INT").await;

    assert!(status.success(), "exit status: {status}");
    assert_has_shutdown_line(&lines, "SIGINT");
    assert_eq!(stderr, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_requests_keeps_every_acknowledged_message() {
    let mut app = TestApp::spawn().await;
    let posts = (0..50).map(|i| {
        let client = app.client.clone();
        let url = format!("{}/webhook", app.address);
        tokio::spawn(async move {
            let id = format!("inflight-{i}");
            let body = serde_json::to_vec(&message(&id)).unwrap();
            let sent = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-signature", sign(&body))
                .body(body)
                .send()
                .await;
            (id, sent.map(|response| response.status().as_u16()))
        })
    });
    let posts: Vec<_> = posts.collect();
    app.wait_for_log(|line| line["path"] == "/webhook").await;

    let database = app.database.clone();
    let status = app.stop().await;

    assert!(status.success(), "exit status: {status}");
    let outcomes: Vec<(String, Result<u16, reqwest::Error>)> = join_all(posts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let acknowledged: Vec<&String> = outcomes
        .iter()
        .filter(|(_, status)| matches!(status, Ok(200)))
        .map(|(id, _)| id)
        .collect();
    assert!(
        !acknowledged.is_empty(),
        "at least the logged request got its 200"
    );
    for (id, status) in &outcomes {
        if let Ok(code) = status {
            assert!([200, 503].contains(code), "{id} answered {code}");
        }
    }
    let app = TestApp::spawn_on(database, &[]).await;
    let stored = app.messages("limit=100").await;
    let stored_ids: Vec<&str> = stored["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["message_id"].as_str().unwrap())
        .collect();
    for id in acknowledged {
        assert!(
            stored_ids.contains(&id.as_str()),
            "{id} got a 200 but was lost"
        );
    }
}

#[tokio::test]
async fn a_request_half_sent_at_sigterm_is_finished_and_stored() {
    let mut app = TestApp::spawn().await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    // A first exchange proves that the server has accepted this connection.
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    while !answer.ends_with(b"}") {
        let mut chunk = [0; 1024];
        let read = stream.read(&mut chunk).await.unwrap();
        assert!(read > 0, "connection closed early");
        answer.extend_from_slice(&chunk[..read]);
    }
    let body = serde_json::to_vec(&message("slow")).unwrap();
    let (head, tail) = body.split_at(body.len() / 2);
    // `Expect: 100-continue` makes the server say when the handler starts reading the
    // body: from then on the request is in flight, not merely in a socket buffer.
    let headers = format!(
        "POST /webhook HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         expect: 100-continue\r\ncontent-length: {}\r\nx-signature: {}\r\n\r\n",
        body.len(),
        sign(&body)
    );
    stream.write_all(headers.as_bytes()).await.unwrap();
    let mut interim = Vec::new();
    while !interim.ends_with(b"\r\n\r\n") {
        let mut byte = [0; 1];
        assert_eq!(
            stream.read(&mut byte).await.unwrap(),
            1,
            "connection closed early"
        );
        interim.push(byte[0]);
    }
    assert!(
        interim.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&interim)
    );
    stream.write_all(head).await.unwrap();

    app.signal("TERM");
    app.wait_for_log(|line| line["message"].as_str().is_some_and(|m| m.contains("shut")))
        .await;
    stream.write_all(tail).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut response))
        .await
        .expect("the response in time")
        .expect("read the response");

    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let database = app.database.clone();
    assert!(app.wait().await.success());
    let app = TestApp::spawn_on(database, &[]).await;
    assert_eq!(app.messages("").await["data"][0], message("slow"));
}

fn assert_has_shutdown_line(lines: &[Value], signal: &str) {
    let listening = lines
        .iter()
        .position(|line| line["message"] == "listening")
        .expect("a listening line");
    let shutdown = lines[listening..].iter().find(|line| {
        let message = line["message"].as_str().unwrap_or_default().to_lowercase();
        message.contains("shut") || message.contains("stop")
    });
    let shutdown = shutdown.unwrap_or_else(|| panic!("no shutdown line in {lines:?}"));
    assert_eq!(shutdown["signal"], signal, "{shutdown}");
    assert!(
        lines.iter().all(|line| line["level"] != "ERROR"),
        "a clean stop logs no error: {lines:?}"
    );
}

/// The binary started outside `TestApp`, so that its output can be read to the end
/// after it exits (`TestApp::stop` consumes the app and its captured lines).
pub(crate) struct Process {
    pub(crate) address: String,
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    lines: Vec<Value>,
    _database: Arc<TestDatabase>,
}

impl Process {
    /// Starts on a fresh database with the test secret, and waits until it listens.
    pub(crate) async fn start() -> Self {
        let database = TestDatabase::fresh().await;
        let mut child = Command::new(crate::helpers::binary())
            .env_clear()
            .env("WEBHOOK_SECRET", SECRET)
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("DATABASE_URL", database.url())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start webhook-inbox");
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut process = Self {
            address: String::new(),
            child,
            stdout,
            lines: Vec::new(),
            _database: database,
        };
        while process.address.is_empty() {
            let line = process.next_line().await.expect("a listening line");
            if line["message"] == "listening" {
                let addr = line["addr"].as_str().expect("the listening address");
                let port = addr.rsplit(':').next().unwrap();
                process.address = format!("http://127.0.0.1:{port}");
            }
        }
        process
    }

    async fn next_line(&mut self) -> Option<Value> {
        let line = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("output in time")
            .expect("read stdout")?;
        let line = parse_log_line(&line);
        self.lines.push(line.clone());
        Some(line)
    }

    /// GET `path`, expecting 200.
    pub(crate) async fn get(&self, path: &str) -> reqwest::Response {
        let response = reqwest::get(format!("{}{path}", self.address))
            .await
            .expect("GET");
        assert_eq!(response.status(), 200, "GET {path}");
        response
    }

    /// Sends `signal`, then returns the exit status, every stdout line (each parsed as
    /// one JSON object) and every stderr line.
    pub(crate) async fn stop_with(mut self, signal: &str) -> (ExitStatus, Vec<Value>, Vec<String>) {
        let pid = self.child.id().expect("running").to_string();
        let killed = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid])
            .status()
            .expect("run kill");
        assert!(killed.success());
        while self.next_line().await.is_some() {}
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the process exits after the signal")
            .expect("wait for the process");
        let mut stderr = String::new();
        let mut pipe = self.child.stderr.take().expect("stderr");
        pipe.read_to_string(&mut stderr).await.expect("read stderr");
        let stderr = stderr.lines().map(str::to_owned).collect();
        (status, self.lines, stderr)
    }
}

#[tokio::test]
async fn after_sigterm_new_connections_are_refused_while_a_request_finishes() {
    let mut app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "30")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // A request in flight (its body half sent) keeps the process alive after SIGTERM.
    let mut in_flight = request_in_flight(&address).await;

    app.signal("TERM");
    app.wait_for_log(|line| line["message"].as_str().is_some_and(|m| m.contains("shut")))
        .await;

    let mut refused = false;
    for _ in 0..100 {
        if TcpStream::connect(&address).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the listener is closed once shutdown starts");
    in_flight.write_all(&[b' '; 100]).await.unwrap();
    let mut answer = Vec::new();
    in_flight.read_to_end(&mut answer).await.unwrap();
    assert!(
        String::from_utf8_lossy(&answer).contains("HTTP/1.1 401"),
        "the request was finished"
    );
    assert!(app.wait().await.success());
}

#[tokio::test]
async fn a_second_sigterm_stops_at_once_without_waiting_for_requests_in_flight() {
    let mut app = TestApp::spawn_with(&[
        ("REQUEST_TIMEOUT_SECS", "300"),
        ("SHUTDOWN_GRACE_SECS", "300"),
    ])
    .await;
    // A request in flight would hold the stop for 300 s.
    let _in_flight = request_in_flight(app.address.trim_start_matches("http://")).await;
    app.signal("TERM");
    app.wait_for_log(|line| line["message"] == "shutting down")
        .await;

    app.signal("TERM");

    let error = app.wait_for_log(|line| line["level"] == "ERROR").await;
    assert!(error.to_string().contains("second signal"), "{error}");
    let status = app.wait().await;
    assert_eq!(
        status.code(),
        Some(1),
        "a stop that left requests unanswered"
    );
}

/// A webhook whose handler has started (the server answered `100 Continue`) and waits
/// for the 100 bytes of its body: a request in flight until they are sent.
async fn request_in_flight(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /webhook HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
              expect: 100-continue\r\ncontent-length: 100\r\nx-signature: 00\r\n\r\n",
        )
        .await
        .unwrap();
    let mut interim = [0u8; 12];
    stream.read_exact(&mut interim).await.unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100");
    stream
}
