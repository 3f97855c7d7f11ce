//! Read access: with `API_TOKENS` set, `/messages` and `/stats` take
//! `Authorization: Bearer <token>`. Tokens are compared in constant time (as SHA-256
//! digests, so that neither content nor length leaks) and never logged.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::app::AppState;
use crate::config::Secret;
use crate::routes::error::ApiError;

/// The accepted tokens, as digests; none: reads are open.
#[derive(Clone, Default)]
pub struct ReadAccess {
    digests: Arc<[[u8; 32]]>,
}

impl ReadAccess {
    pub fn new(tokens: &[Secret]) -> Self {
        Self {
            digests: tokens
                .iter()
                .map(|token| Sha256::digest(token.expose()).into())
                .collect(),
        }
    }

    /// Whether `authorization` (the header's value) opens the read API.
    pub fn allows(&self, authorization: Option<&[u8]>) -> bool {
        if self.digests.is_empty() {
            return true;
        }
        let Some(token) = authorization.and_then(bearer_token) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(token).into();
        // Every token is compared, each in constant time.
        self.digests.iter().fold(false, |allowed, digest| {
            allowed | bool::from(digest.ct_eq(&presented))
        })
    }
}

/// The token of `Bearer <token>` (the scheme in any case).
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let (scheme, token) = value.split_at_checked(6)?;
    let token = token.strip_prefix(b" ")?.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer") && !token.is_empty()).then_some(token)
}

/// Taken by a handler that needs read access: refuses with 401 `not authenticated`.
pub struct Authorized;

impl FromRequestParts<Arc<AppState>> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let authorization = parts
            .headers
            .get(AUTHORIZATION)
            .map(|value| value.as_bytes());
        if state.read_access.allows(authorization) {
            Ok(Self)
        } else {
            Err(ApiError::NotAuthenticated)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_listed_bearer_token_opens_reads_when_tokens_are_set() {
        let access = ReadAccess::new(&[Secret::new("alpha"), Secret::new("beta")]);
        for allowed in [&b"Bearer alpha"[..], b"bearer beta", b"BEARER  alpha "] {
            assert!(access.allows(Some(allowed)), "{allowed:?}");
        }
        for refused in [
            None,
            Some(&b""[..]),
            Some(b"Bearer"),
            Some(b"Bearer "),
            Some(b"Bearer alph"),
            Some(b"Bearer alphaa"),
            Some(b"Basic alpha"),
            Some(b"alpha"),
            Some(b"Beareralpha"),
        ] {
            assert!(!access.allows(refused), "{refused:?}");
        }
    }

    #[test]
    fn without_tokens_reads_are_open() {
        assert!(ReadAccess::new(&[]).allows(None));
    }
}
