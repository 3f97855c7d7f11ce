//! What one request's signature check costs, by the number of `webhook-signature`
//! entries and of configured keys: `make bench-verify` (criterion; one thread, so the
//! time per check is its CPU time). The bound in the README, 8 entries checked, is what
//! keeps the worst case near one HMAC of the body per configured key.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use webhook_inbox::config::Secret;
use webhook_inbox::signature::{sign_standard, Verifier, MAX_SIGNATURES};

/// Four `whsec_` secrets: the current one first, then three previous ones.
const SECRETS: [&str; 4] = [
    "whsec_Y3VycmVudC1rZXktZm9yLWJlbmNobWFya3M=",
    "whsec_cHJldmlvdXMta2V5LW9uZQ==",
    "whsec_cHJldmlvdXMta2V5LXR3bw==",
    "whsec_cHJldmlvdXMta2V5LXRocmVl",
];
const ID: &str = "msg_2kDd0pVQeGCaB8Zj3b3x1aHGlqT";

fn verifier(keys: usize) -> Verifier {
    let previous: Vec<Secret> = SECRETS[1..keys].iter().copied().map(Secret::new).collect();
    Verifier::new(
        &Secret::new(SECRETS[0]),
        &previous,
        Duration::from_secs(300),
    )
}

fn headers(timestamp: u64, signatures: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("webhook-id", HeaderValue::from_static(ID));
    headers.insert("webhook-timestamp", HeaderValue::from(timestamp));
    let list = signatures.join(" ");
    headers.insert("webhook-signature", HeaderValue::from_str(&list).unwrap());
    headers
}

fn bodies() -> [(&'static str, Vec<u8>); 2] {
    let typical = br#"{"message_id":"m-123456","from":"+919800001234","to":"+14155550100","ts":"2025-01-15T10:00:00.123Z","text":"Your code is 123456 #123456"}"#;
    let text = "a".repeat(65_536 - 120);
    let largest = format!(
        r#"{{"message_id":"m1","from":"+919800001234","to":"+14155550100","ts":"2025-01-15T10:00:00Z","text":"{text}"}}"#
    );
    [
        ("typical", typical.to_vec()),
        ("64KiB", largest.into_bytes()),
    ]
}

fn verify(c: &mut Criterion) {
    let now = SystemTime::now();
    let timestamp = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let mut group = c.benchmark_group("verify");
    for (size, body) in bodies() {
        let sign =
            |secret: &str| sign_standard(&Secret::new(secret), ID, timestamp, &body).unwrap();
        let wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_owned();
        // The last of 8 entries matches the oldest of 4 keys: every key is tried.
        let mut eight = vec![wrong.clone(); MAX_SIGNATURES - 1];
        eight.push(sign(SECRETS[3]));
        let cases = [
            ("1 signature, 1 key", verifier(1), vec![sign(SECRETS[0])]),
            ("1 signature, 4 keys", verifier(4), vec![sign(SECRETS[0])]),
            // The one entry matches the oldest key: every key is tried, as below.
            (
                "1 signature, 4 keys, oldest matches",
                verifier(4),
                vec![sign(SECRETS[3])],
            ),
            ("8 signatures, 4 keys, last matches", verifier(4), eight),
            (
                "8 signatures, 4 keys, none matches",
                verifier(4),
                vec![wrong; MAX_SIGNATURES],
            ),
        ];
        for (name, verifier, signatures) in cases {
            let headers = headers(timestamp, &signatures);
            group.bench_with_input(BenchmarkId::new(name, size), &body, |b, body| {
                b.iter(|| verifier.verify_at(black_box(&headers), black_box(body), now))
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = verify
}
criterion_main!(benches);
