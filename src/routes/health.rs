//! Liveness and readiness probes.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::openapi::TimedOut;

/// The body of both probes.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Probe {
    status: ProbeStatus,
    /// Which check failed; only when `status` is `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    Ok,
    Unavailable,
}

impl Probe {
    const OK: Self = Self {
        status: ProbeStatus::Ok,
        detail: None,
    };
}

/// 200 whenever the process can answer at all.
#[utoipa::path(
    get,
    path = "/health/live",
    tag = "operations",
    responses(
        (status = 200, body = Probe, description = "The process is up"),
        (status = 408, response = TimedOut),
    )
)]
pub async fn live() -> Json<Probe> {
    Json(Probe::OK)
}

/// 200 when the database answers and its schema is applied; 503 naming the failed check.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "operations",
    responses(
        (status = 200, body = Probe, description = "Ready to store and serve messages"),
        (status = 408, response = TimedOut),
        (status = 503, body = Probe, description = "Not ready; `detail` names the failed check",
         example = json!({"status": "unavailable", "detail": "schema: migrations are not applied"})),
    )
)]
pub async fn ready(State(state): State<Arc<AppState>>) -> (StatusCode, Json<Probe>) {
    match state.store.is_ready().await {
        Ok(()) => (StatusCode::OK, Json(Probe::OK)),
        Err(reason) => {
            tracing::warn!(reason, "not ready");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Probe {
                    status: ProbeStatus::Unavailable,
                    detail: Some(reason),
                }),
            )
        }
    }
}
