//! [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature`, a space-separated list of
//! `v1,<base64 of HMAC-SHA256>` over `{id}.{timestamp}.{body}`, keyed with the
//! base64-decoded bytes of a `whsec_` secret.

use base64::alphabet::STANDARD;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::Mac;
use subtle::ConstantTimeEq;

use super::{HmacSha256, Rejection};
use crate::config::Secret;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The most `v1` entries of `webhook-signature` looked at: each is decoded and compared
/// with every key's HMAC, so one request's work stays bounded however long its header.
/// Later `v1` entries are ignored, as entries of other versions always are.
pub const MAX_SIGNATURES: usize = 8;

/// The prefix of a secret that is a Standard Webhooks key.
const SECRET_PREFIX: &str = "whsec_";

/// The length of an HMAC-SHA256, in bytes.
const MAC_LEN: usize = 32;

/// Base64, standard alphabet, padding optional.
const PADDING_OPTIONAL: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(true)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);

/// Base64 of a key: the unused bits of the last character are not required to be zero
/// (as the specification's libraries read a key).
const KEY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    PADDING_OPTIONAL.with_decode_allow_trailing_bits(true),
);

/// Base64 of a signature: the unused bits of the last character must be zero. The
/// specification's libraries compare the base64 texts, so a signature whose last
/// character differs only in those bits is another signature to them.
const SIGNATURE_BASE64: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    PADDING_OPTIONAL.with_decode_allow_trailing_bits(false),
);

/// A `whsec_` secret whose key is not base64, or is empty.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a whsec_ secret must be followed by the base64 of its key")]
pub struct InvalidKey;

/// The key of a `whsec_` secret: `None` for a plain secret, which serves `X-Signature`
/// alone.
pub fn standard_key(secret: &Secret) -> Option<Result<Vec<u8>, InvalidKey>> {
    let encoded = secret.expose().strip_prefix(SECRET_PREFIX.as_bytes())?;
    Some(
        KEY_BASE64
            .decode(encoded)
            .ok()
            .filter(|key| !key.is_empty())
            .ok_or(InvalidKey),
    )
}

/// The three headers of a request, each `None` when absent or given more than once.
#[derive(Clone, Copy, Debug)]
pub struct StandardHeaders<'a> {
    pub id: Option<&'a [u8]>,
    pub timestamp: Option<&'a [u8]>,
    pub signature: Option<&'a [u8]>,
}

/// Accepts a request when one of its first `MAX_SIGNATURES` `v1` entries matches
/// one of `keys`, and its timestamp is within `tolerance_secs` of `now` (Unix
/// seconds), either way, inclusive. Nothing is keyed unless every header is
/// well-formed; the timestamp is judged only once a signature matches, so a stale one
/// is never a forgery. The index of the key that matched, and whether the timestamp
/// is within the tolerance.
pub fn verify_standard(
    keys: &[HmacSha256],
    headers: &StandardHeaders<'_>,
    body: &[u8],
    now: u64,
    tolerance_secs: u64,
) -> Result<(usize, bool), Rejection> {
    let invalid = Rejection::InvalidSignature;
    let id = headers.id.filter(|id| !id.is_empty()).ok_or(invalid)?;
    let timestamp = headers
        .timestamp
        .filter(|ts| !ts.is_empty() && ts.iter().all(u8::is_ascii_digit))
        .ok_or(invalid)?;
    let mut candidates = [[0u8; MAC_LEN]; MAX_SIGNATURES];
    let mut count = 0;
    for mac in headers
        .signature
        .ok_or(invalid)?
        .split(|&byte| byte == b' ')
        .filter_map(v1_signature)
        .take(MAX_SIGNATURES)
    {
        candidates[count] = mac;
        count += 1;
    }
    let candidates = &candidates[..count];
    if candidates.is_empty() {
        return Err(invalid);
    }
    let matched = keys.iter().position(|key| {
        let expected = signed_content_mac(key, id, timestamp, body);
        // Every candidate is compared, in constant time each.
        candidates.iter().fold(false, |found, candidate| {
            found | bool::from(candidate.ct_eq(&expected))
        })
    });
    let Some(matched) = matched else {
        return Err(invalid);
    };
    let sent = std::str::from_utf8(timestamp)
        .ok()
        .and_then(|ts| ts.parse::<u64>().ok());
    let on_time = sent.is_some_and(|sent| sent.abs_diff(now) <= tolerance_secs);
    Ok((matched, on_time))
}

/// The signature of a `v1,<base64>` entry, when it decodes to exactly one HMAC.
fn v1_signature(entry: &[u8]) -> Option<[u8; MAC_LEN]> {
    let encoded = entry.strip_prefix(b"v1,")?;
    // 43 characters unpadded, 44 padded; anything longer is not one HMAC.
    if encoded.len() > 44 {
        return None;
    }
    let mut decoded = [0u8; 48];
    match SIGNATURE_BASE64.decode_slice(encoded, &mut decoded) {
        Ok(MAC_LEN) => decoded[..MAC_LEN].try_into().ok(),
        _ => None,
    }
}

fn signed_content_mac(key: &HmacSha256, id: &[u8], timestamp: &[u8], body: &[u8]) -> [u8; MAC_LEN] {
    let mut mac = key.clone();
    mac.update(id);
    mac.update(b".");
    mac.update(timestamp);
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` value a sender computes: `v1,<base64>`, or `None` when
/// `secret` is not a `whsec_` secret with a valid key.
pub fn sign_standard(secret: &Secret, id: &str, timestamp: u64, body: &[u8]) -> Option<String> {
    let key = standard_key(secret)?.ok()?;
    let mac = signed_content_mac(
        &super::keyed(&key),
        id.as_bytes(),
        timestamp.to_string().as_bytes(),
        body,
    );
    Some(format!("v1,{}", SIGNATURE_BASE64.encode(mac)))
}
