//! `GET /`: the operator console, one page built on the JSON API. Its HTML, CSS and
//! JavaScript modules (in `console/`) are embedded in the binary; nothing is loaded
//! from another host. The assets live under `/console/<version>/`, where the version
//! is a hash of every file, so they are cached for a year and a new build is fetched at
//! once; the page itself is revalidated (`no-cache`, `ETag`) on every visit.

use std::sync::{Arc, LazyLock};

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use tower_http::compression::CompressionLayer;

use crate::app::AppState;

/// The page's own path and the prefix of its assets.
pub const CONSOLE_PATH: &str = "/";
const ASSETS_PREFIX: &str = "/console";

/// What the console's responses may load and do: only this origin's scripts, styles
/// and API, no inline script or style, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'self'";

/// The page; `{{assets}}` stands for the versioned asset folder.
const PAGE: &str = include_str!("console/index.html");

const JS: &str = "text/javascript; charset=utf-8";

/// Every asset: name, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 7] = [
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("console/style.css"),
    ),
    ("app.js", JS, include_bytes!("console/app.js")),
    ("api.js", JS, include_bytes!("console/api.js")),
    ("filters.js", JS, include_bytes!("console/filters.js")),
    ("live.js", JS, include_bytes!("console/live.js")),
    ("newest.js", JS, include_bytes!("console/newest.js")),
    ("render.js", JS, include_bytes!("console/render.js")),
];

/// The page with its asset links filled in, and the version they carry.
struct Console {
    version: String,
    page: Bytes,
    etag: HeaderValue,
}

static CONSOLE: LazyLock<Console> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    hash.update(PAGE.as_bytes());
    for (name, _, bytes) in ASSETS {
        hash.update(name.as_bytes());
        hash.update(bytes);
    }
    let version = hex::encode(&hash.finalize()[..8]);
    let page = PAGE.replace("{{assets}}", &format!("{ASSETS_PREFIX}/{version}"));
    let etag = HeaderValue::from_str(&format!("\"{version}\"")).expect("hex is a valid header");
    Console {
        version,
        page: Bytes::from(page),
        etag,
    }
});

/// The console's routes, compressed (gzip or brotli, as the browser accepts).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route(CONSOLE_PATH, get(page))
        .route(&format!("{ASSETS_PREFIX}/{{version}}/{{file}}"), get(asset))
        .layer(CompressionLayer::new())
}

/// The asset folder the page links to, e.g. `/console/0123456789abcdef`.
pub fn assets_path() -> String {
    format!("{ASSETS_PREFIX}/{}", CONSOLE.version)
}

async fn page(request_headers: HeaderMap) -> Response {
    let console = &*CONSOLE;
    let mut headers = security_headers("text/html; charset=utf-8");
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::ETAG, console.etag.clone());
    let fresh = request_headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|tag| tag.trim().trim_start_matches("W/") == console.etag);
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, console.page.clone()).into_response()
}

async fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().find(|(name, _, _)| *name == file);
    match found {
        Some((_, content_type, bytes)) if version == CONSOLE.version => {
            let mut headers = security_headers(content_type);
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            (headers, Bytes::from_static(bytes)).into_response()
        }
        // An old page asking for the assets of another build, or no such file.
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn security_headers(content_type: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).expect("a valid content type"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_every_asset_by_its_versioned_path_and_nothing_else() {
        let page = std::str::from_utf8(&CONSOLE.page).unwrap();
        assert!(!page.contains("{{"), "a placeholder is left: {page}");
        let base = assets_path();
        assert!(page.contains(&format!("{base}/app.js")), "{page}");
        assert!(page.contains(&format!("{base}/style.css")), "{page}");
        for (name, _, _) in ASSETS.iter().filter(|(name, _, _)| name.ends_with(".js")) {
            assert!(page.contains(&format!("{base}/{name}")), "{name} preloaded");
        }
        assert!(!page.contains("://"), "no other host: {page}");
        assert!(!page.contains("style="), "no inline style: {page}");
    }
}
