//! Prometheus scrape endpoint.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::app::AppState;
use crate::openapi::TimedOut;

/// Every metric in the Prometheus text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, body = String, content_type = "text/plain; version=0.0.4",
         description = "Prometheus text format; the metric names are listed in docs/api.md",
         example = "http_requests_total{path=\"/webhook\",status=\"200\"} 15\n"),
        (status = 408, response = TimedOut),
    )
)]
pub async fn get_metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    // Read as it is scraped: a queue that grows behind a hung commit shows.
    let (body, content_type) = state.metrics.render(state.store.queue_depth());
    ([(header::CONTENT_TYPE, content_type)], body)
}
