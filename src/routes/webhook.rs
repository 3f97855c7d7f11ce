//! `POST /webhook`: verify, parse, store, answer — in that order.

mod body;

use std::sync::Arc;

use body::read_body;
pub use body::BodyBudget;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::message::InvalidField;
use crate::message::{Message, MAX_MESSAGE_ID_CHARS};
use crate::metrics::WebhookResult;
use crate::openapi::{
    ErrorBody, ServiceUnavailable, TimedOut, ValidationErrorBody, WebhookMessage,
};
use crate::routes::error::ApiError;
use crate::signature::{self, Rejection};
use crate::store::InsertOutcome;
use crate::telemetry::WebhookLog;

/// The answer to a webhook that is stored, now or by an earlier call.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    status: OkStatus,
}

/// The one value of a success `status`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OkStatus {
    Ok,
}

/// The route of `receive_webhook`, as its `MatchedPath` names it.
pub const WEBHOOK_ROUTE: &str = "/webhook";

/// Verifies the signature over the raw bytes, validates, and stores the message once.
#[utoipa::path(
    post,
    path = "/webhook",
    tag = "webhook",
    request_body(
        content = WebhookMessage,
        description = "One message, as UTF-8 JSON. A missing Content-Type is read as JSON; \
                       a type other than `application/json` or `application/…+json` is a \
                       422 at `[\"header\", \"content-type\"]`.",
    ),
    security(("signature" = []), ("standard_webhooks" = [])),
    responses(
        (status = 200, body = Accepted,
         description = "Durably stored now, or already stored earlier (the first version is kept)"),
        (status = 400, body = ErrorBody, description = "The body could not be read"),
        (status = 401, body = ErrorBody,
         description = "No accepted key signed the request: X-Signature missing, empty, not \
                        hex or wrong, or Standard Webhooks headers missing, wrong, or with a \
                        timestamp outside WEBHOOK_TOLERANCE_SECS; nothing was parsed",
         example = json!({"detail": "invalid signature"})),
        (status = 408, response = TimedOut),
        (status = 413, body = ErrorBody, description = "The body is larger than MAX_BODY_BYTES"),
        (status = 422, body = ValidationErrorBody,
         description = "Not one JSON object, a broken field rule, or a non-JSON Content-Type"),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn receive_webhook(
    State(state): State<Arc<AppState>>,
    log: Option<Extension<WebhookLog>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let log = log.map(|Extension(log)| log).unwrap_or_default();
    let outcome = ingest(&state, &headers, body, &log).await;
    let result = match &outcome {
        Ok(InsertOutcome::Created) => WebhookResult::Created,
        Ok(InsertOutcome::Duplicate) => WebhookResult::Duplicate,
        Err(ApiError::InvalidSignature) => WebhookResult::InvalidSignature,
        Err(ApiError::StaleTimestamp) => WebhookResult::StaleTimestamp,
        Err(ApiError::Validation(_)) => WebhookResult::ValidationError,
        Err(ApiError::PayloadTooLarge) => WebhookResult::PayloadTooLarge,
        Err(ApiError::UnreadableBody) => WebhookResult::UnreadableBody,
        Err(ApiError::Overloaded | ApiError::BodiesInFlight) => WebhookResult::Overloaded,
        Err(ApiError::StoreUnavailable) => WebhookResult::StoreUnavailable,
        // Read access is not asked of /webhook, which is signed instead.
        Err(ApiError::NotAuthenticated) => WebhookResult::InvalidSignature,
    };
    log.update(|facts| facts.result = Some(result));
    match outcome {
        Ok(_) => Json(Accepted {
            status: OkStatus::Ok,
        })
        .into_response(),
        Err(error) => error.into_response(),
    }
}

/// The signature check reads the request's headers through this.
impl signature::Headers for HeaderMap {
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(name).iter().map(|value| value.as_bytes())
    }
}

async fn ingest(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    log: &WebhookLog,
) -> Result<InsertOutcome, ApiError> {
    let read = read_body(headers, body, state.max_body_bytes, &state.body_budget).await?;
    let body = &read.bytes[..];
    let signer = state
        .verifier
        .verify(headers, body)
        .map_err(|rejection| match rejection {
            Rejection::InvalidSignature => ApiError::InvalidSignature,
            Rejection::StaleTimestamp(signer) => {
                log.update(|facts| facts.signed_with = Some(signer));
                ApiError::StaleTimestamp
            }
        })?;
    log.update(|facts| facts.signed_with = Some(signer));
    check_content_type(headers).inspect_err(|_| {
        log.update(|facts| facts.message_id = readable_message_id(body));
    })?;
    let message = Message::from_json(body).map_err(|errors| {
        log.update(|facts| facts.message_id = readable_message_id(body));
        ApiError::Validation(errors)
    })?;
    // The message holds its own copy: the body's share of the budget goes back before
    // waiting for the writer.
    drop(read);
    log.update(|facts| facts.message_id = Some(message.message_id.clone()));
    Ok(state.store.insert(message).await?)
}

/// A body without `Content-Type` is read as JSON; one that names another type is refused.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Ok(());
    }
    Err(ApiError::Validation(vec![InvalidField::new(
        vec!["header", "content-type"],
        "content_type",
        "Content-Type should be application/json",
    )]))
}

/// The `message_id` of an invalid body, when it has a readable one, for the log: at
/// most its first `MAX_MESSAGE_ID_CHARS` characters, so a huge id makes no huge line.
fn readable_message_id(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        message_id: String,
    }
    serde_json::from_slice::<IdOnly>(body)
        .ok()
        .map(|id| {
            id.message_id
                .chars()
                .take(MAX_MESSAGE_ID_CHARS)
                .collect::<String>()
        })
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    /// The log line and metrics match the route by this name.
    #[test]
    fn webhook_route_names_the_route_of_receive_webhook() {
        let document = crate::openapi::document();
        let operation = document.paths.paths[super::WEBHOOK_ROUTE].post.as_ref();
        assert_eq!(
            operation.and_then(|post| post.operation_id.as_deref()),
            Some("receive_webhook")
        );
    }
}
