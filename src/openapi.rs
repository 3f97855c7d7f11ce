//! The OpenAPI 3.1 document of the contract. Each handler carries its operation in a
//! `#[utoipa::path]`, and `routes::api` registers handler and operation together, so
//! the router and the document cannot list different routes. This file adds what
//! belongs to the whole document: its title, tags and the `X-Signature` scheme.

mod schemas;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use schemas::{
    msisdn, nullable_text, nullable_timestamp, timestamp, ErrorBody, ServiceUnavailable, TimedOut,
    ValidationErrorBody, WebhookMessage, MSISDN_PATTERN, TIMESTAMP_PATTERN,
};

/// The name under which `/webhook` refers to its security scheme.
pub const SIGNATURE_SCHEME: &str = "signature";

/// What the document says before any path.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "webhook-inbox",
        description = "Receives signed webhooks carrying WhatsApp-like messages, stores each \
                       exactly once, and serves them back. Every error body is JSON: \
                       `{\"detail\": \"...\"}`, or for 422 a list of `{loc, msg, type}`."
    ),
    components(responses(ServiceUnavailable, TimedOut)),
    modifiers(&SignatureScheme),
    tags(
        (name = "webhook", description = "Ingest signed messages"),
        (name = "messages", description = "Read stored messages"),
        (name = "operations", description = "Probes and metrics for operators")
    )
)]
pub struct ApiDoc;

/// `X-Signature`: an API key in a header, in effect (it is a per-body HMAC, which
/// OpenAPI has no scheme for; the description says how to compute it).
struct SignatureScheme;

impl Modify for SignatureScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            SIGNATURE_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Signature",
                "Lowercase (or uppercase) hex of HMAC-SHA256(key = WEBHOOK_SECRET, \
                 message = the exact raw body bytes). Missing, empty or wrong: 401.",
            ))),
        );
    }
}

/// The document as `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::routes::api().into_openapi()
}
