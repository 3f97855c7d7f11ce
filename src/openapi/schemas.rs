//! Shapes that handlers read or write by hand (the webhook body, the error bodies), so
//! no Rust type derives them, and the field rules shared by several schemas. Each one
//! restates a rule enforced elsewhere; the tests below pin the two together.

use serde_json::json;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::{ToResponse, ToSchema};

use crate::message::MAX_TEXT_CHARS;
use crate::routes::error::FieldError;

/// `from` and `to`: `+` and 1 to 15 ASCII digits, E.164 (`message::is_msisdn`).
pub const MSISDN_PATTERN: &str = r"^\+[0-9]{1,15}$";

/// `ts` and `since`: `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z` naming a real date and time, leap
/// days included (`Timestamp::parse`).
pub const TIMESTAMP_PATTERN: &str = concat!(
    r"^(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])",
    r"|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)",
    r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)",
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?Z$",
);

/// The schema of a phone number field.
pub fn msisdn() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(MSISDN_PATTERN))
        .examples([json!("+919876543210")])
        .build()
}

/// The schema of a timestamp field.
pub fn timestamp() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(TIMESTAMP_PATTERN))
        .description(Some(
            "ISO-8601 UTC with a `Z` suffix, optionally with 1 to 9 fractional digits, \
             naming a real date and time (`2025-13-45T10:00:00Z` is refused). Kept exactly \
             as received; ordering and `since` compare the instants, not the strings.",
        ))
        .examples([
            json!("2025-01-15T10:00:00Z"),
            json!("2025-01-15T10:00:00.123Z"),
        ])
        .build()
}

/// The schema of a timestamp that may be null.
pub fn nullable_timestamp() -> Object {
    let mut schema = timestamp();
    schema.schema_type = SchemaType::from_iter([Type::String, Type::Null]);
    schema
}

/// The schema of `text`: null, or at most `MAX_TEXT_CHARS` characters.
pub fn nullable_text() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(MAX_TEXT_CHARS))
        .description(Some(
            "At most 4096 characters (Unicode scalar values, not bytes); null when the \
             message has no text.",
        ))
        .examples([json!("Hello")])
        .build()
}

/// One inbound message, as a sender posts it to `/webhook`. Unknown fields are ignored;
/// a known field given twice is refused.
#[derive(ToSchema)]
#[schema(example = json!({"message_id": "m1", "from": "+919876543210", "to": "+14155550100",
                          "ts": "2025-01-15T10:00:00Z", "text": "Hello"}))]
pub struct WebhookMessage {
    /// Identifies the message: the first valid call for an id stores it, later ones
    /// store nothing and still answer 200. At most 256 characters.
    #[schema(min_length = 1, max_length = 256)]
    pub message_id: String,
    #[schema(schema_with = msisdn)]
    pub from: String,
    #[schema(schema_with = msisdn)]
    pub to: String,
    #[schema(schema_with = timestamp)]
    pub ts: String,
    /// May be absent or null.
    #[schema(schema_with = nullable_text)]
    pub text: Option<String>,
}

// The schema of `message::StoredMessage`, which the domain keeps free of OpenAPI.
/// A stored message as `/messages` returns it.
#[derive(ToSchema)]
pub struct StoredMessage {
    #[schema(min_length = 1, max_length = 256)]
    pub message_id: String,
    #[schema(schema_with = msisdn)]
    pub from: String,
    #[schema(schema_with = msisdn)]
    pub to: String,
    #[schema(schema_with = timestamp)]
    pub ts: String,
    #[schema(schema_with = nullable_text, required = true)]
    pub text: Option<String>,
}

// The schemas of `store::Stats` and `store::SenderCount`, which the store keeps free of
// OpenAPI.
/// The body of `/stats`.
#[derive(ToSchema)]
pub struct Stats {
    pub total_messages: u64,
    pub senders_count: u64,
    /// The top 10 senders by count, descending; ties by `from` ascending.
    pub messages_per_sender: Vec<SenderCount>,
    /// The `ts` of the earliest message (by instant), as received; null when empty.
    #[schema(schema_with = nullable_timestamp, required = true)]
    pub first_message_ts: Option<String>,
    /// The `ts` of the latest message (by instant), as received; null when empty.
    #[schema(schema_with = nullable_timestamp, required = true)]
    pub last_message_ts: Option<String>,
}

/// One row of the top-senders list.
#[derive(ToSchema)]
pub struct SenderCount {
    #[schema(schema_with = msisdn)]
    pub from: String,
    #[schema(minimum = 1)]
    pub count: u64,
}

/// The body of every error answer except 422.
#[derive(ToSchema)]
#[schema(example = json!({"detail": "invalid signature"}))]
pub struct ErrorBody {
    /// What went wrong, for a person.
    pub detail: String,
}

/// The body of a 422: every broken rule at once, shaped like FastAPI's.
#[derive(ToSchema)]
#[schema(example = json!({"detail": [{"loc": ["body", "from"], "msg":
    "String should match pattern '^\\+[0-9]{1,15}$'", "type": "string_pattern_mismatch"}]}))]
pub struct ValidationErrorBody {
    #[schema(min_items = 1)]
    pub detail: Vec<FieldError>,
}

/// Nothing was promised: the write queue is full or the store could not commit or
/// answer. Retry after the time in `Retry-After`.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))]
pub struct ServiceUnavailable(pub ErrorBody);

/// `API_TOKENS` is set and the request carries none of them as
/// `Authorization: Bearer <token>`.
#[derive(ToResponse)]
#[response(
    headers(("WWW-Authenticate" = String, description = "`Bearer`")),
    example = json!({"detail": "not authenticated"})
)]
pub struct Unauthenticated(pub ErrorBody);

/// The request took longer than `REQUEST_TIMEOUT_SECS`.
#[derive(ToResponse)]
#[response(example = json!({"detail": "request took too long"}))]
pub struct TimedOut(pub ErrorBody);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::is_msisdn;
    use crate::timestamp::Timestamp;

    fn matches(pattern: &str, value: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(value)
    }

    fn timestamp_pattern() -> regex::Regex {
        regex::Regex::new(TIMESTAMP_PATTERN).unwrap()
    }

    #[test]
    fn the_msisdn_pattern_is_the_msisdn_rule() {
        for value in [
            "+1",
            "+919876543210",
            "+123456789012345",
            "+1234567890123456",
            "+",
            "1",
            "+1a",
            "++1",
            " +1",
            "+1 ",
            "+١",
        ] {
            assert_eq!(
                matches(MSISDN_PATTERN, value),
                is_msisdn(value),
                "{value:?}"
            );
        }
    }

    #[test]
    fn the_timestamp_pattern_is_the_timestamp_rule() {
        let pattern = timestamp_pattern();
        let mut rng = fastrand::Rng::with_seed(6);
        let years = [
            "0000", "1900", "1996", "2000", "2023", "2024", "2100", "2400",
        ];
        let fractions = ["", ".", ".5", ".123456789", ".1234567890", ".12a"];
        // Each field runs a little past both of its bounds: most values are near misses.
        for _ in 0..100_000 {
            let mut field = |high: u8| format!("{:02}", rng.u8(0..=high));
            let (month, day, hour, minute, second) =
                (field(13), field(32), field(24), field(60), field(60));
            let value = format!(
                "{}-{month}-{day}T{hour}:{minute}:{second}{}Z",
                years[rng.usize(..years.len())],
                fractions[rng.usize(..fractions.len())],
            );
            assert_eq!(
                pattern.is_match(&value),
                Timestamp::parse(&value).is_ok(),
                "{value}"
            );
        }
        for value in [
            "2024-02-29T00:00:00Z",
            "2025-01-15T10:00:00.5Z",
            "",
            "2025-01-15",
        ] {
            assert_eq!(
                pattern.is_match(value),
                Timestamp::parse(value).is_ok(),
                "{value}"
            );
        }
    }
}
