//! Requests reqwest will not send (broken framing, bytes that are not UTF-8, paths
//! with `..`), written straight to a socket, and the one response read back.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::corpus::Answer;
use crate::helpers::TestApp;

/// Writes `bytes` on a fresh connection (never half-closing it, which hyper takes
/// as a hang-up) while reading one response.
pub(super) async fn raw_exchange(app: &TestApp, bytes: &[u8]) -> Result<Answer, String> {
    let address = app.address.trim_start_matches("http://");
    let stream = TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let bytes = bytes.to_vec();
    // The server may answer (413) and close before reading everything: a failed
    // write is not the test's concern, the answer is.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&bytes).await;
        writer
    });
    let mut received = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let answer = loop {
        if let Some(answer) = parse_response(&received)? {
            break answer;
        }
        match reader.read(&mut buffer).await {
            Ok(0) => return Err(format!("connection closed after {received:?}")),
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) => return Err(format!("read: {error} after {received:?}")),
        }
    };
    writing.abort();
    Ok(answer)
}

/// One complete HTTP/1.1 response with a `Content-Length`, or `None` if more is needed.
fn parse_response(received: &[u8]) -> Result<Option<Answer>, String> {
    let Some(head_end) = received.windows(4).position(|window| window == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = String::from_utf8_lossy(&received[..head_end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let header = |name: &str| {
        head.split("\r\n").skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    };
    let length: usize = header("content-length")
        .ok_or("the response has no Content-Length")?
        .parse()
        .map_err(|_| "bad Content-Length")?;
    let body = &received[head_end + 4..];
    if body.len() < length {
        return Ok(None);
    }
    Ok(Some(Answer {
        status,
        content_type: header("content-type").unwrap_or_default(),
        request_id: header("x-request-id"),
        body: body[..length].to_vec(),
    }))
}
