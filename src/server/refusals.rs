//! hyper refuses a request it cannot parse (a broken request line or header, a head
//! over its limits, a bad `Content-Length`) before any of the service's code runs, and
//! its refusal has an empty body: `HTTP/1.1 400 Bad Request`, `connection: close`,
//! `content-length: 0`. Every other 4xx of the service is JSON with a `detail` and an
//! `X-Request-ID`, and is logged and counted. This wrapper around a connection rewrites
//! exactly hyper's refusal into that shape as it is written, with a new request id,
//! and reports it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use axum::http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::routes::error::status_detail;

/// Told of each refusal rewritten, with its status and request id.
pub type OnRefusal = Arc<dyn Fn(StatusCode, &str) + Send + Sync>;

/// A connection whose refusals by hyper are rewritten into JSON.
///
/// It does not write vectored, so hyper hands it each response whole (head and body in
/// one buffer) rather than in pieces.
pub(super) struct JsonRefusals<S> {
    inner: S,
    /// The rewritten refusal, and how much of it is written.
    pending: Vec<u8>,
    written: usize,
    on_refusal: OnRefusal,
}

impl<S> JsonRefusals<S> {
    pub(super) fn new(inner: S, on_refusal: OnRefusal) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
            on_refusal,
        }
    }
}

impl<S: AsyncWrite + Unpin> JsonRefusals<S> {
    /// Writes what is left of a rewritten refusal.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let rest = &self.pending[self.written..];
            let written = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += written;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonRefusals<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonRefusals<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        let Some(status) = hyper_refusal(buf) else {
            return Pin::new(&mut this.inner).poll_write(cx, buf);
        };
        // No request was read, so no id came with one: a new one, as for any other.
        let request_id = uuid::Uuid::new_v4().to_string();
        (this.on_refusal)(status, &request_id);
        this.pending = json_refusal(status, &request_id);
        // hyper's refusal counts as written; ours goes out now or, if the socket is
        // full, on the flush that hyper makes next.
        if let Poll::Ready(Err(error)) = this.poll_pending(cx) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// The status of `response` if it is hyper's own refusal: a 4xx whose only headers are
/// `connection: close`, `content-length: 0` and `date`, in that order, and no body.
/// The service's responses always start their headers with `content-type`.
fn hyper_refusal(response: &[u8]) -> Option<StatusCode> {
    // About 100 bytes: every other response is passed on after these two tests.
    if response.len() > 256 || !response.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let response = std::str::from_utf8(response).ok()?;
    let (status_line, headers) = response.strip_prefix("HTTP/1.1 ")?.split_once("\r\n")?;
    let status = StatusCode::from_u16(status_line.get(..3)?.parse().ok()?).ok()?;
    let mut headers = headers.strip_suffix("\r\n\r\n")?.split("\r\n");
    let hyper_headers = headers.next() == Some("connection: close")
        && headers.next() == Some("content-length: 0")
        && headers
            .next()
            .is_some_and(|date| date.starts_with("date: "))
        && headers.next().is_none();
    (status.is_client_error() && hyper_headers).then_some(status)
}

/// The refusal in the service's shape: a JSON `detail`, the request id, and the
/// connection closed.
fn json_refusal(status: StatusCode, request_id: &str) -> Vec<u8> {
    let detail = match status {
        // hyper's 400 means the request could not be parsed at all.
        StatusCode::BAD_REQUEST => "the request is not valid HTTP/1.1",
        _ => status_detail(status),
    };
    let body = serde_json::json!({ "detail": detail }).to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {request_id}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hyper_s_own_refusal_is_recognised() {
        let date = "date: Mon, 30 Nov 2026 09:53:57 GMT";
        let refusal = |status: &str| {
            format!("HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\n\r\n")
        };
        assert_eq!(
            hyper_refusal(refusal("400 Bad Request").as_bytes()),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            hyper_refusal(refusal("431 Request Header Fields Too Large").as_bytes()),
            Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
        );
        // Not a client error: left alone.
        assert_eq!(
            hyper_refusal(refusal("500 Internal Server Error").as_bytes()),
            None
        );
        // The service's own responses: JSON, content-type first.
        let own = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\n\
             content-length: 30\r\n{date}\r\n\r\n{{\"detail\":\"invalid signature\"}}"
        );
        assert_eq!(hyper_refusal(own.as_bytes()), None);
        // A body after the head, or a header more: not hyper's refusal.
        assert_eq!(
            hyper_refusal(format!("{}x", refusal("400 Bad Request")).as_bytes()),
            None
        );
        let more = format!(
            "HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n{date}\r\nx: y\r\n\r\n"
        );
        assert_eq!(hyper_refusal(more.as_bytes()), None);
    }

    #[test]
    fn the_refusal_is_rewritten_as_json_with_its_status() {
        let rewritten = String::from_utf8(json_refusal(StatusCode::URI_TOO_LONG, "an-id")).unwrap();
        let (head, body) = rewritten.split_once("\r\n\r\n").unwrap();
        assert_eq!(
            head,
            format!(
                "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nx-request-id: an-id\r\nconnection: close",
                body.len()
            )
        );
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["detail"], "the request URI is too long");
    }
}
