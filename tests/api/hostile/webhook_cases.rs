//! Hostile `POST /webhook` requests: bodies, headers and sizes.

use serde_json::json;

use super::corpus::{
    case, concat, raw, signed, signed_expecting, unsigned, valid, with_duplicate_field, with_field,
    with_raw_field, Build, Case, Expect, Request, Target, DEFAULT_LIMIT, SMALL_LIMIT,
};
use crate::helpers::sign;

pub(super) fn webhook_bodies() -> Vec<Case> {
    // As deep as the default body limit allows: serde_json gives up at 128 levels.
    let deep_open = "[".repeat(60_000).into_bytes();
    let deep_closed = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let utf16: Vec<u8> = String::from_utf8(valid("utf16"))
        .expect("utf-8")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let mut cases = vec![
        signed("signed empty body", Vec::new(), Some("application/json")),
        signed(
            "signed JSON null",
            b"null".to_vec(),
            Some("application/json"),
        ),
        signed(
            "signed array holding a valid message",
            concat(&[b"[", &valid("in-array"), b"]"]),
            Some("application/json"),
        ),
        signed(
            "signed two messages back to back",
            concat(&[&valid("first-of-two"), &valid("second-of-two")]),
            Some("application/json"),
        ),
        signed(
            "signed valid message then a NUL byte",
            concat(&[&valid("trailing-nul"), b"\0"]),
            Some("application/json"),
        ),
        signed(
            "signed NUL bytes only",
            vec![0; 64],
            Some("application/json"),
        ),
        signed(
            "signed invalid UTF-8",
            b"\xff\xfe\xfd".to_vec(),
            Some("application/json"),
        ),
        signed(
            "signed invalid UTF-8 inside message_id",
            with_raw_field("x", "message_id", b"\"bad-\xc3\x28\""),
            Some("application/json"),
        ),
        signed(
            "signed raw NUL inside a string",
            with_raw_field("x", "message_id", b"\"nul-\0-raw\""),
            Some("application/json"),
        ),
        signed(
            "signed escaped NUL inside from",
            with_field("nul-from", "from", json!("+91\u{0}9876")),
            Some("application/json"),
        ),
        signed(
            "signed lone surrogate escape",
            with_raw_field("x", "message_id", br#""\ud800""#),
            Some("application/json"),
        ),
        signed("signed UTF-16 JSON", utf16, Some("application/json")),
        signed("signed 60k unclosed [", deep_open, Some("application/json")),
        signed(
            "signed 30k-deep array as message_id",
            with_raw_field("deep-array", "message_id", deep_closed.as_bytes()),
            Some("application/json"),
        ),
        signed(
            "signed 10k-deep object in text",
            with_raw_field("deep-object", "text", deep_objects.as_bytes()),
            Some("application/json"),
        ),
        signed(
            "signed message_id of 257 characters",
            with_field("x", "message_id", json!("m".repeat(257))),
            Some("application/json"),
        ),
        signed(
            "signed message_id of 60,000 characters",
            with_field("x", "message_id", json!("m".repeat(60_000))),
            Some("application/json"),
        ),
        signed(
            "signed from of 16 digits",
            with_field("long-from", "from", json!(format!("+{}", "1".repeat(16)))),
            Some("application/json"),
        ),
        signed(
            "signed from of 10,000 digits",
            with_field(
                "huge-from",
                "from",
                json!(format!("+{}", "1".repeat(10_000))),
            ),
            Some("application/json"),
        ),
        signed(
            "signed to of 16 digits",
            with_field("long-to", "to", json!(format!("+{}", "1".repeat(16)))),
            Some("application/json"),
        ),
        signed(
            "signed duplicate message_id key",
            with_duplicate_field("dup-key-2", "message_id", br#""dup-key-1""#),
            Some("application/json"),
        ),
        signed(
            "signed duplicate from key",
            with_duplicate_field("dup-from", "from", br#""+1""#),
            Some("application/json"),
        ),
        signed(
            "signed duplicate text key",
            with_duplicate_field("dup-text", "text", b"null"),
            Some("application/json"),
        ),
    ];
    let wrong_types: [(&str, &str, &[u8]); 12] = [
        ("message_id", "number", b"1"),
        ("message_id", "true", b"true"),
        ("message_id", "null", b"null"),
        ("message_id", "object", br#"{"id":"m"}"#),
        ("message_id", "array", br#"["m"]"#),
        ("from", "number", b"919876543210"),
        ("from", "negative number", b"-919876543210"),
        ("to", "float", b"1.5e300"),
        ("to", "number out of range", b"1e999999"),
        ("ts", "epoch seconds", b"1736935200"),
        ("text", "number", b"42"),
        ("text", "object", br#"{"body":"Hello"}"#),
    ];
    for (field, kind, raw_value) in wrong_types {
        cases.push(signed(
            &format!("signed {kind} as {field}"),
            with_raw_field(&format!("type-{field}-{kind}"), field, raw_value),
            Some("application/json"),
        ));
    }
    let broken_values = [
        ("message_id", json!("")),
        ("from", json!("+")),
        ("from", json!("++919876543210")),
        ("from", json!("+９１９８７６")),
        ("from", json!("+91 98765")),
        ("to", json!("+1' OR '1'='1")),
        ("ts", json!("2025-02-30T10:00:00Z")),
        ("ts", json!("2025-01-15T10:00:60Z")),
        ("ts", json!("2025-01-15T10:00:00.1234567890Z")),
        ("ts", json!("2025-01-15T10:00:00Z\n")),
        (
            "ts",
            json!("2025-01-15T10:00:00Z'; DROP TABLE messages; --"),
        ),
        ("text", json!("a".repeat(4097))),
    ];
    for (index, (field, value)) in broken_values.into_iter().enumerate() {
        cases.push(signed(
            &format!("signed {field} = {:.40}", value.to_string()),
            with_field(&format!("broken-{index}"), field, value),
            Some("application/json"),
        ));
    }
    cases
}

pub(super) fn webhook_headers() -> Vec<Case> {
    let body = valid("headers");
    let good = sign(&body);
    let huge_hex = "a".repeat(10_000).into_bytes();
    vec![
        signed(
            "signed valid message as text/plain",
            valid("ct-text"),
            Some("text/plain"),
        ),
        signed(
            "signed valid message as a form",
            valid("ct-form"),
            Some("application/x-www-form-urlencoded"),
        ),
        signed(
            "signed valid message as multipart",
            valid("ct-multipart"),
            Some("multipart/form-data; boundary=x"),
        ),
        signed(
            "signed valid message as application/jsonp",
            valid("ct-patch"),
            Some("application/jsonp"),
        ),
        signed(
            "signed garbage without Content-Type",
            b"not json at all".to_vec(),
            None,
        ),
        unsigned("unsigned valid message", valid("unsigned"), None),
        unsigned("empty X-Signature", body.clone(), Some(Vec::new())),
        unsigned("10 KB X-Signature", body.clone(), Some(huge_hex)),
        unsigned(
            "X-Signature with trailing garbage",
            body.clone(),
            Some(format!("{good}00").into_bytes()),
        ),
        unsigned(
            "X-Signature prefixed sha256=",
            body.clone(),
            Some(format!("sha256={good}").into_bytes()),
        ),
        unsigned(
            "X-Signature with a space inside",
            body.clone(),
            Some(format!("{} {}", &good[..32], &good[32..]).into_bytes()),
        ),
        unsigned(
            "X-Signature with non-ASCII bytes",
            body.clone(),
            Some(b"\xff\xfe".repeat(32)),
        ),
        unsigned(
            "X-Signature of another body",
            body.clone(),
            Some(sign(b"{}").into_bytes()),
        ),
        unsigned(
            "X-Signature under an empty key",
            body.clone(),
            Some(empty_key_signature(&body).into_bytes()),
        ),
        unsigned("unsigned 60k unclosed [", "[".repeat(60_000).into(), None),
        unsigned("unsigned invalid UTF-8", b"\xff\xfe\xfd".to_vec(), None),
        case(
            "100 KB X-Request-ID, unsigned",
            Target::Default,
            Request::Http(Box::new(move |client, base| {
                client
                    .post(format!("{base}/webhook"))
                    .header("x-request-id", "r".repeat(100_000))
                    .body(valid("long-request-id"))
            })),
            Expect::Status(431),
        ),
        case(
            "1 KB X-Request-ID, unsigned",
            Target::Default,
            Request::Http(Box::new(move |client, base| {
                client
                    .post(format!("{base}/webhook"))
                    .header("x-request-id", "r".repeat(1000))
                    .body(valid("long-request-id"))
            })),
            Expect::Status(401),
        ),
    ]
}

fn empty_key_signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"").expect("any key size");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub(super) fn oversized_bodies() -> Vec<Case> {
    let over_small = with_field("big-small", "text", json!("a".repeat(SMALL_LIMIT)));
    let over_default = with_field("big-default", "text", json!("a".repeat(DEFAULT_LIMIT)));
    let chunked = |name: &str, target: Target, body: Vec<u8>, signature: Option<String>| {
        let build: Build = Box::new(move |client, base| {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(997).map(|chunk| Ok(chunk.to_vec())).collect();
            let mut request = client
                .post(format!("{base}/webhook"))
                .header("content-type", "application/json")
                .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)));
            if let Some(signature) = &signature {
                request = request.header("x-signature", signature.as_str());
            }
            request
        });
        case(name, target, Request::Http(build), Expect::Status(413))
    };
    let huge_chunk = concat(&[
        b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"ffffffff\r\n",
        &[b'a'; 2 * SMALL_LIMIT],
    ]);
    let many_chunks = concat(&[
        b"POST /webhook HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n",
        &b"10\r\naaaaaaaaaaaaaaaa\r\n".repeat(2 * SMALL_LIMIT / 16),
        b"0\r\n\r\n",
    ]);
    let mut declared_default = format!(
        "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         X-Signature: {}\r\nContent-Length: {}\r\n\r\n",
        sign(&over_default),
        over_default.len()
    )
    .into_bytes();
    declared_default.extend_from_slice(&over_default);
    vec![
        signed_expecting(
            "signed body over the limit with Content-Length",
            Target::Small,
            over_small.clone(),
            Some("application/json"),
            Expect::Status(413),
        ),
        case(
            "unsigned body over the limit with Content-Length",
            Target::Small,
            Request::Http(Box::new({
                let body = over_small.clone();
                move |client, base| client.post(format!("{base}/webhook")).body(body.clone())
            })),
            Expect::Status(413),
        ),
        chunked(
            "signed chunked body over the limit",
            Target::Small,
            over_small.clone(),
            Some(sign(&over_small)),
        ),
        chunked(
            "unsigned chunked body over the limit",
            Target::Small,
            over_small.clone(),
            None,
        ),
        raw(
            "Content-Length over the limit, body never sent",
            Target::Small,
            "POST /webhook HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000000000\r\n\r\n{}",
            Expect::Status(413),
        ),
        raw(
            "one chunk declaring 4 GiB",
            Target::Small,
            huge_chunk,
            Expect::Status(413),
        ),
        raw(
            "many small chunks over the limit",
            Target::Small,
            many_chunks,
            Expect::Status(413),
        ),
        raw(
            "signed 1 MiB + body with Content-Length at the default limit",
            Target::Default,
            declared_default,
            Expect::Status(413),
        ),
        chunked(
            "signed chunked 1 MiB + body at the default limit",
            Target::Default,
            over_default.clone(),
            Some(sign(&over_default)),
        ),
    ]
}
