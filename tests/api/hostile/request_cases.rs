//! Hostile requests to every route: framing, methods, paths and query strings.

use super::corpus::{concat, get, method, raw, valid, Case, Expect, Target};
use crate::helpers::sign;

pub(super) fn framing() -> Vec<Case> {
    vec![
        raw(
            "chunk size that is not hex",
            Target::Default,
            "POST /webhook HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
             zz\r\nabc\r\n0\r\n\r\n",
            Expect::Status(400),
        ),
        raw(
            "chunk size overflowing 64 bits",
            Target::Default,
            "POST /webhook HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n\
             ffffffffffffffffff\r\naaaa",
            Expect::Status(400),
        ),
        raw(
            "Content-Length and Transfer-Encoding together",
            Target::Default,
            "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\
             Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Expect::ClientError,
        ),
        raw(
            "body shorter than Content-Length, then silence",
            Target::Small,
            "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n{}",
            Expect::Status(408),
        ),
    ]
}

pub(super) fn routing() -> Vec<Case> {
    let mut cases: Vec<Case> = [
        ("DELETE", "/webhook"),
        ("PUT", "/webhook"),
        ("PATCH", "/webhook"),
        ("GET", "/webhook"),
        ("TRACE", "/webhook"),
        ("BREW", "/messages"),
        ("POST", "/messages"),
        ("DELETE", "/messages"),
        ("POST", "/stats"),
        ("POST", "/health/live"),
        ("PUT", "/metrics"),
    ]
    .into_iter()
    .map(|(verb, path)| method(verb, path))
    .collect();
    let dot_dot = concat(&[
        b"POST /webhook/../stats HTTP/1.1\r\nHost: localhost\r\nContent-Length: ",
        valid("dot-dot").len().to_string().as_bytes(),
        b"\r\nConnection: close\r\n\r\n",
        &valid("dot-dot"),
    ]);
    cases.extend([
        raw(
            "POST /webhook/../stats",
            Target::Default,
            dot_dot,
            Expect::Status(404),
        ),
        raw(
            "GET /stats/../messages",
            Target::Default,
            "GET /stats/../messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            Expect::Status(404),
        ),
        raw(
            "POST //webhook",
            Target::Default,
            "POST //webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\
             Connection: close\r\n\r\n{}",
            Expect::Status(404),
        ),
        raw(
            "CONNECT to another host",
            Target::Default,
            "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nConnection: close\r\n\r\n",
            Expect::ClientError,
        ),
        raw(
            "OPTIONS *",
            Target::Default,
            "OPTIONS * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            Expect::ClientError,
        ),
        get(
            "percent-encoded ../ in the path",
            "/webhook%2F..%2Fstats",
            Expect::Status(404),
        ),
        get("trailing slash", "/webhook/", Expect::Status(404)),
        get("upper-case path", "/WEBHOOK", Expect::Status(404)),
        get("NUL in the path", "/stats%00", Expect::Status(404)),
        get(
            "10,000-character path",
            format!("/{}", "a".repeat(10_000)),
            Expect::Status(404),
        ),
        get(
            "12,000-character URL with limit=1e9",
            format!("/messages?pad={}&limit=1e9", "p".repeat(12_000)),
            Expect::Status(422),
        ),
        get(
            "60,000-character URL",
            format!("/messages?pad={}", "p".repeat(60_000)),
            Expect::Status(431),
        ),
    ]);
    cases
}

pub(super) fn query_parameters() -> Vec<Case> {
    let refused = [
        ("limit=1e9", "limit=1e9"),
        ("limit=1000000000", "limit=1000000000"),
        ("limit=0", "limit=0"),
        ("limit=-1", "limit=-1"),
        ("limit=101", "limit=101"),
        ("limit of 40 nines", &*format!("limit={}", "9".repeat(40))),
        ("limit=NUL", "limit=%00"),
        ("limit=10 NUL", "limit=10%00"),
        ("limit=0x10", "limit=0x10"),
        ("limit=invalid UTF-8", "limit=%FF"),
        ("offset=-1", "offset=-1"),
        ("offset=1e9", "offset=1e9"),
        ("offset=2^63", "offset=9223372036854775808"),
        ("offset=NaN", "offset=NaN"),
        ("repeated limit", "limit=1&limit=2"),
        ("repeated offset", "offset=0&offset=0"),
        ("repeated q", "q=a&q=b"),
        ("repeated from", "from=%2B1&from=%2B2"),
        ("repeated since", "since=x&since=y"),
        ("repeated limit, encoded name", "limit=1&%6Cimit=2"),
        ("since=' OR 1=1 --", "since=%27%20OR%201%3D1%20--"),
        ("since=%", "since=%25"),
        ("since=_", "since=_"),
        (
            "since=;DROP TABLE messages",
            "since=%3BDROP%20TABLE%20messages",
        ),
        (
            "since=valid then ' OR '1'='1",
            "since=2025-01-15T10:00:00Z%27%20OR%20%271%27%3D%271",
        ),
        (
            "since of 10,000 characters",
            &*format!("since={}", "9".repeat(10_000)),
        ),
        ("q=invalid UTF-8", "q=%FF"),
        ("q=overlong UTF-8 /", "q=%C0%AF"),
        ("from=UTF-8 surrogate", "from=%ED%A0%80"),
        ("since=invalid UTF-8", "since=%FF"),
        (
            "10,000-character q ending in invalid UTF-8",
            &*format!("q={}%FF", "a".repeat(10_000)),
        ),
    ];
    refused
        .into_iter()
        .map(|(name, query)| get(name, format!("/messages?{query}"), Expect::Status(422)))
        .collect()
}

/// What the seeded messages make of hostile but well-formed filters: literal text.
pub(super) fn literal_filters() -> Vec<Case> {
    let long_q = "a".repeat(10_000);
    let quotes = "%22".repeat(4_000);
    let pages = [
        ("q=' OR 1=1 --", "q=%27%20OR%201%3D1%20--".to_owned(), 0),
        ("q=%", "q=%25".to_owned(), 1),
        ("q=_", "q=_".to_owned(), 1),
        (
            "q=;DROP TABLE messages",
            "q=%3BDROP%20TABLE%20messages".to_owned(),
            0,
        ),
        ("q=\"", "q=%22".to_owned(), 1),
        ("q=*", "q=*".to_owned(), 1),
        ("q=\"HI\" or not*", "q=%22HI%22%20or%20not*".to_owned(), 1),
        ("q=NEAR(", "q=NEAR(".to_owned(), 0),
        ("q=hi OR off", "q=hi%20OR%20off".to_owned(), 0),
        ("q of 10,000 characters", format!("q={long_q}"), 0),
        ("q of 4,000 quotes", format!("q={quotes}"), 0),
        (
            "from=' OR 1=1 --",
            "from=%27%20OR%201%3D1%20--".to_owned(),
            0,
        ),
        ("from=%", "from=%25".to_owned(), 0),
        ("from=_", "from=_".to_owned(), 0),
        ("from=+111%", "from=%2B111%25".to_owned(), 0),
        (
            "from=+111' OR '1'='1",
            "from=%2B111%27%20OR%20%271%27%3D%271".to_owned(),
            0,
        ),
        ("from=+111 (sanity)", "from=%2B111".to_owned(), 2),
        ("offset=2^63-1", "offset=9223372036854775807".to_owned(), 3),
        ("limit=100 (sanity)", "limit=100".to_owned(), 3),
    ];
    pages
        .into_iter()
        .map(|(name, query, total)| get(name, format!("/messages?{query}"), Expect::Page(total)))
        .collect()
}

/// Requests that break HTTP/1.1 itself, refused by hyper before any route sees them.
pub(super) fn broken_http() -> Vec<Case> {
    let header_500k = format!(
        "POST /webhook HTTP/1.1\r\nHost: localhost\r\nX-Signature: {}\r\n\
         Content-Length: 2\r\n\r\n{{}}",
        "a".repeat(500_000)
    );
    let many_headers = format!(
        "GET /stats HTTP/1.1\r\nHost: localhost\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    let long_uri = format!(
        "GET /messages?q={} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(70_000)
    );
    let signed_body = valid("smuggled");
    let two_lengths = concat(&[
        b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: ",
        signed_body.len().to_string().as_bytes(),
        b"\r\nX-Signature: ",
        sign(&signed_body).as_bytes(),
        b"\r\n\r\n",
        &signed_body,
    ]);
    [
        ("invalid UTF-8 in the query", b"GET /messages?q=\xff HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("invalid UTF-8 in the path", b"GET /\xff\xfe HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("NUL in the request line", b"GET /stats\0 HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()),
        ("NUL in a header value", b"GET /stats HTTP/1.1\r\nHost: localhost\r\nX-A: a\0b\r\n\r\n".to_vec()),
        ("not HTTP at all", b"HELLO\r\n\r\n".to_vec()),
        ("HTTP/2.0 request line", b"GET /stats HTTP/2.0\r\nHost: localhost\r\n\r\n".to_vec()),
        ("space in a header name", b"GET /stats HTTP/1.1\r\nHost: localhost\r\nX A: b\r\n\r\n".to_vec()),
        ("folded header line", b"GET /stats HTTP/1.1\r\nHost: localhost\r\nX-A: a\r\n b\r\n\r\n".to_vec()),
        ("Content-Length: abc", b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n".to_vec()),
        ("Content-Length: -1", b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n".to_vec()),
        ("Content-Length: 2^64", b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 18446744073709551616\r\n\r\n".to_vec()),
        ("two different Content-Lengths around a signed body", two_lengths),
        ("Transfer-Encoding: gzip", b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nabc".to_vec()),
        ("500 KB X-Signature", header_500k.into_bytes()),
        ("200 headers", many_headers.into_bytes()),
        ("70,000-character URL", long_uri.into_bytes()),
    ]
    .into_iter()
    .map(|(name, bytes)| raw(name, Target::Default, bytes, Expect::ClientError))
    .collect()
}
