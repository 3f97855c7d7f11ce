//! The path every webhook body takes before it is stored: signature verification over
//! the raw bytes, then parsing and validation. Nothing may panic, a refusal always says
//! why, an accepted message obeys every rule, and no forged signature verifies.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_inbox::config::Secret;
use webhook_inbox::message::{Message, MAX_TEXT_CHARS};
use webhook_inbox::signature::{sign, verify_signature};
use webhook_inbox::timestamp::Timestamp;

/// `^\+[0-9]{1,15}$`, written out apart from the service's own check.
fn is_msisdn(value: &str) -> bool {
    (2..=16).contains(&value.len())
        && value.starts_with('+')
        && value[1..].bytes().all(|b| b.is_ascii_digit())
}

fuzz_target!(|data: &[u8]| {
    match Message::from_json(data) {
        Ok(message) => {
            assert!(!message.message_id.is_empty());
            assert!(message.message_id.chars().count() <= 256);
            assert!(is_msisdn(&message.from) && is_msisdn(&message.to));
            assert!(Timestamp::parse(message.ts.as_str()).is_ok());
            let text = message.text.as_deref().unwrap_or_default();
            assert!(text.chars().count() <= MAX_TEXT_CHARS);
        }
        Err(errors) => assert!(!errors.is_empty()),
    }

    if let Ok(raw) = std::str::from_utf8(data) {
        if let Ok(ts) = Timestamp::parse(raw) {
            assert_eq!(ts.as_str(), raw);
            assert_eq!(ts.sort_key().len(), "2025-01-15T10:00:00.000000000Z".len());
        }
    }

    let secret = Secret::new("fuzz-secret");
    let signature = sign(&secret, data);
    assert_eq!(
        verify_signature(&secret, data, Some(signature.as_bytes())),
        Ok(())
    );
    // The first bytes as the X-Signature header, the rest as the body: a forgery.
    let (header, body) = data.split_at(data.len().min(64));
    let forged = verify_signature(&secret, body, Some(header));
    let genuine = header
        .trim_ascii()
        .eq_ignore_ascii_case(sign(&secret, body).as_bytes());
    assert_eq!(forged.is_ok(), genuine);
});
