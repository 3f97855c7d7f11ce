//! Totals and top senders.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::ApiError;
use crate::openapi::{ServiceUnavailable, TimedOut};
use crate::store::{SenderCount, Stats};

/// The body of `/stats`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsBody {
    total_messages: u64,
    senders_count: u64,
    /// The top 10 senders by count, descending; ties by `from` ascending.
    messages_per_sender: Vec<SenderCountBody>,
    /// The `ts` of the earliest message (by instant), as received; null when empty.
    #[schema(schema_with = crate::openapi::nullable_timestamp, required = true)]
    first_message_ts: Option<String>,
    /// The `ts` of the latest message (by instant), as received; null when empty.
    #[schema(schema_with = crate::openapi::nullable_timestamp, required = true)]
    last_message_ts: Option<String>,
}

/// One row of the top-senders list.
#[derive(Debug, Serialize, ToSchema)]
pub struct SenderCountBody {
    #[schema(schema_with = crate::openapi::msisdn)]
    from: String,
    #[schema(minimum = 1)]
    count: u64,
}

impl From<Stats> for StatsBody {
    fn from(stats: Stats) -> Self {
        Self {
            total_messages: stats.total_messages,
            senders_count: stats.senders_count,
            messages_per_sender: stats
                .messages_per_sender
                .into_iter()
                .map(|SenderCount { from, count }| SenderCountBody { from, count })
                .collect(),
            first_message_ts: stats.first_message_ts,
            last_message_ts: stats.last_message_ts,
        }
    }
}

/// Totals, the top senders, and the first and last `ts`.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "messages",
    responses(
        (status = 200, body = StatsBody, description = "Counted over every stored message"),
        (status = 408, response = TimedOut),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn get_stats(State(state): State<AppState>) -> Result<Json<StatsBody>, ApiError> {
    Ok(Json(state.store.stats().await?.into()))
}
