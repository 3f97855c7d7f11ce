//! Every error answer of the service: one status and one JSON body for each.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

use crate::store::StoreError;

/// How long a sender should wait before retrying a 503, in seconds.
const RETRY_AFTER_SECS: &str = "1";

/// One entry of a 422 `detail` list, shaped like FastAPI's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Where the problem is: `["body", "from"]`, `["query", "limit"]`, `["body"]`.
    #[schema(min_items = 1, example = json!(["body", "from"]))]
    pub loc: Vec<&'static str>,
    /// A sentence for a person.
    pub msg: String,
    /// A stable, machine-readable kind (Pydantic's names where one fits).
    #[serde(rename = "type")]
    #[schema(example = "string_pattern_mismatch")]
    pub kind: &'static str,
}

impl FieldError {
    pub fn new(loc: Vec<&'static str>, kind: &'static str, msg: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind,
        }
    }
}

/// An answer other than success.
#[derive(Debug)]
pub enum ApiError {
    /// 401: no accepted key signed the request (either scheme).
    InvalidSignature,
    /// 401, as `InvalidSignature`: a valid Standard Webhooks signature on a timestamp
    /// outside the tolerance (told apart in the log and metrics only).
    StaleTimestamp,
    /// 401 with `WWW-Authenticate: Bearer`: `/messages` or `/stats` without one of the
    /// `API_TOKENS`.
    NotAuthenticated,
    /// 413: the body is larger than `MAX_BODY_BYTES`.
    PayloadTooLarge,
    /// 400: the body could not be read (the client went away or broke the framing).
    UnreadableBody,
    /// 422: the input breaks one or more rules.
    Validation(Vec<FieldError>),
    /// 503 with `Retry-After`: the write queue is full.
    Overloaded,
    /// 503 with `Retry-After`: the budget for request bodies in memory stayed full.
    BodiesInFlight,
    /// 503 with `Retry-After`: the store could not commit or answer.
    StoreUnavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            Self::InvalidSignature | Self::StaleTimestamp => {
                (StatusCode::UNAUTHORIZED, json!("invalid signature"))
            }
            Self::NotAuthenticated => {
                let mut response = (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "detail": "not authenticated" })),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return response;
            }
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                json!("request body is larger than the limit"),
            ),
            Self::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                json!("request body could not be read"),
            ),
            Self::Validation(errors) => (StatusCode::UNPROCESSABLE_ENTITY, json!(errors)),
            Self::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!("too many webhooks waiting to be stored; retry later"),
            ),
            Self::BodiesInFlight => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!("too many request bodies in flight; retry later"),
            ),
            Self::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                json!("storage is unavailable; retry later"),
            ),
        };
        let mut response = (status, Json(json!({ "detail": detail }))).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// The `detail` of an error answer that no handler wrote: made by a layer, or by hyper
/// before routing (`server::refusals`).
pub(crate) fn status_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "request body is larger than the limit",
        StatusCode::REQUEST_TIMEOUT => "request took too long",
        StatusCode::URI_TOO_LONG => "the request URI is too long",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "the request headers are too large",
        _ => status.canonical_reason().unwrap_or("error"),
    }
}

/// Gives a JSON `detail` body to error answers made outside our handlers (unknown
/// routes, wrong methods, time-outs, body limits), so every 4xx and 5xx is JSON.
pub async fn json_error_bodies(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let detail = status_detail(status);
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut replaced = (status, Json(json!({ "detail": detail }))).into_response();
    std::mem::swap(replaced.headers_mut(), &mut parts.headers);
    replaced.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    replaced.extensions_mut().extend(parts.extensions);
    replaced
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Overloaded => Self::Overloaded,
            StoreError::Unavailable(reason) => {
                tracing::error!(reason, "storage unavailable");
                Self::StoreUnavailable
            }
        }
    }
}
