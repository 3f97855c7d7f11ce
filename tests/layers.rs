//! The layers of the source, checked on the files themselves: the domain (`message`,
//! `timestamp`, `signature`) knows nothing of HTTP, OpenAPI or storage, and the store
//! knows nothing of HTTP or OpenAPI. A file that reaches across names the module in a
//! `use` or a path, which is what this test looks for.

use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

/// The domain: pure rules and types.
const DOMAIN: [&str; 4] = [
    "src/message.rs",
    "src/timestamp.rs",
    "src/signature.rs",
    "src/signature/",
];

/// What the domain may not name: HTTP, OpenAPI, storage, and the modules built on them.
const DOMAIN_FORBIDDEN: &str = r"\b(?:axum|utoipa|utoipa_axum|hyper|hyper_util|tower|tower_http|http|sqlx)::|\buse\s+(?:axum|utoipa|hyper|tower|http|sqlx)\b|\bcrate::(?:routes|openapi|app|server|store)\b";

/// Domain files allowed to break the rule: none.
const DOMAIN_EXCEPTIONS: [&str; 0] = [];

/// What the store may not name: HTTP, OpenAPI, and the modules that serve them.
const STORE_FORBIDDEN: &str = r"\b(?:axum|utoipa|utoipa_axum)::|\buse\s+(?:axum|utoipa)\b|\bcrate::(?:routes|openapi|app|server)\b";

/// Store files allowed to break the rule: none.
const STORE_EXCEPTIONS: [&str; 0] = [];

#[test]
fn the_domain_names_no_http_openapi_or_storage_module() {
    let violations = violations(&DOMAIN, DOMAIN_FORBIDDEN, &DOMAIN_EXCEPTIONS);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_store_names_no_http_or_openapi_module() {
    let violations = violations(&["src/store/"], STORE_FORBIDDEN, &STORE_EXCEPTIONS);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn the_check_sees_a_forbidden_import() {
    let domain = Regex::new(DOMAIN_FORBIDDEN).unwrap();
    for line in [
        "use axum::http::HeaderMap;",
        "use crate::openapi::msisdn;",
        "#[derive(utoipa::ToSchema)]",
        "    crate::store::fold_case(text)",
        "use sqlx;",
    ] {
        assert!(domain.is_match(line), "{line}");
    }
    for line in [
        "use crate::timestamp::Timestamp;",
        "use hmac::Mac;",
        "let http_ok = 1;",
    ] {
        assert!(!domain.is_match(line), "{line}");
    }
    let store = Regex::new(STORE_FORBIDDEN).unwrap();
    assert!(store.is_match("use crate::routes::error::ApiError;"));
    assert!(!store.is_match("use sqlx::SqlitePool;"));
}

/// `file:line: text` of every line of the files under `roots` that matches `forbidden`,
/// except in the files of `exceptions` and in comments.
fn violations(roots: &[&str], forbidden: &str, exceptions: &[&str]) -> Vec<String> {
    let forbidden = Regex::new(forbidden).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for root in roots {
        collect(&manifest.join(root), &mut files);
    }
    assert!(!files.is_empty(), "no source files under {roots:?}");
    let mut found = Vec::new();
    for file in files {
        let name = file
            .strip_prefix(manifest)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if exceptions.contains(&name.as_str()) {
            continue;
        }
        let source = fs::read_to_string(&file).unwrap();
        for (number, line) in source.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if forbidden.is_match(code) {
                found.push(format!("{name}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    found
}

/// The `.rs` files at `path`: the file itself, or every one below the folder.
fn collect(path: &Path, files: &mut Vec<PathBuf>) {
    if path.is_file() {
        files.push(path.to_path_buf());
        return;
    }
    let mut entries: Vec<PathBuf> = fs::read_dir(path)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect(&entry, files);
        } else if entry.extension().is_some_and(|extension| extension == "rs") {
            files.push(entry);
        }
    }
}
