//! HMAC-SHA256 verification of webhook bodies: over the raw bytes received, in
//! constant time, before anything is parsed.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::Secret;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused. The HTTP answer is the same for all of them; the
/// variants exist for tests and for the log.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Signature header is missing or empty")]
    Missing,
    #[error("the X-Signature header is not 64 hex digits")]
    Malformed,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// Checks `signature` (hex, any case) against HMAC-SHA256(`secret`, `body`).
pub fn verify_signature(
    secret: &Secret,
    body: &[u8],
    signature: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let signature = signature
        .map(<[u8]>::trim_ascii)
        .filter(|signature| !signature.is_empty())
        .ok_or(SignatureError::Missing)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(signature, &mut expected).map_err(|_| SignatureError::Malformed)?;
    let mut mac = HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes keys of any size");
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The lowercase hex signature of `body`, as a sender computes it.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.expose()).expect("HMAC takes keys of any size");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> Secret {
        Secret::new("testsecret")
    }

    #[test]
    fn matches_openssl_for_a_known_body() {
        // printf '%s' '{"a":1}' | openssl dgst -sha256 -hmac testsecret
        assert_eq!(
            sign(&secret(), br#"{"a":1}"#),
            "0f4a604a9e9ad182034b3224fb61724a9ef127c2d5de3554995cc31f9cc3c499"
        );
    }

    #[test]
    fn accepts_its_own_signature_in_either_case() {
        let body = br#"{"message_id":"m1"}"#;
        let signature = sign(&secret(), body);
        assert_eq!(
            verify_signature(&secret(), body, Some(signature.as_bytes())),
            Ok(())
        );
        let upper = signature.to_ascii_uppercase();
        assert_eq!(
            verify_signature(&secret(), body, Some(upper.as_bytes())),
            Ok(())
        );
    }

    #[test]
    fn refuses_missing_empty_malformed_and_wrong_signatures() {
        let body = b"{}";
        let good = sign(&secret(), body);
        let other_body = sign(&secret(), b"{} ");
        let other_key = sign(&Secret::new("other"), body);
        let cases: [(Option<&[u8]>, SignatureError); 6] = [
            (None, SignatureError::Missing),
            (Some(b""), SignatureError::Missing),
            (Some(b"zz"), SignatureError::Malformed),
            (Some(&good.as_bytes()[..62]), SignatureError::Malformed),
            (Some(other_body.as_bytes()), SignatureError::Mismatch),
            (Some(other_key.as_bytes()), SignatureError::Mismatch),
        ];
        for (signature, expected) in cases {
            assert_eq!(verify_signature(&secret(), body, signature), Err(expected));
        }
    }
}
