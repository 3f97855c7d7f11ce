//! HMAC-SHA256 verification of webhook bodies: over the raw bytes received, in
//! constant time, before anything is parsed. Two schemes: `X-Signature` (hex of the
//! body's HMAC) and Standard Webhooks (`standard`), each against every accepted key.

mod standard;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::config::{Config, Secret};

pub use standard::{
    sign_standard, standard_key, verify_standard, InvalidKey, StandardHeaders, ID_HEADER,
    MAX_SIGNATURES, SIGNATURE_HEADER as STANDARD_SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

type HmacSha256 = Hmac<Sha256>;

/// The header that carries the hex HMAC-SHA256 of the body.
pub const SIGNATURE_HEADER: &str = "x-signature";

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

/// A request's headers as the verifier reads them. The HTTP layer implements it for
/// its header map, so this module needs no HTTP types.
pub trait Headers {
    /// Every value of the header `name` (lowercase), in the order received.
    fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a [u8]>;
}

/// Which accepted secret signed a request: during a key rotation, whether senders still
/// sign with an old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignedWith {
    /// `WEBHOOK_SECRET`.
    Current,
    /// One of `WEBHOOK_PREVIOUS_SECRETS`.
    Previous,
}

impl SignedWith {
    /// Key `index` of a list that starts with the current secret's key when
    /// `current_first` (a plain current secret has no Standard Webhooks key).
    fn of_key(index: usize, current_first: bool) -> Self {
        if index == 0 && current_first {
            Self::Current
        } else {
            Self::Previous
        }
    }

    /// As the log line says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Current => "current",
            Self::Previous => "previous",
        }
    }
}

/// Why a request was refused, as its log line and metrics say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Missing, malformed or wrong: no accepted key signed this request.
    InvalidSignature,
    /// A Standard Webhooks signature that matches, on a timestamp outside the tolerance;
    /// which secret made it.
    StaleTimestamp(SignedWith),
}

/// Checks `signature` (hex, any case) against HMAC-SHA256(`secret`, `body`).
pub fn verify_signature(
    secret: &Secret,
    body: &[u8],
    signature: Option<&[u8]>,
) -> Result<(), SignatureError> {
    verify_hex(&[keyed(secret.expose())], body, signature).map(drop)
}

/// Checks a hex `signature` against the body's HMAC under each of `keys`; the index
/// of the key that matched.
fn verify_hex(
    keys: &[HmacSha256],
    body: &[u8],
    signature: Option<&[u8]>,
) -> Result<usize, SignatureError> {
    let signature = signature
        .map(<[u8]>::trim_ascii)
        .filter(|signature| !signature.is_empty())
        .ok_or(SignatureError::Missing)?;
    let mut expected = [0u8; 32];
    hex::decode_to_slice(signature, &mut expected).map_err(|_| SignatureError::Malformed)?;
    keys.iter()
        .position(|key| {
            let mut mac = key.clone();
            mac.update(body);
            bool::from(mac.finalize().into_bytes().ct_eq(&expected))
        })
        .ok_or(SignatureError::Mismatch)
}

/// The lowercase hex signature of `body`, as a sender computes it.
pub fn sign(secret: &Secret, body: &[u8]) -> String {
    let mut mac = keyed(secret.expose());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// HMAC-SHA256 keyed with `key`, ready to be cloned for each message.
fn keyed(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any size")
}

/// Every accepted key of both schemes, keyed once at startup, and the clock tolerance.
/// Cloned into every request, so the keys are shared rather than copied.
#[derive(Clone)]
pub struct Verifier {
    /// `X-Signature`: each secret's bytes as written, the current one first.
    hex_keys: Arc<[HmacSha256]>,
    /// Standard Webhooks: the decoded key of each `whsec_` secret, current first.
    standard_keys: Arc<[HmacSha256]>,
    /// Whether `standard_keys` starts with the current secret's (it is `whsec_`).
    standard_current: bool,
    tolerance: Duration,
}

impl Verifier {
    /// The keys of `current` and `previous` secrets. A `whsec_` secret that does not
    /// decode serves `X-Signature` alone (`Config` refuses to start with one).
    pub fn new(current: &Secret, previous: &[Secret], tolerance: Duration) -> Self {
        let secrets = || std::iter::once(current).chain(previous);
        Self {
            hex_keys: secrets().map(|secret| keyed(secret.expose())).collect(),
            standard_keys: secrets()
                .filter_map(|secret| standard_key(secret)?.ok())
                .map(|key| keyed(&key))
                .collect(),
            standard_current: matches!(standard_key(current), Some(Ok(_))),
            tolerance,
        }
    }

    /// The verifier of a configuration.
    pub fn from_config(config: &Config) -> Self {
        Self::new(
            &config.webhook_secret,
            &config.previous_secrets,
            config.webhook_tolerance,
        )
    }

    /// Judges a request by Standard Webhooks when it carries `webhook-signature`, by
    /// `X-Signature` otherwise; which secret signed it.
    pub fn verify(&self, headers: &impl Headers, body: &[u8]) -> Result<SignedWith, Rejection> {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// `verify` as if the clock said `now`.
    pub fn verify_at(
        &self,
        headers: &impl Headers,
        body: &[u8],
        now: SystemTime,
    ) -> Result<SignedWith, Rejection> {
        // A header given more than once is as good as missing: which one was meant?
        let single = |name: &str| {
            let mut values = headers.values(name);
            match (values.next(), values.next()) {
                (Some(value), None) => Some(value),
                _ => None,
            }
        };
        if headers.values(STANDARD_SIGNATURE_HEADER).next().is_some() {
            let request = StandardHeaders {
                id: single(ID_HEADER),
                timestamp: single(TIMESTAMP_HEADER),
                signature: single(STANDARD_SIGNATURE_HEADER),
            };
            let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
            let (matched, on_time) = verify_standard(
                &self.standard_keys,
                &request,
                body,
                now,
                self.tolerance.as_secs(),
            )?;
            let signer = SignedWith::of_key(matched, self.standard_current);
            return if on_time {
                Ok(signer)
            } else {
                Err(Rejection::StaleTimestamp(signer))
            };
        }
        let signature = single(SIGNATURE_HEADER);
        verify_hex(&self.hex_keys, body, signature)
            .map(|matched| SignedWith::of_key(matched, true))
            .map_err(|_| Rejection::InvalidSignature)
    }
}

#[cfg(test)]
mod tests;
