//! `/openapi.json` and `/docs`: the document is OpenAPI 3.1, lists exactly the routes
//! the router serves, and the docs page needs nothing from the network.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::Value;
use webhook_inbox::routes::DOCS_ROUTES;

use crate::helpers::{json_ok, message, TestApp};

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"];

/// The operations of the wire contract, written out rather than read from the code.
const CONTRACT: [(&str, &str); 6] = [
    ("POST", "/webhook"),
    ("GET", "/messages"),
    ("GET", "/stats"),
    ("GET", "/metrics"),
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
];

async fn document(app: &TestApp) -> Value {
    json_ok(app.get("/openapi.json").await).await
}

fn operations(document: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths is an object") {
        for method in METHODS.into_iter().chain(["HEAD"]) {
            if item.get(method.to_lowercase()).is_some() {
                operations.insert((method.to_owned(), path.clone()));
            }
        }
    }
    operations
}

/// Every `$ref` in `value`, e.g. `#/components/schemas/ErrorBody`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target);
            }
            map.values().for_each(|value| refs(value, found));
        }
        Value::Array(items) => items.iter().for_each(|value| refs(value, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_openapi_3_1_with_resolvable_references() {
    let app = TestApp::spawn().await;

    let document = document(&app).await;

    let version = document["openapi"].as_str().expect("an openapi version");
    assert!(version.starts_with("3.1."), "{version}");
    assert_eq!(document["info"]["title"], "webhook-inbox");
    assert!(document["info"]["version"].is_string());
    let mut targets = Vec::new();
    refs(&document, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{target} is not local"));
        assert!(document.pointer(pointer).is_some(), "{target} resolves");
    }
    for (method, path) in operations(&document) {
        let operation = &document["paths"][&path][method.to_lowercase()];
        let responses = operation["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has responses");
        for status in responses.keys() {
            let code: u16 = status.parse().expect("a numeric status");
            assert!((200..600).contains(&code), "{method} {path} {status}");
        }
    }
}

#[tokio::test]
async fn the_document_lists_exactly_the_contract_and_the_router_serves_it() {
    let app = TestApp::spawn().await;

    let documented = operations(&document(&app).await);

    let contract: BTreeSet<(String, String)> = CONTRACT
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(documented, contract);
    let paths: BTreeSet<&str> = documented.iter().map(|(_, path)| path.as_str()).collect();
    for path in &paths {
        for method in METHODS {
            let response = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{path}", app.address),
                )
                .send()
                .await
                .expect("request");
            let status = response.status().as_u16();
            if documented.contains(&(method.to_owned(), path.to_string())) {
                assert!(![404, 405].contains(&status), "{method} {path}: {status}");
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented");
            }
        }
    }
    // The documentation routes are served, and deliberately not part of the contract.
    for path in DOCS_ROUTES {
        assert!(!paths.contains(path), "{path} is not in the document");
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn the_docs_page_loads_only_what_the_binary_serves() {
    let app = TestApp::spawn().await;

    let response = app.get("/docs").await;

    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = response.text().await.unwrap();
    let sources: Vec<&str> = page
        .split(['"', '\''])
        .skip(1)
        .step_by(2)
        .filter(|value| value.contains("://") || value.starts_with("//"))
        .collect();
    assert!(
        sources.is_empty(),
        "the page names other hosts: {sources:?}"
    );
    assert!(page.contains("\"/openapi.json\""), "{page}");
    let script = app.get("/docs/scalar.js").await;
    assert_eq!(script.status(), 200);
    let content_type = script.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("text/javascript"),
        "{content_type}"
    );
    assert!(script.bytes().await.unwrap().len() > 100_000);
}

#[tokio::test]
async fn the_docs_page_turns_off_scalars_toolbar_agent_and_client_button() {
    let app = TestApp::spawn().await;

    let page = app.get("/docs").await.text().await.unwrap();

    let configuration = page
        .split_once("Scalar.createApiReference('#app',")
        .and_then(|(_, rest)| rest.split_once(")\n"))
        .map(|(json, _)| json.trim())
        .unwrap_or_else(|| panic!("the page configures Scalar: {page}"));
    let configuration: Value = serde_json::from_str(configuration).expect("JSON configuration");
    assert_eq!(configuration["url"], "/openapi.json");
    // "Deploy API", "Generate SDK" and the rest of the developer toolbar.
    assert_eq!(configuration["showDeveloperTools"], "never");
    // "Ask AI".
    assert_eq!(configuration["agent"]["disabled"], true);
    assert_eq!(configuration["mcp"]["disabled"], true);
    assert_eq!(configuration["hideClientButton"], true);
    assert_eq!(configuration["telemetry"], false);
    assert_eq!(configuration["withDefaultFonts"], false);
}

#[tokio::test]
async fn the_document_carries_the_crate_version() {
    let app = TestApp::spawn().await;

    let document = document(&app).await;

    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn a_next_cursor_matches_the_documented_cursor_pattern() {
    let app = TestApp::spawn().await;
    for id in ["first", "second"] {
        assert_eq!(app.post_webhook(&message(id)).await.status(), 200);
    }

    let page = app.messages("limit=1").await;

    let cursor = page["next_cursor"].as_str().expect("a next page");
    let document = document(&app).await;
    let parameters = document["paths"]["/messages"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    let cursor_parameter = parameters
        .iter()
        .find(|parameter| parameter["name"] == "cursor")
        .expect("a cursor parameter");
    let pattern = cursor_parameter["schema"]["pattern"]
        .as_str()
        .expect("a pattern");
    let pattern = regex::Regex::new(pattern).expect("a valid pattern");
    assert!(pattern.is_match(cursor), "{cursor} against {pattern}");
}
