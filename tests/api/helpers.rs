//! `TestApp`: the real binary on port 0 with a fresh database, its stdout captured
//! as JSON log lines, and one method per endpoint.
//!
//! The database is a fresh SQLite file, or, when `TEST_POSTGRES_URL` names a
//! PostgreSQL server (`make test-postgres`), a fresh PostgreSQL database created
//! through that URL for each test and dropped when the test lets go of it.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use sqlx::postgres::PgRow;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, FromRow, PgConnection, SqliteConnection};
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

pub const SECRET: &str = "test-secret";

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
        let (child, output, _readers) = launch(&vars);
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
        let bytes = serde_json::to_vec(body).expect("serialize");
        let signature = sign(&bytes);
        self.post_webhook_raw(bytes, Some(&signature)).await
    }

    /// POSTs raw bytes with the given signature header (none when `None`).
    pub async fn post_webhook_raw(
        &self,
        body: impl Into<reqwest::Body>,
        signature: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}/webhook", self.address))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-signature", signature);
        }
        request.send().await.expect("POST /webhook")
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
    let (mut child, output, readers) = launch(&vars);
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

fn launch(vars: &[(String, String)]) -> (Child, Arc<Output>, Vec<JoinHandle<()>>) {
    let mut command = Command::new(binary());
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
            if let Ok(Some(status)) = child.try_wait() {
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

/// Where a test's messages live. Several processes (a restart, replicas) may share one.
pub enum TestDatabase {
    /// `app.db` in a temporary directory, removed with it.
    Sqlite(TempDir),
    /// A database of its own on the server at `TEST_POSTGRES_URL`, dropped on drop.
    Postgres(PostgresDatabase),
}

/// The PostgreSQL server at `TEST_POSTGRES_URL`, when that is set and not empty: the
/// URL of a database there that the tests may connect to in order to create others.
pub fn postgres_server() -> Option<String> {
    std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// The PostgreSQL server for a test that only makes sense on PostgreSQL; without one,
/// says on stderr (past the test harness's capture) that the test is skipped, and why.
pub fn postgres_or_skip() -> Option<String> {
    let server = postgres_server();
    if server.is_none() {
        use std::io::Write;
        // The test harness names each test's thread after the test.
        let thread = std::thread::current();
        let _ = writeln!(
            std::io::stderr(),
            "skipped {}: needs PostgreSQL (TEST_POSTGRES_URL, as `make test-postgres` sets)",
            thread.name().unwrap_or("a PostgreSQL test")
        );
    }
    server
}

impl TestDatabase {
    /// A fresh, empty database of the backend under test: PostgreSQL when
    /// `TEST_POSTGRES_URL` is set, SQLite otherwise.
    pub async fn fresh() -> Arc<Self> {
        match postgres_server() {
            Some(server) => Self::postgres(&server).await,
            None => Self::sqlite(),
        }
    }

    /// A fresh SQLite file, whichever backend is under test.
    pub fn sqlite() -> Arc<Self> {
        Self::sqlite_in(tempfile::tempdir().expect("temporary directory"))
    }

    /// A fresh SQLite file in `dir` (which is removed with it).
    pub fn sqlite_in(dir: TempDir) -> Arc<Self> {
        Arc::new(Self::Sqlite(dir))
    }

    /// A fresh database on the PostgreSQL server that `server` (a URL) reaches.
    pub async fn postgres(server: &str) -> Arc<Self> {
        let name = format!("wi_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(server)
            .await
            .unwrap_or_else(|error| panic!("connect to TEST_POSTGRES_URL: {error}"));
        sqlx::raw_sql(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
            .expect("create a test database");
        admin.close().await.expect("close");
        Arc::new(Self::Postgres(PostgresDatabase {
            url: with_database(server, &name),
            server: server.to_owned(),
            name,
        }))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// The `DATABASE_URL` that opens this database.
    pub fn url(&self) -> String {
        match self {
            Self::Sqlite(_) => format!("sqlite://{}", self.sqlite_path().display()),
            Self::Postgres(database) => database.url.clone(),
        }
    }

    /// The SQLite file; panics on PostgreSQL.
    pub fn sqlite_path(&self) -> PathBuf {
        match self {
            Self::Sqlite(dir) => dir.path().join("app.db"),
            Self::Postgres(_) => panic!("a PostgreSQL test database has no file"),
        }
    }

    /// A connection of the test's own.
    pub async fn connect(&self) -> TestConnection {
        match self {
            Self::Sqlite(_) => TestConnection::Sqlite(
                SqliteConnectOptions::new()
                    .filename(self.sqlite_path())
                    .busy_timeout(Duration::from_secs(10))
                    .connect()
                    .await
                    .expect("open the app's database"),
            ),
            Self::Postgres(database) => TestConnection::Postgres(
                PgConnection::connect(&database.url)
                    .await
                    .expect("connect to the app's database"),
            ),
        }
    }
}

/// A PostgreSQL database created for one test.
pub struct PostgresDatabase {
    /// The URL the database was created through.
    server: String,
    name: String,
    url: String,
}

impl Drop for PostgresDatabase {
    /// Drops the database, ending any session still connected (a killed server's, a
    /// test's). On a thread of its own, with its own runtime: a drop cannot await, and
    /// may run inside the test's runtime.
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| error.to_string())?;
            runtime
                .block_on(async {
                    let mut admin = PgConnection::connect(&server).await?;
                    sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin)
                        .await?;
                    admin.close().await
                })
                .map_err(|error| error.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("could not drop test database {}: {error}", self.name),
            Err(_) => eprintln!("could not drop test database {}: panicked", self.name),
        }
    }
}

/// `server` (a PostgreSQL URL) with its database name replaced by `name`; the query
/// string (`?sslmode=…`) is kept.
pub fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (server, None),
    };
    let authority_start = base.find("://").expect("a URL with a scheme") + 3;
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |slash| authority_start + slash);
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// A test's own connection to an app's database, on either backend. Statements
/// written in the SQL both backends share run through the methods; anything
/// backend-specific matches on the variant.
pub enum TestConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl TestConnection {
    /// Runs one or several `;`-separated statements, without parameters.
    pub async fn execute(&mut self, statements: &str) {
        let done = match self {
            Self::Sqlite(connection) => sqlx::raw_sql(statements)
                .execute(connection)
                .await
                .map(drop),
            Self::Postgres(connection) => sqlx::raw_sql(statements)
                .execute(connection)
                .await
                .map(drop),
        };
        done.unwrap_or_else(|error| panic!("{statements}: {error}"));
    }

    /// Every row `query` (no parameters) returns.
    pub async fn fetch_all<T>(&mut self, query: &str) -> Vec<T>
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let rows = match self {
            Self::Sqlite(connection) => sqlx::query_as(query).fetch_all(connection).await,
            Self::Postgres(connection) => sqlx::query_as(query).fetch_all(connection).await,
        };
        rows.unwrap_or_else(|error| panic!("{query}: {error}"))
    }

    /// The one row `query` (no parameters) returns.
    pub async fn fetch_one<T>(&mut self, query: &str) -> T
    where
        T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        let row = match self {
            Self::Sqlite(connection) => sqlx::query_as(query).fetch_one(connection).await,
            Self::Postgres(connection) => sqlx::query_as(query).fetch_one(connection).await,
        };
        row.unwrap_or_else(|error| panic!("{query}: {error}"))
    }

    /// How many rows `messages` holds, counted row by row (not from the aggregates).
    pub async fn count_messages(&mut self) -> i64 {
        self.fetch_one::<(i64,)>("SELECT COUNT(*) FROM messages")
            .await
            .0
    }

    /// Every stored `message_id`, decoded (PostgreSQL stores them as bytes).
    pub async fn message_ids(&mut self) -> Vec<String> {
        match self {
            Self::Sqlite(_) => self
                .fetch_all::<(String,)>("SELECT message_id FROM messages")
                .await
                .into_iter()
                .map(|(id,)| id)
                .collect(),
            Self::Postgres(_) => self
                .fetch_all::<(Vec<u8>,)>("SELECT message_id FROM messages")
                .await
                .into_iter()
                .map(|(id,)| String::from_utf8(id).expect("a UTF-8 message_id"))
                .collect(),
        }
    }

    pub async fn close(self) {
        match self {
            Self::Sqlite(connection) => connection.close().await,
            Self::Postgres(connection) => connection.close().await,
        }
        .expect("close the connection");
    }
}

/// The lowercase hex HMAC-SHA256 of `body` under the test secret.
pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key size");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// A valid message with the given id; override fields with `with`.
pub fn message(id: &str) -> Value {
    json!({
        "message_id": id,
        "from": "+919876543210",
        "to": "+14155550100",
        "ts": "2025-01-15T10:00:00Z",
        "text": "Hello"
    })
}

/// `base` with the fields of `changes` replaced (a `null` change keeps the null).
pub fn with(mut base: Value, changes: Value) -> Value {
    for (key, value) in changes.as_object().expect("changes are an object") {
        base[key] = value.clone();
    }
    base
}

/// The `message_id`s of a `/messages` page, in order.
pub fn message_ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|row| row["message_id"].as_str().expect("message_id").to_owned())
        .collect()
}

/// Asserts a 200 and returns the JSON body.
pub async fn json_ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body = response.text().await.expect("body");
    assert_eq!(status, 200, "unexpected status; body: {body}");
    serde_json::from_str(&body).expect("JSON body")
}

/// Asserts `status` and returns the JSON body.
pub async fn json_with_status(response: reqwest::Response, status: u16) -> Value {
    let actual = response.status();
    let body = response.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {body}");
    serde_json::from_str(&body).unwrap_or_else(|_| panic!("body is not JSON: {body:?}"))
}
