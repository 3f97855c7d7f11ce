//! Prometheus scrape endpoint.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::app::AppState;

pub async fn get_metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (body, content_type) = state.metrics.render();
    ([(header::CONTENT_TYPE, content_type)], body)
}
