//! Liveness and readiness probes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::app::AppState;

/// 200 whenever the process can answer at all.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database answers and its schema is applied; 503 naming the failed check.
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store.is_ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(reason) => {
            tracing::warn!(reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unavailable", "detail": reason})),
            )
        }
    }
}
