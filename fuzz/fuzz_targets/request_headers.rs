//! What the service reads from request headers and the query before any handler
//! trusts it: the `X-Request-ID` rule, the paging cursor, and the three Standard
//! Webhooks headers. Nothing may panic; an accepted request id is 1 to 128 visible
//! ASCII characters; a cursor that decodes encodes back to itself; no forged
//! `webhook-signature` verifies, and a genuine one always does.
#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use webhook_inbox::config::Secret;
use webhook_inbox::signature::{sign_standard, standard_key, verify_standard, StandardHeaders};
use webhook_inbox::store::Cursor;
use webhook_inbox::telemetry::is_acceptable_request_id;

/// The clock the Standard Webhooks checks run at, in Unix seconds.
const NOW: u64 = 1_736_935_200;
const TOLERANCE: u64 = 300;

fn standard_webhooks(data: &[u8]) {
    let secret = Secret::new("whsec_ZnV6ei1rZXk=");
    let key = standard_key(&secret).expect("a whsec_ secret").expect("valid base64");
    let keys = [Hmac::<Sha256>::new_from_slice(&key).expect("any key size")];
    // id, timestamp, signature and body, separated by 0xff (never in a header value).
    let mut parts = data.splitn(4, |&byte| byte == 0xff);
    let (id, timestamp, signature) = (parts.next(), parts.next(), parts.next());
    let body = parts.next().unwrap_or_default();
    let headers = StandardHeaders {
        id,
        timestamp,
        signature,
    };
    let verdict = verify_standard(&keys, &headers, body, NOW, TOLERANCE);
    if verdict.is_ok() {
        let id = std::str::from_utf8(id.unwrap()).expect("a verified id is the signed text");
        let timestamp: u64 = std::str::from_utf8(timestamp.unwrap()).unwrap().parse().unwrap();
        let genuine = sign_standard(&secret, id, timestamp, body).unwrap();
        let unpadded = genuine.trim_end_matches('=');
        let entries = signature.unwrap().split(|&byte| byte == b' ');
        assert!(
            entries
                .filter(|entry| !entry.is_empty())
                .take(8)
                .any(|entry| entry.strip_suffix(b"=").unwrap_or(entry) == unpadded.as_bytes()
                    || entry == genuine.as_bytes()),
            "a forged webhook-signature verified"
        );
    }
    if let Some(Ok(id)) = id.map(std::str::from_utf8) {
        if !id.is_empty() {
            let genuine = sign_standard(&secret, id, NOW, body).unwrap();
            let now = NOW.to_string();
            let headers = StandardHeaders {
                id: Some(id.as_bytes()),
                timestamp: Some(now.as_bytes()),
                signature: Some(genuine.as_bytes()),
            };
            assert_eq!(
                verify_standard(&keys, &headers, body, NOW, TOLERANCE),
                Ok((0, true))
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if is_acceptable_request_id(data) {
        assert!((1..=128).contains(&data.len()));
        assert!(data.iter().all(|b| (0x21..=0x7e).contains(b)));
    }

    if let Ok(token) = std::str::from_utf8(data) {
        if let Some(cursor) = Cursor::decode(token) {
            assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }
    }

    standard_webhooks(data);
});
