//! One module per resource; `router` puts them together.

mod health;
mod messages;
mod metrics;
mod stats;
mod webhook;

use axum::routing::{get, post};
use axum::Router;

use crate::app::AppState;

/// Every route of the contract.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhook", post(webhook::receive_webhook))
        .route("/messages", get(messages::list_messages))
        .route("/stats", get(stats::get_stats))
        .route("/metrics", get(metrics::get_metrics))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
}
