//! The OpenAPI 3.1 document of the contract. Each handler carries its operation in a
//! `#[utoipa::path]`, and `routes::api` registers handler and operation together, so
//! the router and the document cannot list different routes. This file adds what
//! belongs to the whole document: its title, tags and the security schemes (`X-Signature`, Standard Webhooks, bearer tokens).

mod schemas;

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use schemas::{
    msisdn, nullable_text, nullable_timestamp, timestamp, ErrorBody, ServiceUnavailable, Stats,
    StoredMessage, TimedOut, Unauthenticated, ValidationErrorBody, WebhookMessage, MSISDN_PATTERN,
    TIMESTAMP_PATTERN,
};

/// The name under which `/webhook` refers to its `X-Signature` scheme.
pub const SIGNATURE_SCHEME: &str = "signature";

/// The name under which `/webhook` refers to its Standard Webhooks scheme.
pub const STANDARD_WEBHOOKS_SCHEME: &str = "standard_webhooks";

/// The name under which `/messages` and `/stats` refer to their bearer tokens.
pub const BEARER_SCHEME: &str = "bearer";

/// What the document says before any path.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "webhook-inbox",
        description = "Receives signed webhooks carrying WhatsApp-like messages, stores each \
                       exactly once, and serves them back. Every error body is JSON: \
                       `{\"detail\": \"...\"}`, or for 422 a list of `{loc, msg, type}`."
    ),
    components(responses(ServiceUnavailable, TimedOut, Unauthenticated)),
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
                 message = the exact raw body bytes), with WEBHOOK_SECRET or one of \
                 WEBHOOK_PREVIOUS_SECRETS. Missing, empty or wrong: 401.",
            ))),
        );
        components.add_security_scheme(
            STANDARD_WEBHOOKS_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "webhook-signature",
                "Standard Webhooks (https://www.standardwebhooks.com/): with webhook-id and \
                 webhook-timestamp (Unix seconds, within WEBHOOK_TOLERANCE_SECS of the \
                 server's clock), a space-separated list of `v1,<base64 of HMAC-SHA256>` over \
                 `{id}.{timestamp}.{raw body}`, keyed with the base64-decoded part of a \
                 `whsec_` secret. At most 8 entries are checked. A request carrying this \
                 header is judged by this scheme alone.",
            ))),
        );
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "One of API_TOKENS. Required by /messages and /stats when API_TOKENS \
                         is set; without a valid token: 401 with WWW-Authenticate: Bearer.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as `/openapi.json` serves it.
pub fn document() -> utoipa::openapi::OpenApi {
    crate::routes::api().into_openapi()
}
