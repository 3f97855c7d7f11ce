//! `TestApp`: the real binary on port 0 with a fresh database, its stdout captured
//! as JSON log lines, and one method per endpoint.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::database::{TestConnection, TestDatabase};
use super::requests::{json_ok, sign, SECRET};

/// How long any wait in a test may take before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// A running webhook-inbox process and an HTTP client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    env: Vec<(String, String)>,
    child: Child,
    output: Arc<Output>,
    /// Declared after `child`: the process is killed before its database is dropped.
    pub database: Arc<TestDatabase>,
}

/// Everything the process wrote, line by line.
#[derive(Default)]
pub struct Output {
    stdout: Mutex<Vec<String>>,
    stderr: Mutex<Vec<String>>,
    changed: Notify,
    /// Set once stdout has been read to its end: every line the process wrote is in.
    stdout_done: AtomicBool,
}

impl TestApp {
    /// A new process on a fresh database.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// A new process on a fresh database, with extra environment variables.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        Self::spawn_on(TestDatabase::fresh().await, env).await
    }

    /// A new process on `database` (several processes may share one).
    pub async fn spawn_on(database: Arc<TestDatabase>, env: &[(&str, &str)]) -> Self {
        Self::spawn_in(None, database, env).await
    }

    /// `spawn_on`, with the process working in `directory` rather than in the test's.
    pub async fn spawn_in(
        directory: Option<&Path>,
        database: Arc<TestDatabase>,
        env: &[(&str, &str)],
    ) -> Self {
        let mut vars: Vec<(String, String)> = vec![
            ("WEBHOOK_SECRET".into(), SECRET.into()),
            ("HOST".into(), "127.0.0.1".into()),
            ("PORT".into(), "0".into()),
            ("LOG_LEVEL".into(), "INFO".into()),
            ("DATABASE_URL".into(), database.url()),
        ];
        for (key, value) in env {
            vars.retain(|(existing, _)| existing != key);
            vars.push((key.to_string(), value.to_string()));
        }
        let (child, output, _readers) = launch(&vars, directory);
        let mut app = Self {
            address: String::new(),
            // No connection reuse: the server closes a connection after refusing a
            // body it did not read, and a pooled client could pick that one next.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .expect("HTTP client"),
            env: vars,
            child,
            output,
            database,
        };
        let listening = app
            .wait_for_log(|line| line["message"] == "listening")
            .await;
        let port = listening["addr"]
            .as_str()
            .and_then(|addr| addr.rsplit(':').next())
            .expect("the listening line names the address");
        app.address = format!("http://127.0.0.1:{port}");
        app
    }

    /// Stops this process gracefully and starts a new one on the same database.
    pub async fn restart(self) -> Self {
        let database = self.database.clone();
        let env: Vec<(String, String)> = self.env.clone();
        let status = self.stop().await;
        assert!(status.success(), "graceful stop failed: {status}");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Self::spawn_on(database, &env).await
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn stop(self) -> ExitStatus {
        self.signal("TERM");
        self.wait().await
    }

    /// Sends SIGKILL and waits for the process to die: a crash, with no shutdown at all.
    pub async fn kill(self) -> ExitStatus {
        self.signal("KILL");
        self.wait().await
    }

    /// Waits for the process to exit by itself (after a signal sent with `signal`).
    pub async fn wait(mut self) -> ExitStatus {
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the process exits")
            .expect("wait for the process")
    }

    /// The process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("the process is running")
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.pid();
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// The harness's SQLite file (SQLite only).
    pub fn database_path(&self) -> PathBuf {
        self.database.sqlite_path()
    }

    /// A connection of the test's own to the app's database, for tampering.
    pub async fn open_database(&self) -> TestConnection {
        self.database.connect().await
    }

    /// Runs `statements` (one or several, `;`-separated) on the app's database through
    /// a connection of the test's own.
    pub async fn tamper_with_database(&self, statements: &str) {
        let mut connection = self.open_database().await;
        connection.execute(statements).await;
        connection.close().await;
    }

    /// POSTs `body` (serialized as is) with a correct signature.
    pub async fn post_webhook(&self, body: &Value) -> reqwest::Response {
        let response = self.signed_webhook(body).send().await;
        response.expect("POST /webhook")
    }

    /// The request `post_webhook` sends, to be sent later (from a task of its own, say).
    pub fn signed_webhook(&self, body: &Value) -> reqwest::RequestBuilder {
        let bytes = serde_json::to_vec(body).expect("serialize");
        let signature = sign(&bytes);
        self.webhook_request(bytes, Some(&signature))
    }

    /// POSTs raw bytes with the given signature header (none when `None`).
    pub async fn post_webhook_raw(
        &self,
        body: impl Into<reqwest::Body>,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let response = self.webhook_request(body, signature).send().await;
        response.expect("POST /webhook")
    }

    /// A POST of `body` to `/webhook` with the given signature header.
    fn webhook_request(
        &self,
        body: impl Into<reqwest::Body>,
        signature: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self
            .client
            .post(format!("{}/webhook", self.address))
            .header("content-type", "application/json")
            .body(body);
        match signature {
            Some(signature) => request.header("x-signature", signature),
            None => request,
        }
    }

    /// GET `path_and_query`, e.g. `/messages?limit=2`.
    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path_and_query}", self.address))
            .send()
            .await
            .expect("GET")
    }

    /// GET /messages with a raw query string; asserts 200 and returns the body.
    pub async fn messages(&self, query: &str) -> Value {
        json_ok(self.get(&format!("/messages?{query}")).await).await
    }

    /// GET /stats; asserts 200 and returns the body.
    pub async fn stats(&self) -> Value {
        json_ok(self.get("/stats").await).await
    }

    /// Polls `/stats` until it counts `total` messages (expiry, in the background),
    /// and returns it.
    pub async fn wait_for_total(&self, total: u64) -> Value {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let stats = self.stats().await;
            if stats["total_messages"] == total {
                return stats;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never {total} messages: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// GET /metrics as text.
    pub async fn metrics(&self) -> String {
        let response = self.get("/metrics").await;
        assert_eq!(response.status(), 200);
        response.text().await.expect("metrics body")
    }

    /// Every stdout line so far, parsed; panics on a line that is not a JSON object.
    pub fn logs(&self) -> Vec<Value> {
        self.output
            .stdout
            .lock()
            .unwrap()
            .iter()
            .map(|line| parse_log_line(line))
            .collect()
    }

    /// Every stderr line so far.
    pub fn stderr(&self) -> Vec<String> {
        self.output.stderr.lock().unwrap().clone()
    }

    /// Waits until a log line matches `predicate` and returns it.
    pub async fn wait_for_log(&mut self, predicate: impl Fn(&Value) -> bool) -> Value {
        wait_for_line(&self.output, &mut self.child, predicate).await
    }
}

/// Runs the binary with exactly `env` until it exits by itself (startup failures):
/// its status, its stdout parsed as JSON lines, and its stderr.
pub async fn run_to_exit(env: &[(&str, &str)]) -> (ExitStatus, Vec<Value>, Vec<String>) {
    let vars: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let (mut child, output, readers) = launch(&vars, None);
    let status = tokio::time::timeout(PATIENCE, child.wait())
        .await
        .expect("the process exits by itself")
        .expect("wait for the process");
    for reader in readers {
        reader.await.expect("output reader");
    }
    let stdout = output
        .stdout
        .lock()
        .unwrap()
        .iter()
        .map(|line| parse_log_line(line))
        .collect();
    let stderr = output.stderr.lock().unwrap().clone();
    (status, stdout, stderr)
}

fn launch(
    vars: &[(String, String)],
    directory: Option<&Path>,
) -> (Child, Arc<Output>, Vec<JoinHandle<()>>) {
    let mut command = Command::new(binary());
    if let Some(directory) = directory {
        command.current_dir(directory);
    }
    command
        .env_clear()
        .envs(vars.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("start webhook-inbox");
    let output = Arc::new(Output::default());
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let echo = std::env::var_os("TEST_LOG").is_some();
    let mut readers = Vec::new();
    for (stream, is_stdout) in [
        (
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            true,
        ),
        (Box::new(stderr), false),
    ] {
        let output = output.clone();
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if echo {
                    println!("{line}");
                }
                let target = if is_stdout {
                    &output.stdout
                } else {
                    &output.stderr
                };
                target.lock().unwrap().push(line);
                output.changed.notify_waiters();
            }
            if is_stdout {
                output.stdout_done.store(true, Ordering::Release);
                output.changed.notify_waiters();
            }
        }));
    }
    (child, output, readers)
}

async fn wait_for_line(
    output: &Output,
    child: &mut Child,
    predicate: impl Fn(&Value) -> bool,
) -> Value {
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            let notified = output.changed.notified();
            // Read before the lines are searched: an exit counts once its last lines
            // have been read and searched, not as soon as it happens.
            let read_out = output.stdout_done.load(Ordering::Acquire);
            let matching = output
                .stdout
                .lock()
                .unwrap()
                .iter()
                .map(|line| parse_log_line(line))
                .find(|line| predicate(line));
            if let Some(line) = matching {
                return line;
            }
            if let (true, Ok(Some(status))) = (read_out, child.try_wait()) {
                panic!(
                    "webhook-inbox exited ({status}) before the expected log line; stdout: {:?}",
                    output.stdout.lock().unwrap()
                );
            }
            // Wake on new output, and now and then to notice an exit.
            let _ = tokio::time::timeout(Duration::from_millis(100), notified).await;
        }
    })
    .await;
    found.expect("the expected log line appears")
}

/// The binary under test: the one cargo built for this test run, or the one named by
/// `WEBHOOK_INBOX_BIN` (e.g. `target/release/webhook-inbox`, to test a release build).
pub fn binary() -> PathBuf {
    std::env::var_os("WEBHOOK_INBOX_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_webhook-inbox")))
}

/// Parses one stdout line, failing the test when it is not one JSON object.
pub fn parse_log_line(line: &str) -> Value {
    match serde_json::from_str::<Value>(line) {
        Ok(value) if value.is_object() => value,
        _ => panic!("stdout line is not a JSON object: {line:?}"),
    }
}
