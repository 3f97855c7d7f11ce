//! `API_TOKENS`: bearer tokens on `/messages` and `/stats`; everything else stays open.

use serde_json::{json, Value};

use crate::helpers::{json_ok, json_with_status, message, TestApp};

const TOKENS: &str = "reader-token-one  reader-token-two";

async fn get_with(app: &TestApp, path: &str, authorization: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("GET")
}

#[tokio::test]
async fn with_tokens_reads_need_one_of_them_as_a_bearer_token() {
    let app = TestApp::spawn_with(&[("API_TOKENS", TOKENS)]).await;
    json_ok(app.post_webhook(&message("m1")).await).await;

    for path in ["/messages", "/stats", "/messages?limit=1"] {
        for authorization in [
            None,
            Some("Bearer wrong-token"),
            Some("Bearer reader-token-on"),
            Some("Bearer reader-token-onee"),
            Some("Basic cmVhZGVyLXRva2VuLW9uZQ=="),
            Some("reader-token-one"),
            Some("Bearer "),
        ] {
            let response = get_with(&app, path, authorization).await;
            assert_eq!(
                response.headers()["www-authenticate"],
                "Bearer",
                "{path} {authorization:?}"
            );
            let body = json_with_status(response, 401).await;
            assert_eq!(body, json!({"detail": "not authenticated"}));
        }
        for token in ["reader-token-one", "reader-token-two"] {
            let response = get_with(&app, path, Some(&format!("Bearer {token}"))).await;
            assert_eq!(response.status(), 200, "{path}");
        }
    }
    let page: Value = get_with(&app, "/messages", Some("bearer reader-token-two"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["data"][0], message("m1"));

    for open in [
        "/health/live",
        "/health/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
    ] {
        assert_eq!(app.get(open).await.status(), 200, "{open}");
    }
    // Tokens never reach the logs, accepted or not.
    let logs = serde_json::to_string(&app.logs()).unwrap();
    assert!(!logs.contains("reader-token"), "{logs}");
    assert!(!logs.contains("wrong-token"), "{logs}");
    assert!(
        !app.logs()
            .iter()
            .any(|line| line["variable"] == "API_TOKENS"),
        "no warning when tokens are set"
    );
}

#[tokio::test]
async fn without_tokens_reads_are_open_and_startup_warns_once_naming_api_tokens() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/messages").await.status(), 200);
    assert_eq!(app.get("/stats").await.status(), 200);
    let warnings: Vec<Value> = app
        .logs()
        .into_iter()
        .filter(|line| line["level"] == "WARN" && line["variable"] == "API_TOKENS")
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]["message"]
        .as_str()
        .unwrap()
        .contains("API_TOKENS"));
}

#[tokio::test]
async fn the_document_declares_the_bearer_scheme_on_the_two_read_operations() {
    let app = TestApp::spawn().await;
    let document = json_ok(app.get("/openapi.json").await).await;
    let scheme = &document["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http", "{scheme}");
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for path in ["/messages", "/stats"] {
        let operation = &document["paths"][path]["get"];
        assert_eq!(operation["security"], json!([{"bearer": []}]), "{path}");
        assert!(operation["responses"]["401"].is_object(), "{path}");
    }
    for (path, method) in [
        ("/webhook", "post"),
        ("/health/live", "get"),
        ("/metrics", "get"),
    ] {
        let security = &document["paths"][path][method]["security"];
        assert!(
            !security.to_string().contains("bearer"),
            "{path}: {security}"
        );
    }
    let webhook = &document["paths"]["/webhook"]["post"]["security"];
    assert_eq!(
        webhook,
        &json!([{"signature": []}, {"standard_webhooks": []}])
    );
}
