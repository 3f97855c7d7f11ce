//! `GET /openapi.json` and `GET /docs`: the document, and an interactive page for it
//! (Scalar, whose script is embedded in the binary, so nothing is fetched elsewhere).

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::Router;
use serde_json::json;

use crate::app::AppState;

const OPENAPI_PATH: &str = "/openapi.json";
const DOCS_PATH: &str = "/docs";
const SCRIPT_PATH: &str = "/docs/scalar.js";

/// The documentation routes, served beside the contract but not listed in it.
pub const DOCS_ROUTES: [&str; 3] = [OPENAPI_PATH, DOCS_PATH, SCRIPT_PATH];

/// Serves `document` as JSON, the page, and the page's script.
pub fn router(document: &utoipa::openapi::OpenApi) -> Router<Arc<AppState>> {
    let document = Bytes::from(document.to_json().expect("the document serializes"));
    // Scalar's own defaults would load web fonts, report telemetry, and (on localhost)
    // show its developer toolbar ("Deploy API", "Generate SDK") and an "Ask AI" agent,
    // all of which talk to Scalar's hosts; none of that happens here.
    let page = Bytes::from(
        scalar_api_reference::scalar_html(
            &json!({
                "url": OPENAPI_PATH,
                "withDefaultFonts": false,
                "telemetry": false,
                "hideClientButton": true,
                "showDeveloperTools": "never",
                "agent": { "disabled": true },
                "mcp": { "disabled": true },
            }),
            Some(SCRIPT_PATH),
        )
        .replace(
            "<title>Scalar API Reference</title>",
            "<title>webhook-inbox API</title>",
        ),
    );
    let script = Bytes::from(scalar_api_reference::get_asset("scalar.js").unwrap_or_default());
    Router::new()
        .route(
            OPENAPI_PATH,
            get(|| async move { ([(header::CONTENT_TYPE, "application/json")], document) }),
        )
        .route(DOCS_PATH, get(|| async move { Html(page) }))
        .route(
            SCRIPT_PATH,
            get(|| async move {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    script,
                )
                    .into_response()
            }),
        )
}
