//! Reading a webhook body within two limits: `MAX_BODY_BYTES` for one body, and a
//! budget for the bytes of all bodies being read or held at once. Without the budget,
//! a thousand connections each sending the largest allowed body would make the process
//! hold a thousand such bodies before a single signature is checked.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::routes::error::ApiError;

/// How long a body may wait for room in the budget before it is refused with 503: long
/// enough to ride out a burst, short enough that a sender retries rather than times out.
const BUDGET_WAIT: Duration = Duration::from_secs(1);

/// The bytes of request bodies that may be in memory at once, across all connections.
#[derive(Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    /// Shows how much is reserved, as `webhook_body_bytes_in_flight`.
    in_flight: IntGauge,
}

impl BodyBudget {
    /// A budget of `bytes`: one permit a byte, so at most `Semaphore::MAX_PERMITS`
    /// (2^61 on 64 bits; the configuration allows 16 GiB).
    pub fn new(bytes: usize, in_flight: IntGauge) -> Self {
        Self {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            in_flight,
        }
    }

    /// Room for `bytes` more, waiting at most `BUDGET_WAIT`; `None` when there is none.
    async fn reserve(&self, bytes: usize) -> Option<Reserved> {
        let count = u32::try_from(bytes).ok()?;
        let permit = match self.bytes.clone().try_acquire_many_owned(count) {
            Ok(permit) => permit,
            Err(_) => {
                tokio::time::timeout(BUDGET_WAIT, self.bytes.clone().acquire_many_owned(count))
                    .await
                    .ok()?
                    .ok()?
            }
        };
        self.in_flight.add(i64::from(count));
        Some(Reserved {
            _permit: permit,
            bytes: i64::from(count),
            in_flight: self.in_flight.clone(),
        })
    }
}

/// A share of the budget, given back when dropped.
struct Reserved {
    _permit: OwnedSemaphorePermit,
    bytes: i64,
    in_flight: IntGauge,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.in_flight.sub(self.bytes);
    }
}

/// A body read whole, and its share of the budget, given back when this is dropped.
pub struct ReadBody {
    pub bytes: Bytes,
    _reserved: Reserved,
}

/// Reads at most `limit` bytes. A declared `Content-Length` over the limit is refused
/// before reading, and a chunked body as soon as it passes the limit. Before reading,
/// the body reserves its declared length (the limit when it declares none) from the
/// budget, or is refused with 503 when the budget stays full.
pub async fn read_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    budget: &BodyBudget,
) -> Result<ReadBody, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(ApiError::PayloadTooLarge);
    }
    let reserve = declared.map_or(limit, |length| length as usize);
    let reserved = budget
        .reserve(reserve)
        .await
        .ok_or(ApiError::BodiesInFlight)?;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|error| {
        let too_large =
            std::iter::successors(std::error::Error::source(&error), |source| source.source())
                .any(|source| source.is::<http_body_util::LengthLimitError>());
        if too_large {
            ApiError::PayloadTooLarge
        } else {
            ApiError::UnreadableBody
        }
    })?;
    Ok(ReadBody {
        bytes,
        _reserved: reserved,
    })
}
