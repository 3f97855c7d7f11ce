//! Property tests of both verifiers: a signed request verifies, and changing any one
//! byte of what is signed (id, timestamp, body) or of the signature itself fails.

use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use webhook_inbox::config::Secret;
use webhook_inbox::signature::{
    sign, sign_standard, verify_signature, verify_standard, Rejection, SignedWith, StandardHeaders,
};

const TOLERANCE: u64 = 300;

/// `whsec_` secrets of keys of 1 to 64 random bytes, and the key.
fn standard_secrets() -> impl Strategy<Value = (Secret, Vec<u8>)> {
    prop::collection::vec(any::<u8>(), 1..64).prop_map(|key| {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&key);
        (Secret::new(format!("whsec_{encoded}")), key)
    })
}

fn ids() -> impl Strategy<Value = String> {
    "[!-~]{1,64}"
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

/// Keys as the service holds them: the current one, then `previous` others.
fn keys(key: &[u8], previous: usize) -> Vec<Hmac<Sha256>> {
    (0..previous)
        .map(|index| format!("previous-key-{index}").into_bytes())
        .chain(std::iter::once(key.to_vec()))
        .map(|key| Hmac::<Sha256>::new_from_slice(&key).unwrap())
        .collect()
}

fn verify(
    keys: &[Hmac<Sha256>],
    id: &[u8],
    timestamp: &[u8],
    signature: &[u8],
    body: &[u8],
    now: u64,
) -> Result<(), Rejection> {
    let headers = StandardHeaders {
        id: Some(id),
        timestamp: Some(timestamp),
        signature: Some(signature),
    };
    match verify_standard(keys, &headers, body, now, TOLERANCE)? {
        (_, true) => Ok(()),
        (_, false) => Err(Rejection::StaleTimestamp(SignedWith::Current)),
    }
}

/// `bytes` with the byte at `index` (wrapped) changed to another value.
fn changed(bytes: &[u8], index: prop::sample::Index, flip: u8) -> Vec<u8> {
    let mut changed = bytes.to_vec();
    changed[index.index(bytes.len())] ^= flip;
    changed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_standard_webhooks_signature_verifies_under_any_accepted_key(
        (secret, key) in standard_secrets(),
        id in ids(),
        timestamp in 1_000_000_000u64..4_000_000_000,
        skew in 0..=TOLERANCE,
        late in any::<bool>(),
        body in bodies(),
        previous in 0usize..4,
    ) {
        let signature = sign_standard(&secret, &id, timestamp, &body).unwrap();
        let now = if late { timestamp + skew } else { timestamp - skew };
        let ts = timestamp.to_string();
        prop_assert_eq!(
            verify(&keys(&key, previous), id.as_bytes(), ts.as_bytes(), signature.as_bytes(), &body, now),
            Ok(())
        );
    }

    #[test]
    fn changing_any_byte_of_the_id_timestamp_body_or_signature_fails(
        (secret, key) in standard_secrets(),
        id in ids(),
        timestamp in 1_000_000_000u64..4_000_000_000,
        body in prop::collection::vec(any::<u8>(), 1..2048),
        part in 0usize..4,
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let signature = sign_standard(&secret, &id, timestamp, &body).unwrap();
        // The base64 characters of `v1,<base64>=`; the trailing padding is optional,
        // so changing it to a separator leaves the same signature.
        let base64_end = signature.trim_end_matches('=').len();
        let ts = timestamp.to_string();
        let keys = keys(&key, 2);
        let (mut id, mut ts, mut body, mut signature) =
            (id.into_bytes(), ts.into_bytes(), body, signature.into_bytes());
        match part {
            0 => id = changed(&id, index, flip),
            1 => ts = changed(&ts, index, flip),
            2 => body = changed(&body, index, flip),
            _ => {
                let changed_part = changed(&signature[..base64_end], index, flip);
                signature.splice(..base64_end, changed_part);
            }
        }
        prop_assert!(verify(&keys, &id, &ts, &signature, &body, timestamp).is_err());
    }

    #[test]
    fn changing_any_byte_of_an_x_signature_header_fails(
        secret in "[ -~]{1,64}",
        body in bodies(),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let secret = Secret::new(secret);
        let signature = sign(&secret, &body);
        let changed = changed(signature.as_bytes(), index, flip);
        // Changing only the case of a hex letter is the same signature.
        prop_assume!(!changed.eq_ignore_ascii_case(signature.as_bytes()));
        prop_assume!(changed.trim_ascii() != signature.as_bytes());
        prop_assert!(verify_signature(&secret, &body, Some(&changed)).is_err());
    }

    #[test]
    fn an_empty_or_truncated_v1_entry_never_matches(
        (secret, key) in standard_secrets(),
        id in ids(),
        timestamp in 1_000_000_000u64..4_000_000_000,
        body in bodies(),
        keep in 0usize..43,
    ) {
        let signature = sign_standard(&secret, &id, timestamp, &body).unwrap();
        let truncated = &signature.as_bytes()[..3 + keep];
        let ts = timestamp.to_string();
        for wrong in [&b"v1,"[..], truncated] {
            prop_assert_eq!(
                verify(&keys(&key, 0), id.as_bytes(), ts.as_bytes(), wrong, &body, timestamp),
                Err(Rejection::InvalidSignature)
            );
        }
    }
}
