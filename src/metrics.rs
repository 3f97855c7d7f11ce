//! The Prometheus registry and every metric the service exports. The names here are
//! the ones listed in docs/api.md; change both together.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::signature::SignedWith;

/// The label value of `path` for requests that matched no route, so that a scan of
/// random URLs adds no time series.
pub const UNMATCHED_PATH: &str = "unmatched";

/// Upper bounds of the latency buckets, in milliseconds.
const LATENCY_BUCKETS_MS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// How a `/webhook` request ended: the `result` label and log field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookResult {
    Created,
    Duplicate,
    InvalidSignature,
    StaleTimestamp,
    ValidationError,
    PayloadTooLarge,
    UnreadableBody,
    Overloaded,
    StoreUnavailable,
    /// Answered 408 after `REQUEST_TIMEOUT_SECS`: a body sent too slowly, or a commit
    /// that hangs.
    TimedOut,
}

impl WebhookResult {
    pub const ALL: [Self; 10] = [
        Self::Created,
        Self::Duplicate,
        Self::InvalidSignature,
        Self::StaleTimestamp,
        Self::ValidationError,
        Self::PayloadTooLarge,
        Self::UnreadableBody,
        Self::Overloaded,
        Self::StoreUnavailable,
        Self::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Duplicate => "duplicate",
            Self::InvalidSignature => "invalid_signature",
            Self::StaleTimestamp => "stale_timestamp",
            Self::ValidationError => "validation_error",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnreadableBody => "unreadable_body",
            Self::Overloaded => "overloaded",
            Self::StoreUnavailable => "store_unavailable",
            Self::TimedOut => "timed_out",
        }
    }
}

/// Every metric of the process, in its own registry.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    /// Requests whose client went away (or that a stop cut short) before their answer.
    abandoned_requests: IntCounterVec,
    webhook_requests: IntCounterVec,
    /// Webhooks signed with a secret of `WEBHOOK_PREVIOUS_SECRETS`.
    previous_secret: IntCounter,
    request_latency_ms: Histogram,
    /// Bytes of webhook bodies reserved against `BODY_BUDGET_BYTES` right now.
    pub body_bytes_in_flight: IntGauge,
    /// Messages waiting for the writer, set at each scrape.
    queue_depth: IntGauge,
    pub writer: WriterMetrics,
}

/// The group-commit writer's metrics.
#[derive(Clone)]
pub struct WriterMetrics {
    pub batch_size: Histogram,
    pub commit_latency_ms: Histogram,
    /// SQLite's `fdatasync` of the WAL that makes committed batches durable.
    pub wal_sync_latency_ms: Histogram,
    /// Messages deleted by the retention sweep since the start.
    pub retention_deleted: IntCounter,
}

impl WriterMetrics {
    pub fn observe_commit(&self, batch_size: usize, took: Duration) {
        self.batch_size.observe(batch_size as f64);
        self.commit_latency_ms.observe(took.as_secs_f64() * 1000.0);
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by route template and status.",
            ),
            &["path", "status"],
        )
        .expect("valid metric");
        let abandoned_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_abandoned_total",
                "HTTP requests given up before their answer (the client went away, or a \
                 stop cut them short), by route template.",
            ),
            &["path"],
        )
        .expect("valid metric");
        let webhook_requests = IntCounterVec::new(
            Opts::new(
                "webhook_requests_total",
                "POST /webhook requests by outcome.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let request_latency_ms = Histogram::with_opts(
            HistogramOpts::new(
                "request_latency_ms",
                "Time to answer a request, in milliseconds.",
            )
            .buckets(LATENCY_BUCKETS_MS.to_vec()),
        )
        .expect("valid metric");
        let body_bytes_in_flight = IntGauge::new(
            "webhook_body_bytes_in_flight",
            "Bytes of webhook bodies being read or held, out of BODY_BUDGET_BYTES.",
        )
        .expect("valid metric");
        let queue_depth = IntGauge::new(
            "webhook_write_queue_depth",
            "Messages waiting for the writer, read when scraped.",
        )
        .expect("valid metric");
        let writer = WriterMetrics {
            batch_size: Histogram::with_opts(
                HistogramOpts::new(
                    "webhook_write_batch_size",
                    "Messages committed per write transaction.",
                )
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 11).expect("valid buckets")),
            )
            .expect("valid metric"),
            commit_latency_ms: Histogram::with_opts(
                HistogramOpts::new(
                    "webhook_write_commit_latency_ms",
                    "Time to insert and commit one batch, in milliseconds.",
                )
                .buckets(LATENCY_BUCKETS_MS.to_vec()),
            )
            .expect("valid metric"),
            wal_sync_latency_ms: Histogram::with_opts(
                HistogramOpts::new(
                    "webhook_write_wal_sync_latency_ms",
                    "Time to sync SQLite's WAL before answering the batches it holds, \
                     in milliseconds.",
                )
                .buckets(LATENCY_BUCKETS_MS.to_vec()),
            )
            .expect("valid metric"),
            retention_deleted: IntCounter::new(
                "webhook_retention_deleted_total",
                "Messages deleted because they were stored longer ago than RETENTION.",
            )
            .expect("valid metric"),
        };
        let previous_secret = IntCounter::new(
            "webhook_previous_secret_total",
            "Webhooks whose signature matched a secret of WEBHOOK_PREVIOUS_SECRETS: once it \
             stops growing, senders sign with WEBHOOK_SECRET alone.",
        )
        .expect("valid metric");
        for collector in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(abandoned_requests.clone()),
            Box::new(webhook_requests.clone()),
            Box::new(previous_secret.clone()),
            Box::new(request_latency_ms.clone()),
            Box::new(body_bytes_in_flight.clone()),
            Box::new(writer.batch_size.clone()),
            Box::new(writer.commit_latency_ms.clone()),
            Box::new(queue_depth.clone()),
            Box::new(writer.wal_sync_latency_ms.clone()),
            Box::new(writer.retention_deleted.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        for result in WebhookResult::ALL {
            webhook_requests.with_label_values(&[result.as_str()]);
        }
        Self {
            registry,
            http_requests,
            abandoned_requests,
            webhook_requests,
            previous_secret,
            request_latency_ms,
            body_bytes_in_flight,
            queue_depth,
            writer,
        }
    }

    /// Counts one answered request.
    pub fn observe_request(&self, path: &str, status: u16, latency_ms: f64) {
        self.http_requests
            .with_label_values(&[path, &status.to_string()])
            .inc();
        self.request_latency_ms.observe(latency_ms);
    }

    /// Counts one request given up before its answer.
    pub fn observe_abandoned(&self, path: &str) {
        self.abandoned_requests.with_label_values(&[path]).inc();
    }

    /// Counts one request refused before routing (hyper could not parse it).
    pub fn observe_refusal(&self, status: u16) {
        self.http_requests
            .with_label_values(&[UNMATCHED_PATH, &status.to_string()])
            .inc();
    }

    /// Counts one `/webhook` outcome, and whether a previous secret signed it.
    pub fn observe_webhook(&self, result: WebhookResult, signed_with: Option<SignedWith>) {
        self.webhook_requests
            .with_label_values(&[result.as_str()])
            .inc();
        if signed_with == Some(SignedWith::Previous) {
            self.previous_secret.inc();
        }
    }

    /// The text exposition format and its content type, with `queue_depth` messages
    /// waiting for the writer now.
    pub fn render(&self, queue_depth: usize) -> (String, String) {
        self.queue_depth.set(queue_depth as i64);
        let encoder = TextEncoder::new();
        let mut buffer = Vec::new();
        encoder
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to memory cannot fail");
        (
            String::from_utf8(buffer).expect("the text format is UTF-8"),
            encoder.format_type().to_owned(),
        )
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
