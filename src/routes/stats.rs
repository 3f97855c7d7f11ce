//! Totals and top senders.

use axum::extract::State;
use axum::Json;

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::Stats;

pub async fn get_stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    Ok(Json(state.store.stats().await?))
}
