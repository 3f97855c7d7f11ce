//! Logging: every line the process writes is one JSON object on stdout, and every
//! request gets exactly one such line (plus its metrics) from `record_request`.

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::metrics::{Metrics, WebhookResult, UNMATCHED_PATH};

/// The request id header: taken from the request when present, else generated, and
/// always echoed on the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Installs the JSON logger at `level` and routes panics through it.
pub fn init(level: LevelFilter) {
    tracing_subscriber::fmt()
        .with_max_level(level)
        .event_format(JsonLines)
        .with_writer(std::io::stdout)
        .init();
    std::panic::set_hook(Box::new(|panic| {
        tracing::error!(panic = %panic, "panic");
    }));
}

/// Formats an event as `{"ts": …, "level": …, "message": …, <fields>}`.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _context: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        let now = humantime::format_rfc3339_micros(SystemTime::now());
        fields.insert("ts".into(), Value::String(now.to_string()));
        fields.insert(
            "level".into(),
            Value::String(event.metadata().level().to_string()),
        );
        fields.insert(
            "target".into(),
            Value::String(event.metadata().target().into()),
        );
        event.record(&mut JsonFields(&mut fields));
        let line = serde_json::to_string(&fields).map_err(|_| fmt::Error)?;
        writeln!(writer, "{line}")
    }
}

struct JsonFields<'a>(&'a mut Map<String, Value>);

impl JsonFields<'_> {
    fn insert(&mut self, field: &Field, value: Value) {
        self.0.insert(field.name().to_owned(), value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.insert(field, serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.insert(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.insert(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.insert(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.insert(field, value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.insert(field, value.to_string().into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.insert(field, format!("{value:?}").into());
    }
}

/// What the `/webhook` handler learned, carried on its response to this middleware.
#[derive(Clone, Debug)]
pub struct WebhookLog {
    pub result: WebhookResult,
    pub message_id: Option<String>,
}

/// Writes the request's log line and counts its metrics, once the response is known.
pub async fn record_request(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED_PATH, |matched| matched.as_str())
        .to_owned();
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();

    let response = next.run(request).await;

    let latency_ms = (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0;
    let status = response.status();
    metrics.observe_request(&route, status.as_u16(), latency_ms);
    let webhook = response.extensions().get::<WebhookLog>();
    if let Some(webhook) = webhook {
        metrics.observe_webhook(webhook.result);
    }
    let level = match webhook.map(|webhook| webhook.result) {
        _ if status.is_server_error() => Level::ERROR,
        Some(WebhookResult::InvalidSignature) => Level::ERROR,
        _ if status.is_client_error() => Level::WARN,
        _ => Level::INFO,
    };
    macro_rules! request_line {
        ($level:ident) => {
            tracing::$level!(
                request_id,
                method = %method,
                path,
                status = status.as_u16(),
                latency_ms,
                result = webhook.map(|webhook| webhook.result.as_str()),
                dup = webhook.map(|webhook| webhook.result == WebhookResult::Duplicate),
                message_id = webhook.and_then(|webhook| webhook.message_id.as_deref()),
                "request"
            )
        };
    }
    match level {
        Level::ERROR => request_line!(error),
        Level::WARN => request_line!(warn),
        _ => request_line!(info),
    }
    response
}
