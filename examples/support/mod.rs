//! Pieces shared by the benchmark programs: one keep-alive HTTP/1 connection.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

pub type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Opens a keep-alive connection to `authority` (`host:port`).
pub async fn connect(authority: &str) -> Option<Connection> {
    let stream = TcpStream::connect(authority).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(connection);
    Some(sender)
}

/// Sends `request` and reads the whole answer: its status and body.
pub async fn send(
    connection: &mut Connection,
    request: Request<Full<Bytes>>,
) -> Result<(u16, Bytes), ()> {
    connection.ready().await.map_err(|_| ())?;
    let response = connection.send_request(request).await.map_err(|_| ())?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|_| ())?
        .to_bytes();
    Ok((status, body))
}

/// `GET path` on `connection`.
pub async fn get(
    connection: &mut Connection,
    authority: &str,
    path: &str,
) -> Result<(u16, Bytes), ()> {
    let request = Request::get(path)
        .header("host", authority)
        .body(Full::new(Bytes::new()))
        .map_err(|_| ())?;
    send(connection, request).await
}

/// The `p`-quantile (0..=1) of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted_us[index]) / 1000.0
}
