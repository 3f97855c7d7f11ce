use std::process::ExitStatus;

use serde_json::{json, Value};

use crate::helpers::{json_ok, message, run_to_exit, TestApp, SECRET};

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

    let app = TestApp::spawn_with(&[("DATABASE_URL", &url)]).await;

    assert_serves_and_stores(&app).await;
    assert!(path.is_file(), "{} was created", path.display());
    assert!(
        !app.database_path().exists(),
        "not the harness's default file"
    );
}

#[tokio::test]
async fn a_three_slash_url_names_an_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("three.db");
    let url = format!("sqlite://{}", path.display());
    assert!(url.starts_with("sqlite:///") && !url.starts_with("sqlite:////"));

    let app = TestApp::spawn_with(&[("DATABASE_URL", &url)]).await;

    assert_serves_and_stores(&app).await;
    assert!(path.is_file(), "{} was created", path.display());
}

#[tokio::test]
async fn an_in_memory_database_serves_and_stores() {
    let app = TestApp::spawn_with(&[("DATABASE_URL", "sqlite::memory:")]).await;

    assert_serves_and_stores(&app).await;
    assert_eq!(
        json_ok(app.get("/health/ready").await).await["status"],
        "ok"
    );
    assert!(!app.database_path().exists(), "no file is written");
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
    let (status, stdout, stderr) = run_to_exit(&[
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", "sqlite:////proc/no-such-place/app.db"),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ])
    .await;

    assert!(!status.success(), "exit status: {status}");
    assert!(
        stdout.iter().any(|line| line["level"] == "ERROR"),
        "{stdout:?}"
    );
    assert!(stdout.iter().all(|line| line["message"] != "listening"));
    assert_eq!(stderr, Vec::<String>::new());
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

    let (status, stdout, stderr) = run_to_exit(&[
        ("WEBHOOK_SECRET", SECRET),
        ("DATABASE_URL", &format!("sqlite://{}", path.display())),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
    ])
    .await;

    assert!(!status.success(), "exit status: {status}");
    let error = stdout
        .iter()
        .find(|line| line["level"] == "ERROR")
        .unwrap_or_else(|| panic!("an error line: {stdout:?}"));
    assert!(error.to_string().contains("database"), "{error}");
    assert!(stdout.iter().all(|line| line["message"] != "listening"));
    assert_eq!(stderr, Vec::<String>::new());
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "never replaced by an empty database"
    );
}
