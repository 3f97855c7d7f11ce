//! The application: shared state, the router with its middleware, and serving with
//! graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderName, StatusCode};
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::routes::error::json_error_bodies;
use crate::routes::webhook::BodyBudget;
use crate::routes::ReadAccess;
use crate::server::{ConnectionLimits, OnRefusal};
use crate::signature::Verifier;
use crate::store::{Store, StoreOptions};
use crate::telemetry::{drop_unacceptable_request_id, record_request, REQUEST_ID_HEADER};

/// What every handler may use. The router holds it in one `Arc`, so each request's copy
/// costs one reference count rather than one for each shared field.
pub struct AppState {
    /// Every accepted signing key of both schemes.
    pub verifier: Verifier,
    /// Who may read `/messages` and `/stats`.
    pub read_access: ReadAccess,
    /// Webhook bodies larger than this many bytes are answered 413.
    pub max_body_bytes: usize,
    /// The bytes of webhook bodies in memory at once, across all connections.
    pub body_budget: BodyBudget,
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

/// The router with the full middleware stack, outermost first: request id, the log
/// line and metrics, JSON error bodies, panic guard, time-out. The body limit is
/// applied by `/webhook` itself, the one route that reads a body, so that its log
/// line and metrics tell a 413 like any other outcome.
pub fn router(state: AppState, config: &Config) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let middleware = ServiceBuilder::new()
        .map_request(drop_unacceptable_request_id)
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            record_request,
        ))
        .layer(middleware::from_fn(json_error_bodies))
        .layer(CatchPanicLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ));
    crate::routes::router()
        .layer(middleware)
        .with_state(Arc::new(state))
}

/// A bound, ready-to-serve instance of the service.
pub struct Application {
    listener: TcpListener,
    router: Router,
    store: Store,
    metrics: Arc<Metrics>,
    limits: ConnectionLimits,
}

impl Application {
    /// Opens the store (applying migrations) and binds the listener.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        crate::server::raise_open_files_limit(config.max_connections);
        // Before the database is opened: a HOST that names no address stops startup
        // with nothing created.
        let addresses: Vec<SocketAddr> =
            tokio::net::lookup_host((config.host.as_str(), config.port))
                .await
                .map_err(|error| anyhow::anyhow!("HOST {} names no address: {error}", config.host))?
                .collect();
        let metrics = Arc::new(Metrics::new());
        let store = Store::open(
            &StoreOptions {
                location: config.database.clone(),
                synchronous: config.sqlite_synchronous,
                retention: config.retention,
                read_connections: config.read_connections,
                read_timeout: Some(config.request_timeout),
                write_queue_capacity: config.write_queue_capacity,
                write_batch_max: config.write_batch_max,
            },
            metrics.writer.clone(),
        )
        .await
        .map_err(|error| anyhow::anyhow!("could not open the database: {error}"))?;
        let listener = TcpListener::bind(&addresses[..]).await.map_err(|error| {
            anyhow::anyhow!(
                "could not listen on {}:{}: {error}",
                config.host,
                config.port
            )
        })?;
        let state = AppState {
            verifier: Verifier::from_config(config),
            read_access: ReadAccess::new(&config.api_tokens),
            max_body_bytes: config.max_body_bytes,
            body_budget: BodyBudget::new(
                config.body_budget_bytes,
                metrics.body_bytes_in_flight.clone(),
            ),
            store: store.clone(),
            metrics: metrics.clone(),
        };
        Ok(Self {
            listener,
            router: router(state, config),
            store,
            metrics,
            limits: ConnectionLimits {
                max_connections: config.max_connections,
                header_read_timeout: config.header_read_timeout,
                shutdown_grace: config.shutdown_grace,
            },
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, lets in-flight requests finish, then commits
    /// whatever is queued and closes the database.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let metrics = self.metrics;
        let on_refusal: OnRefusal = Arc::new(move |status: StatusCode, request_id: &str| {
            // As the request line of every other 4xx, without what hyper could not read.
            tracing::warn!(
                request_id,
                status = status.as_u16(),
                "request refused: not valid HTTP/1.1"
            );
            metrics.observe_refusal(status.as_u16());
        });
        crate::server::serve(
            self.listener,
            self.router,
            self.limits,
            on_refusal,
            shutdown,
        )
        .await;
        self.store.close().await;
    }
}

/// SIGTERM and Ctrl-C, counted as they arrive: the first asks for a graceful stop, a
/// second for a stop at once, without waiting out `SHUTDOWN_GRACE_SECS`.
#[derive(Clone)]
pub struct StopSignals(watch::Receiver<u32>);

impl StopSignals {
    /// Listens from now on (the signals are caught once this returns), in a task of
    /// its own. Call it from within the runtime.
    pub fn listen() -> Self {
        let (count, receiver) = watch::channel(0);
        // Each stream, made once, keeps every signal that arrives until it is read.
        let mut interrupt = signal(SignalKind::interrupt()).ok();
        let mut terminate = signal(SignalKind::terminate()).ok();
        tokio::spawn(async move {
            loop {
                let name = tokio::select! {
                    () = next_signal(&mut interrupt) => "SIGINT",
                    () = next_signal(&mut terminate) => "SIGTERM",
                };
                count.send_modify(|count| *count += 1);
                match *count.borrow() {
                    1 => tracing::info!(signal = name, "shutting down"),
                    _ => tracing::warn!(signal = name, "a second signal: stopping at once"),
                }
            }
        });
        Self(receiver)
    }

    /// Resolves once `count` signals have arrived.
    pub async fn received(mut self, count: u32) {
        // The sender lives as long as the process.
        let _ = self.0.wait_for(|received| *received >= count).await;
    }
}

/// Resolves on the next signal of `stream`; never without one.
async fn next_signal(stream: &mut Option<Signal>) {
    match stream {
        Some(stream) => {
            stream.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::StopSignals;

    /// A signal sent the moment `listen` returns is caught and counted. Were it not,
    /// SIGTERM's default would end this test process.
    #[tokio::test]
    async fn a_stop_signal_sent_as_soon_as_listen_returns_is_caught() {
        let signals = StopSignals::listen();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success());
        tokio::time::timeout(Duration::from_secs(10), signals.received(1))
            .await
            .expect("the signal is counted");
    }
}
