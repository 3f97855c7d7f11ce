//! Totals and top senders.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;

use crate::app::AppState;
use crate::openapi::{ServiceUnavailable, TimedOut, Unauthenticated};
use crate::routes::error::ApiError;
use crate::routes::Authorized;
use crate::store::Stats;

/// Totals, the top senders, and the first and last `ts`.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "messages",
    security(("bearer" = [])),
    responses(
        (status = 200, body = crate::openapi::Stats, description = "Counted over every stored message"),
        (status = 401, response = Unauthenticated),
        (status = 408, response = TimedOut),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn get_stats(
    _: Authorized,
    State(state): State<Arc<AppState>>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(state.store.stats().await?))
}
