//! Logging: every line the process writes is one JSON object on stdout, and every
//! request gets exactly one such line (plus its metrics) from `record_request`.
//!
//! Lines are formatted on the thread that logs them and written to stdout by a thread
//! of their own (`tracing-appender`), which hands the terminal or pipe everything that
//! queued up since its last write in one go: a request does not wait for a write to
//! stdout, and a burst of requests costs one write, not one per line.

use std::fmt;
use std::io::BufWriter;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::metrics::{Metrics, WebhookResult, UNMATCHED_PATH};
use crate::routes::webhook::WEBHOOK_ROUTE;
use crate::signature::SignedWith;

/// The request id header: taken from the request when present, else generated, and
/// always echoed on the response.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The longest incoming request id that is taken as it is.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether an incoming request id is taken as it is: 1 to `MAX_REQUEST_ID_LEN` visible
/// ASCII characters. Any other is replaced by a new one, so what the log says and what
/// the response echoes are always the same short, printable id.
pub fn is_acceptable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len()) && value.iter().all(u8::is_ascii_graphic)
}

/// Removes an incoming request id that `is_acceptable_request_id` refuses, so that the
/// request id layer makes a new one.
pub fn drop_unacceptable_request_id<B>(
    mut request: axum::http::Request<B>,
) -> axum::http::Request<B> {
    let refused = request
        .headers()
        .get_all(REQUEST_ID_HEADER)
        .iter()
        .enumerate()
        .any(|(index, value)| index > 0 || !is_acceptable_request_id(value.as_bytes()));
    if refused {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

/// Lines formatted but not yet written, at most; a thread logging past this waits
/// (lines are never dropped). About 5 MB of typical request lines.
const QUEUED_LINES: usize = 16_384;

/// Bytes gathered into one write to stdout, at most.
const WRITE_BUFFER_BYTES: usize = 64 * 1024;

/// Installs the JSON logger at `level` and routes panics through it. Lines still
/// queued are written when the returned guard is dropped: keep it until the process
/// ends.
#[must_use = "queued log lines are written only while the guard lives"]
pub fn init(level: LevelFilter) -> WorkerGuard {
    let (stdout, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("webhook-log")
        .finish(BufWriter::with_capacity(
            WRITE_BUFFER_BYTES,
            std::io::stdout(),
        ));
    tracing_subscriber::fmt()
        .with_max_level(level)
        .event_format(JsonLines)
        .with_writer(stdout)
        .init();
    std::panic::set_hook(Box::new(|panic| {
        tracing::error!(panic = %panic, "panic");
    }));
    guard
}

/// Formats an event as `{"ts": …, "level": …, "target": …, <fields>}`, its fields in
/// the order the event names them.
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
        let metadata = event.metadata();
        let mut line = JsonObject(Vec::with_capacity(384));
        line.field(
            "ts",
            &humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
        );
        line.field("level", metadata.level().as_str());
        line.field("target", metadata.target());
        event.record(&mut line);
        line.0.extend_from_slice(b"}\n");
        let line = std::str::from_utf8(&line.0).map_err(|_| fmt::Error)?;
        writer.write_str(line)
    }
}

/// One JSON object being written: `{` and then `"name":value` pairs.
struct JsonObject(Vec<u8>);

impl JsonObject {
    fn field(&mut self, name: &str, value: &(impl Serialize + ?Sized)) {
        self.0.push(if self.0.is_empty() { b'{' } else { b',' });
        // Writing JSON into a Vec cannot fail; a value that cannot be JSON is null.
        if serde_json::to_writer(&mut self.0, name).is_ok() {
            self.0.push(b':');
            let mark = self.0.len();
            if serde_json::to_writer(&mut self.0, value).is_err() {
                self.0.truncate(mark);
                self.0.extend_from_slice(b"null");
            }
        }
    }
}

impl Visit for JsonObject {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.field(field.name(), &value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field.name(), &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field.name(), &value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field.name(), &value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field.name(), value);
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field.name(), &value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field.name(), &format!("{value:?}"));
    }
}

/// A request whose future is dropped before its answer (its client went away, or a
/// second signal stopped the server) writes its line and is counted when this is
/// dropped with it.
struct Unanswered<'a> {
    metrics: &'a Metrics,
    route: &'a str,
    request_id: &'a str,
    method: &'a Method,
    path: &'a str,
    started: Instant,
    webhook: Option<&'a WebhookLog>,
    answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        self.metrics.observe_abandoned(self.route);
        let webhook = self.webhook.map(WebhookLog::facts);
        tracing::warn!(
            request_id = self.request_id,
            method = %self.method,
            path = self.path,
            latency_ms = milliseconds_since(self.started),
            message_id = webhook.as_ref().and_then(|webhook| webhook.message_id.as_deref()),
            secret = webhook
                .as_ref()
                .and_then(|webhook| webhook.signed_with.map(SignedWith::as_str)),
            "request abandoned before its answer"
        );
    }
}

/// Milliseconds since `started`, to the microsecond.
fn milliseconds_since(started: Instant) -> f64 {
    (started.elapsed().as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0
}

/// What the `/webhook` handler has learned so far, shared with `record_request` while it
/// runs: a webhook cut short by the time-out is still logged with its `message_id` and
/// the secret that signed it.
#[derive(Clone, Debug, Default)]
pub struct WebhookLog(Arc<Mutex<WebhookFacts>>);

#[derive(Clone, Debug, Default)]
pub struct WebhookFacts {
    /// Set when the handler answers.
    pub result: Option<WebhookResult>,
    pub message_id: Option<String>,
    /// Which secret signed it, once a signature matched.
    pub signed_with: Option<SignedWith>,
}

impl WebhookLog {
    pub fn update(&self, change: impl FnOnce(&mut WebhookFacts)) {
        change(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    fn facts(&self) -> WebhookFacts {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
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
    let mut request = request;
    let webhook = (route == WEBHOOK_ROUTE).then(WebhookLog::default);
    if let Some(webhook) = &webhook {
        request.extensions_mut().insert(webhook.clone());
    }

    let mut unanswered = Unanswered {
        metrics: &metrics,
        route: &route,
        request_id: &request_id,
        method: &method,
        path: &path,
        started,
        webhook: webhook.as_ref(),
        answered: false,
    };
    let response = next.run(request).await;
    unanswered.answered = true;

    let latency_ms = milliseconds_since(started);
    let status = response.status();
    metrics.observe_request(&route, status.as_u16(), latency_ms);
    let webhook = webhook.as_ref().map(WebhookLog::facts);
    let webhook = webhook.as_ref();
    // A webhook cut short by the time-out never reached the end of its handler.
    let result = webhook.and_then(|webhook| {
        webhook
            .result
            .or_else(|| (status == StatusCode::REQUEST_TIMEOUT).then_some(WebhookResult::TimedOut))
    });
    if let Some(result) = result {
        metrics.observe_webhook(result, webhook.and_then(|webhook| webhook.signed_with));
    }
    let level = match result {
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
                result = result.map(WebhookResult::as_str),
                // Unknown for a webhook cut short: it may be stored.
                dup = webhook
                    .and_then(|webhook| webhook.result)
                    .map(|result| result == WebhookResult::Duplicate),
                message_id = webhook.and_then(|webhook| webhook.message_id.as_deref()),
                secret = webhook.and_then(|webhook| webhook.signed_with.map(SignedWith::as_str)),
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
