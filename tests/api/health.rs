use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{json_ok, TestApp};

#[tokio::test]
async fn live_answers_200_with_a_json_status() {
    let app = TestApp::spawn().await;

    let body = json_ok(app.get("/health/live").await).await;

    assert_eq!(body, json!({"status": "ok"}));
}

#[tokio::test]
async fn ready_answers_200_ok_on_a_migrated_database() {
    let app = TestApp::spawn().await;

    let response = app.get("/health/ready").await;

    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(json_ok(response).await, json!({"status": "ok"}));
}

#[tokio::test]
async fn ready_answers_503_naming_the_schema_when_migrations_are_not_recorded() {
    let app = TestApp::spawn().await;
    json_ok(app.get("/health/ready").await).await;

    app.tamper_with_database("DELETE FROM _sqlx_migrations")
        .await;
    let body = wait_for_not_ready(&app).await;

    assert_ne!(body["status"], "ok");
    let detail = body["detail"].as_str().expect("a string detail");
    assert!(detail.contains("schema"), "detail names the check: {body}");
    assert_eq!(
        json_ok(app.get("/health/live").await).await,
        json!({"status": "ok"}),
        "liveness does not depend on the database"
    );
}

#[tokio::test]
async fn ready_answers_503_when_the_migrations_table_is_gone() {
    let app = TestApp::spawn().await;

    app.tamper_with_database("DROP TABLE _sqlx_migrations")
        .await;
    let body = wait_for_not_ready(&app).await;

    assert_ne!(body["status"], "ok");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "the 503 body says which check failed: {body}"
    );
}

/// Polls `/health/ready` until it answers 503 and returns that JSON body.
async fn wait_for_not_ready(app: &TestApp) -> Value {
    for _ in 0..300 {
        let response = app.get("/health/ready").await;
        if response.status() == 503 {
            return response.json().await.expect("a JSON 503 body");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/health/ready never answered 503");
}

/// Runs `webhook-inbox healthcheck` against `port`; true when it exits 0.
async fn healthcheck_passes(port: &str) -> bool {
    tokio::process::Command::new(crate::helpers::binary())
        .arg("healthcheck")
        .env_clear()
        .env("PORT", port)
        .status()
        .await
        .expect("run the healthcheck subcommand")
        .success()
}

#[tokio::test]
async fn the_healthcheck_subcommand_passes_only_when_ready() {
    let app = TestApp::spawn().await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();

    assert!(healthcheck_passes(&port).await, "ready service");

    app.tamper_with_database("DELETE FROM _sqlx_migrations")
        .await;
    wait_for_not_ready(&app).await;
    assert!(!healthcheck_passes(&port).await, "service not ready");
    drop(app);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unused = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    assert!(!healthcheck_passes(&unused).await, "nothing listening");
}
