//! `GET /`: the operator console's page and assets, as HTTP sees them. What the page does
//! in a browser is tested in `tests/browser`.

use webhook_inbox::routes::{assets_path, CONTENT_SECURITY_POLICY};

use crate::helpers::TestApp;

const ASSETS: [&str; 7] = [
    "style.css",
    "app.js",
    "api.js",
    "filters.js",
    "live.js",
    "newest.js",
    "render.js",
];

async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("GET")
}

#[tokio::test]
async fn the_console_page_forbids_inline_script_and_is_revalidated_on_every_visit() {
    let app = TestApp::spawn().await;

    let response = app.get("/").await;

    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert_eq!(policy, CONTENT_SECURITY_POLICY);
    assert!(!policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
    assert!(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-cache");
    let page = response.text().await.unwrap();
    assert!(
        page.contains(&format!("{}/app.js", assets_path())),
        "{page}"
    );
    assert!(!page.contains("<script>"), "no inline script: {page}");

    let etag = headers["etag"].to_str().unwrap();
    let again = get_with(&app, "/", &[("if-none-match", etag)]).await;
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());
    let other = get_with(&app, "/", &[("if-none-match", "\"another\"")]).await;
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn console_assets_are_compressed_cached_for_a_year_and_small() {
    let app = TestApp::spawn().await;
    let mut total = 0;

    for name in ASSETS {
        let path = format!("{}/{name}", assets_path());
        let plain = get_with(&app, &path, &[]).await;
        assert_eq!(plain.status(), 200, "{path}");
        assert_eq!(plain.headers()["x-content-type-options"], "nosniff");
        assert_eq!(
            plain.headers()["content-security-policy"],
            CONTENT_SECURITY_POLICY
        );
        let cache = plain.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cache.contains("max-age=31536000"), "{path}: {cache}");
        let plain_size = plain.bytes().await.unwrap().len();
        for encoding in ["br", "gzip"] {
            let response = get_with(&app, &path, &[("accept-encoding", encoding)]).await;
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-encoding"], encoding, "{path}");
            let size = response.bytes().await.unwrap().len();
            assert!(
                size < plain_size,
                "{path} in {encoding}: {size} of {plain_size}"
            );
            if encoding == "br" {
                total += size;
            }
        }
    }
    assert!(total <= 100_000, "assets take {total} bytes compressed");
}

#[tokio::test]
async fn assets_of_another_build_or_unknown_files_are_not_found_as_json() {
    let app = TestApp::spawn().await;

    for path in [
        "/console/0000000000000000/app.js".to_owned(),
        format!("{}/secret.js", assets_path()),
        format!("{}/../app.js", assets_path()),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.expect("a JSON body");
        assert_eq!(body["detail"], "Not Found", "{path}");
    }
}

#[tokio::test]
async fn the_api_answers_are_not_touched_by_the_console() {
    let app = TestApp::spawn().await;

    for path in ["/messages", "/stats", "/health/live"] {
        let response = get_with(&app, path, &[("accept-encoding", "br, gzip")]).await;
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers();
        assert!(headers.get("content-encoding").is_none(), "{path}");
        assert!(headers.get("content-security-policy").is_none(), "{path}");
        assert_eq!(headers["content-type"], "application/json", "{path}");
    }
}
