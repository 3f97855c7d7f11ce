//! One module per resource; `api` puts them together with their OpenAPI operations.

mod auth;
mod console;
mod docs;
pub mod error;
mod health;
mod messages;
mod metrics;
mod stats;
pub mod webhook;

use std::sync::Arc;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::openapi::ApiDoc;

pub use auth::{Authorized, ReadAccess};
pub use console::{assets_path, CONSOLE_PATH, CONTENT_SECURITY_POLICY};
pub use docs::DOCS_ROUTES;

/// Every route of the contract. `routes!` registers each handler at the method and
/// path of its `#[utoipa::path]` and adds that operation to the document, so the two
/// cannot disagree.
pub fn api() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(webhook::receive_webhook))
        .routes(routes!(messages::list_messages))
        .routes(routes!(stats::get_stats))
        .routes(routes!(metrics::get_metrics))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
}

/// The contract's routes and, beside them, the documentation (`DOCS_ROUTES`) and the
/// operator console (`CONSOLE_PATH`), which the document does not list.
pub fn router() -> Router<Arc<AppState>> {
    let (api, document) = api().split_for_parts();
    api.merge(docs::router(&document)).merge(console::router())
}
