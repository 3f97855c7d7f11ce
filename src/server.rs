//! Accepting connections: HTTP/1.1 with a time limit on reading request headers, a
//! cap on open connections, and graceful shutdown. `axum::serve` has neither limit,
//! so one slow or greedy client could hold the server's resources forever. Requests
//! that hyper cannot parse are refused in JSON like every other 4xx (`refusals`).

mod refusals;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use refusals::JsonRefusals;
pub use refusals::OnRefusal;

/// The largest request head (request line and headers) read, and so the most a
/// connection buffers; a longer head is answered 431. Real clients send well under
/// 8 KiB, and a per-connection ceiling keeps many connections cheap.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// How long to pause accepting after the process ran out of file descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Limits that keep slow and greedy clients from starving the others.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Open connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// A client that has not sent a whole request head by then is disconnected.
    pub header_read_timeout: Duration,
    /// After shutdown starts, in-flight requests get this long to finish.
    pub shutdown_grace: Duration,
}

/// File descriptors kept for everything but client connections: the database, its
/// WAL, the listener, logs.
const RESERVED_FILES: u64 = 64;

/// Raises the soft limit on open files so that `max_connections` fit (many systems
/// start a process at 1,024); says so when the hard limit is lower.
pub fn raise_open_files_limit(max_connections: usize) {
    let wanted = max_connections as u64 + RESERVED_FILES;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(limit) if limit < wanted => tracing::warn!(
            open_files = limit,
            max_connections,
            "the open files limit is below MAX_CONNECTIONS; connections beyond it wait"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(error = %error, "could not raise the open files limit"),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting,
/// closes idle connections, and waits for in-flight requests to finish. `on_refusal`
/// is told of each request refused before it reached `router`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    on_refusal: OnRefusal,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(MAX_HEAD_BYTES);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors or a connection reset before accept: wait
                    // a moment instead of spinning.
                    tracing::warn!(error = %error, "could not accept a connection");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let stream = JsonRefusals::new(stream, on_refusal.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // Errors here are clients going away or breaking HTTP; the request's own
            // log line already said what happened to any request that arrived.
            let _ = connection.await;
            drop(permit);
        });
    }
    // New connections are refused from here on.
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests did not finish within the shutdown grace period");
    }
}
