//! Totals and top senders.

use axum::extract::State;
use axum::Json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::openapi::{ServiceUnavailable, TimedOut};
use crate::store::Stats;

/// Totals, the top senders, and the first and last `ts`.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "messages",
    responses(
        (status = 200, body = Stats, description = "Counted over every stored message"),
        (status = 408, response = TimedOut),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn get_stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(state.store.stats().await?))
}
