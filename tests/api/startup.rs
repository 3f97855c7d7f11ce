use std::process::ExitStatus;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{
    json_ok, message, postgres_or_skip, run_to_exit, with_database, TestApp, TestDatabase, SECRET,
};

// SQLite-only by design: the SQLite URL forms, `sqlite::memory:`, a folder that cannot
// be created and a corrupt file are about SQLite itself, and the configuration refusals
// happen before any database is opened. Those tests set a `sqlite:` DATABASE_URL of
// their own, so they run (on SQLite) under `make test-postgres` too. The PostgreSQL URL
// tests are at the end.

#[tokio::test]
async fn a_missing_secret_stops_startup_with_one_json_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("app.db").display());

    let outcome = run_to_exit(&[("DATABASE_URL", &database), ("PORT", "0")]).await;

    assert_refused_naming(outcome, "WEBHOOK_SECRET");
    assert!(!dir.path().join("app.db").exists(), "nothing is opened");
}

#[tokio::test]
async fn an_empty_secret_stops_startup_with_one_json_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("app.db").display());

    let outcome = run_to_exit(&[
        ("WEBHOOK_SECRET", ""),
        ("DATABASE_URL", &database),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ])
    .await;

    assert_refused_naming(outcome, "WEBHOOK_SECRET");
}

#[tokio::test]
async fn a_four_slash_url_creates_the_absolute_path_and_its_missing_folders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/app.db");
    assert!(path.is_absolute());
    let url = format!("sqlite:///{}", path.display());
    assert!(url.starts_with("sqlite:////"), "{url}");

    let working = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(
        Some(working.path()),
        TestDatabase::sqlite(),
        &[("DATABASE_URL", &url)],
    )
    .await;

    assert_serves_and_stores(&app).await;
    assert!(path.is_file(), "{} was created", path.display());
    assert_empty(working.path(), "nothing beside the absolute path");
}

/// Fails when `directory` holds anything.
fn assert_empty(directory: &std::path::Path, why: &str) {
    let entries: Vec<_> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert!(entries.is_empty(), "{why}: {entries:?}");
}

#[tokio::test]
async fn a_three_slash_url_names_an_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three.db");
    let url = format!("sqlite://{}", path.display());
    assert!(url.starts_with("sqlite:///") && !url.starts_with("sqlite:////"));

    let app = TestApp::spawn_on(TestDatabase::sqlite(), &[("DATABASE_URL", &url)]).await;

    assert_serves_and_stores(&app).await;
    assert!(path.is_file(), "{} was created", path.display());
}

#[tokio::test]
async fn the_listening_line_shows_the_database_url_and_the_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shown.db");
    let url = format!("sqlite:///{}", path.display());
    assert!(url.starts_with("sqlite:////"), "the deployment form: {url}");

    let app = TestApp::spawn_on(TestDatabase::sqlite(), &[("DATABASE_URL", &url)]).await;

    let listening = app
        .logs()
        .into_iter()
        .find(|line| line["message"] == "listening")
        .expect("a listening line");
    assert_eq!(
        listening["database"],
        format!("sqlite://{}", path.display())
    );
    assert_eq!(listening["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn an_in_memory_database_serves_and_stores() {
    let working = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(
        Some(working.path()),
        TestDatabase::sqlite(),
        &[("DATABASE_URL", "sqlite::memory:")],
    )
    .await;

    assert_serves_and_stores(&app).await;
    assert_eq!(
        json_ok(app.get("/health/ready").await).await["status"],
        "ok"
    );
    assert_empty(working.path(), "no file is written");
}

#[tokio::test]
async fn an_unsupported_database_url_stops_startup_naming_it() {
    let outcome = run_to_exit(&[
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", "mysql://x"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ])
    .await;

    assert_refused_naming(outcome, "DATABASE_URL");
}

#[tokio::test]
async fn a_database_that_cannot_be_created_stops_startup_with_a_json_error() {
    refused_startup("sqlite:////proc/no-such-place/app.db").await;
}

#[tokio::test]
async fn a_host_that_names_no_address_stops_startup_naming_it_before_any_file_is_made() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("app.db").display());

    let (status, stdout, stderr) = run_to_exit(&[
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", &database),
        // Refused by the resolver without asking DNS: a name cannot hold a space.
        ("HOST", "no such host"),
        ("PORT", "0"),
    ])
    .await;

    assert!(!status.success(), "exit status: {status}");
    let error = stdout.iter().find(|line| line["level"] == "ERROR");
    let error = error.map(ToString::to_string).unwrap_or_default();
    assert!(error.contains("HOST no such host"), "{stdout:?}");
    assert_eq!(stderr, Vec::<String>::new());
    assert_empty(dir.path(), "nothing is created");
}

#[tokio::test]
async fn a_setting_that_is_not_utf8_stops_startup_naming_it() {
    use std::os::unix::ffi::OsStrExt;
    let not_utf8 = std::ffi::OsStr::from_bytes(b"s3cr\xffet");
    for variable in ["WEBHOOK_SECRET", "API_TOKENS", "PORT"] {
        let output = tokio::process::Command::new(crate::helpers::binary())
            .env_clear()
            .env("WEBHOOK_SECRET", SECRET)
            .env("DATABASE_URL", "sqlite::memory:")
            .env(variable, not_utf8)
            .output();
        let output = tokio::time::timeout(Duration::from_secs(30), output).await;
        let output = output.expect("exits by itself").expect("runs");

        assert_eq!(output.status.code(), Some(1), "{variable}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let lines: Vec<Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_refused_naming((output.status, lines, Vec::new()), variable);
        assert!(output.stderr.is_empty(), "{variable}: nothing on stderr");
        assert!(!stdout.contains("s3cr"), "{variable}: never its value");
    }
    // Only a value clap would read counts: `--version` reads none.
    let version = tokio::process::Command::new(crate::helpers::binary())
        .arg("--version")
        .env("PORT", not_utf8)
        .output()
        .await
        .expect("runs");
    assert!(version.status.success(), "{version:?}");
}

#[tokio::test]
async fn log_level_is_accepted_in_any_case() {
    for level in ["debug", "Info", "tRaCe"] {
        let app = TestApp::spawn_with(&[("LOG_LEVEL", level)]).await;
        assert_eq!(
            json_ok(app.get("/health/ready").await).await,
            json!({"status": "ok"}),
            "LOG_LEVEL={level}"
        );
    }
}

#[tokio::test]
async fn an_invalid_log_level_stops_startup_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("app.db").display());

    let outcome = run_to_exit(&[
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", &database),
        ("LOG_LEVEL", "loud"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ])
    .await;

    assert_refused_naming(outcome, "LOG_LEVEL");
}

/// A non-zero exit, an ERROR line whose `variable` is `variable`, nothing on stderr,
/// and never a listening line.
fn assert_refused_naming(outcome: (ExitStatus, Vec<Value>, Vec<String>), variable: &str) {
    let (status, stdout, stderr) = outcome;
    assert!(!status.success(), "exit status: {status}");
    let error = stdout
        .iter()
        .find(|line| line["level"] == "ERROR")
        .unwrap_or_else(|| panic!("no ERROR line in {stdout:?}"));
    assert_eq!(error["variable"], variable, "{error}");
    assert!(error["ts"].is_string(), "{error}");
    assert!(stdout.iter().all(|line| line["message"] != "listening"));
    assert_eq!(stderr, Vec::<String>::new(), "nothing on stderr");
}

async fn assert_serves_and_stores(app: &TestApp) {
    json_ok(app.post_webhook(&message("m1")).await).await;
    let page = app.messages("").await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["data"][0], message("m1"));
    assert_eq!(app.stats().await["total_messages"], 1);
}

#[tokio::test]
async fn a_corrupt_database_stops_startup_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let garbage: Vec<u8> = (0..64 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&path, &garbage).unwrap();

    let (error, _) = refused_startup(&format!("sqlite://{}", path.display())).await;
    assert!(error.to_string().contains("database"), "{error}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "never replaced by an empty database"
    );
}

#[tokio::test]
async fn a_second_process_on_the_same_sqlite_file_is_refused_and_the_first_serves_on() {
    let app = TestApp::spawn_on(TestDatabase::sqlite(), &[]).await;
    json_ok(app.post_webhook(&message("m1")).await).await;

    let (error, _) = refused_startup(&app.database.url()).await;

    let detail = error.to_string();
    assert!(detail.contains("another process"), "{error}");
    json_ok(app.post_webhook(&message("m2")).await).await;
    assert_eq!(app.stats().await["total_messages"], 2);
    // The lock goes with the process that held it.
    let app = app.restart().await;
    assert_eq!(app.stats().await["total_messages"], 2);
}

#[tokio::test]
async fn a_database_reached_through_a_symbolic_link_is_served_and_locked_as_its_target() {
    let dir = tempfile::tempdir().unwrap();
    // A link to a file not created yet, in a folder not created yet.
    let target = dir.path().join("volume/app.db");
    let link = dir.path().join("app.db");
    std::os::unix::fs::symlink("volume/app.db", &link).unwrap();
    let through_link = format!("sqlite://{}", link.display());

    // SQLite keeps the WAL beside the target: a 200 means the writer synced that one.
    let app = TestApp::spawn_on(TestDatabase::sqlite(), &[("DATABASE_URL", &through_link)]).await;
    assert_serves_and_stores(&app).await;
    assert!(target.is_file() && dir.path().join("volume/app.db-wal").is_file());

    let (error, _) = refused_startup(&format!("sqlite://{}", target.display())).await;
    assert!(error.to_string().contains("another process"), "{error}");
}

#[tokio::test]
async fn a_link_whose_target_reads_as_a_sqlite_uri_is_served_as_a_plain_file() {
    // `sqlite:app.db`, in the working folder, a link to `file:x.db`: SQLite takes a
    // name starting with `file:` as a URI, which would open `x.db` while the WAL this
    // process syncs and the lock it takes were named after `file:x.db`.
    let working = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("file:x.db", working.path().join("app.db")).unwrap();

    let app = TestApp::spawn_in(
        Some(working.path()),
        TestDatabase::sqlite(),
        &[("DATABASE_URL", "sqlite:app.db")],
    )
    .await;

    assert_serves_and_stores(&app).await;
    for name in ["file:x.db", "file:x.db-wal", "file:x.db.lock"] {
        assert!(working.path().join(name).is_file(), "{name} is there");
    }
    assert!(!working.path().join("x.db").exists(), "no x.db beside it");
}

/// Runs the service on `database_url` and asserts that it refuses to start: a failure
/// status, a JSON `ERROR` line (returned, with all of stdout), no `listening` line and
/// nothing on stderr.
async fn refused_startup(database_url: &str) -> (Value, Vec<Value>) {
    let (status, stdout, stderr) = run_to_exit(&[
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", database_url),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ])
    .await;

    assert!(!status.success(), "exit status: {status}");
    let error = stdout
        .iter()
        .find(|line| line["level"] == "ERROR")
        .cloned()
        .unwrap_or_else(|| panic!("an error line: {stdout:?}"));
    assert!(stdout.iter().all(|line| line["message"] != "listening"));
    assert_eq!(stderr, Vec::<String>::new());
    (error, stdout)
}

/// The password the PostgreSQL URL tests put in `DATABASE_URL`; never to be logged.
const PASSWORD: &str = "wi-test-pa55word";

/// Asserts that no stdout or stderr line contains `password`.
fn assert_never_shown(password: &str, stdout: &[Value], stderr: &[String]) {
    for line in stdout {
        assert!(!line.to_string().contains(password), "{line}");
    }
    for line in stderr {
        assert!(!line.contains(password), "{line}");
    }
}

#[tokio::test]
async fn an_unreachable_postgres_server_stops_startup_with_a_json_error_hiding_the_password() {
    // Nothing listens on port 1; no PostgreSQL server is needed.
    let url = format!("postgres://inbox:{PASSWORD}@127.0.0.1:1/inbox");

    let (error, stdout) = refused_startup(&url).await;
    assert!(error.to_string().contains("database"), "{error}");
    assert_never_shown(PASSWORD, &stdout, &[]);
}

#[tokio::test]
async fn a_missing_postgres_database_stops_startup_with_a_json_error_naming_it() {
    let Some(server) = postgres_or_skip() else {
        return;
    };
    let name = format!("wi_missing_{}", uuid::Uuid::new_v4().simple());

    let (error, _) = refused_startup(&with_database(&server, &name)).await;
    assert!(error.to_string().contains(&name), "{error}");
}

/// `url` with a password, and that password: its own if it has one, else `PASSWORD`
/// (a server that trusts local connections, as CI's does, accepts and ignores it).
fn with_a_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some((user, host)) = rest[..authority_end].rsplit_once('@') else {
        panic!("TEST_POSTGRES_URL must name a user for this test");
    };
    match user.split_once(':') {
        Some((_, password)) => (url.to_owned(), password.to_owned()),
        None => (
            format!(
                "{scheme}://{user}:{PASSWORD}@{host}{}",
                &rest[authority_end..]
            ),
            PASSWORD.to_owned(),
        ),
    }
}

#[tokio::test]
async fn a_postgres_url_with_a_password_serves_and_never_logs_the_password() {
    let Some(_) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::fresh().await;
    let (url, password) = with_a_password(&database.url());

    let app = TestApp::spawn_on(database, &[("DATABASE_URL", &url)]).await;

    assert_serves_and_stores(&app).await;
    let listening = app
        .logs()
        .into_iter()
        .find(|line| line["message"] == "listening")
        .expect("a listening line");
    assert!(
        listening["database"]
            .as_str()
            .is_some_and(|db| db.contains(":***@")),
        "the database is shown with its password hidden: {listening}"
    );
    assert_never_shown(&password, &app.logs(), &app.stderr());
}

#[tokio::test]
async fn a_postgresql_scheme_url_is_accepted_too() {
    let Some(_) = postgres_or_skip() else {
        return;
    };
    let database = TestDatabase::fresh().await;
    let url = database.url().replacen("postgres://", "postgresql://", 1);
    assert!(url.starts_with("postgresql://"), "{url}");

    let app = TestApp::spawn_on(database.clone(), &[("DATABASE_URL", &url)]).await;

    assert_serves_and_stores(&app).await;
    let mut connection = database.connect().await;
    assert_eq!(
        connection.count_messages().await,
        1,
        "stored in that database"
    );
    connection.close().await;
}
