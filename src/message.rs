//! The inbound message: a type that can only hold valid values, and the rules that
//! build it from the raw body.

use std::fmt;

use serde::de::value::MapAccessDeserializer;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::timestamp::Timestamp;

/// The most characters (Unicode scalar values, not bytes) `text` may hold.
pub const MAX_TEXT_CHARS: usize = 4096;

/// The most characters `message_id` may hold: enough for any sender's id scheme, and
/// short enough that a cursor naming it stays a few hundred bytes.
pub const MAX_MESSAGE_ID_CHARS: usize = 256;

/// The most digits after the `+` of a phone number (E.164).
pub const MAX_MSISDN_DIGITS: usize = 15;

/// A message that passed every rule of the contract.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub ts: Timestamp,
    pub text: Option<String>,
}

/// A stored message as `/messages` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub message_id: String,
    pub from: String,
    pub to: String,
    pub ts: String,
    pub text: Option<String>,
}

/// One broken rule of an input: where it is, its kind and a sentence for a person.
/// The HTTP layer turns a list of them into the body of a 422.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidField {
    /// Where the problem is: `["body", "from"]`, `["query", "limit"]`, `["body"]`.
    pub loc: Vec<&'static str>,
    /// A stable, machine-readable kind (Pydantic's names where one fits).
    pub kind: &'static str,
    /// A sentence for a person.
    pub msg: String,
}

impl InvalidField {
    pub fn new(loc: Vec<&'static str>, kind: &'static str, msg: impl Into<String>) -> Self {
        Self {
            loc,
            msg: msg.into(),
            kind,
        }
    }
}

/// The body as JSON: the known fields in any JSON type, `None` when absent (a `null`
/// is `Some(Value::Null)`). Serde refuses a known field given twice, which keeps an
/// ambiguous body out.
#[derive(Deserialize)]
struct RawMessage {
    #[serde(default, deserialize_with = "present")]
    message_id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    from: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    to: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    ts: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    text: Option<Value>,
}

/// A field that is there, whatever its value, `null` included.
fn present<'de, D: Deserializer<'de>>(field: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(field).map(Some)
}

/// The body read as a JSON object only: a derived `Deserialize` would also read the
/// fields from an array, in order.
struct JsonObject(RawMessage);

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(body: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> Visitor<'de> for Fields {
            type Value = RawMessage;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, fields: A) -> Result<RawMessage, A::Error> {
                RawMessage::deserialize(MapAccessDeserializer::new(fields))
            }
        }
        body.deserialize_map(Fields).map(Self)
    }
}

impl Message {
    /// Parses and validates a raw webhook body, reporting every broken rule at once.
    pub fn from_json(body: &[u8]) -> Result<Self, Vec<InvalidField>> {
        // serde_json skips unknown fields without checking that they are UTF-8.
        let body = std::str::from_utf8(body).map_err(|error| {
            vec![InvalidField::new(
                vec!["body"],
                "json_invalid",
                format!("JSON decode error: the body is not UTF-8: {error}"),
            )]
        })?;
        let JsonObject(raw) =
            serde_json::from_str(body).map_err(|error| vec![body_error(&error)])?;
        let mut errors = Vec::new();
        let message_id = required_string(raw.message_id, "message_id", &mut errors)
            .and_then(|id| message_id(id, &mut errors));
        let from = required_string(raw.from, "from", &mut errors)
            .and_then(|from| msisdn(from, "from", &mut errors));
        let to =
            required_string(raw.to, "to", &mut errors).and_then(|to| msisdn(to, "to", &mut errors));
        let ts = required_string(raw.ts, "ts", &mut errors)
            .and_then(|ts| timestamp(&ts, &["body", "ts"], &mut errors));
        let text = optional_text(raw.text, &mut errors);
        match (message_id, from, to, ts, text) {
            (Some(message_id), Some(from), Some(to), Some(ts), Some(text)) if errors.is_empty() => {
                Ok(Self {
                    message_id,
                    from,
                    to,
                    ts,
                    text,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Whether `value` is `+` followed by 1 to `MAX_MSISDN_DIGITS` ASCII digits (E.164).
pub fn is_msisdn(value: &str) -> bool {
    value.strip_prefix('+').is_some_and(|digits| {
        (1..=MAX_MSISDN_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// Parses a timestamp field, recording a 422 entry at `loc` when it is invalid.
pub fn timestamp(
    raw: &str,
    loc: &[&'static str],
    errors: &mut Vec<InvalidField>,
) -> Option<Timestamp> {
    Timestamp::parse(raw)
        .map_err(|invalid| {
            errors.push(InvalidField::new(
                loc.to_vec(),
                "datetime_parsing",
                invalid.to_string(),
            ))
        })
        .ok()
}

fn body_error(error: &serde_json::Error) -> InvalidField {
    use serde_json::error::Category;
    match error.classify() {
        Category::Data => InvalidField::new(
            vec!["body"],
            "model_attributes_type",
            format!("Input should be a JSON object with the message fields: {error}"),
        ),
        Category::Syntax | Category::Eof | Category::Io => InvalidField::new(
            vec!["body"],
            "json_invalid",
            format!("JSON decode error: {error}"),
        ),
    }
}

fn required_string(
    value: Option<Value>,
    field: &'static str,
    errors: &mut Vec<InvalidField>,
) -> Option<String> {
    match value {
        Some(Value::String(value)) => Some(value),
        None => {
            errors.push(InvalidField::new(
                vec!["body", field],
                "missing",
                "Field required",
            ));
            None
        }
        Some(_) => {
            errors.push(string_type(field));
            None
        }
    }
}

fn string_type(field: &'static str) -> InvalidField {
    InvalidField::new(
        vec!["body", field],
        "string_type",
        "Input should be a valid string",
    )
}

fn message_id(value: String, errors: &mut Vec<InvalidField>) -> Option<String> {
    let error = if value.is_empty() {
        InvalidField::new(
            vec!["body", "message_id"],
            "string_too_short",
            "String should have at least 1 character",
        )
    } else if value.chars().count() > MAX_MESSAGE_ID_CHARS {
        InvalidField::new(
            vec!["body", "message_id"],
            "string_too_long",
            format!("String should have at most {MAX_MESSAGE_ID_CHARS} characters"),
        )
    } else {
        return Some(value);
    };
    errors.push(error);
    None
}

fn msisdn(value: String, field: &'static str, errors: &mut Vec<InvalidField>) -> Option<String> {
    if !is_msisdn(&value) {
        errors.push(InvalidField::new(
            vec!["body", field],
            "string_pattern_mismatch",
            "String should match pattern '^\\+[0-9]{1,15}$'",
        ));
        return None;
    }
    Some(value)
}

/// `Some(None)` for an absent or null text, `Some(Some(text))` for a valid one.
fn optional_text(value: Option<Value>, errors: &mut Vec<InvalidField>) -> Option<Option<String>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(text)) if text.chars().count() <= MAX_TEXT_CHARS => Some(Some(text)),
        Some(Value::String(_)) => {
            errors.push(InvalidField::new(
                vec!["body", "text"],
                "string_too_long",
                format!("String should have at most {MAX_TEXT_CHARS} characters"),
            ));
            None
        }
        Some(_) => {
            errors.push(string_type("text"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({"message_id": "m1", "from": "+919876543210", "to": "+14155550100",
               "ts": "2025-01-15T10:00:00Z", "text": "Hello"})
    }

    fn with(field: &str, value: Value) -> Vec<u8> {
        let mut body = valid();
        body[field] = value;
        serde_json::to_vec(&body).unwrap()
    }

    fn without(field: &str) -> Vec<u8> {
        let mut body = valid();
        body.as_object_mut().unwrap().remove(field);
        serde_json::to_vec(&body).unwrap()
    }

    fn kinds(body: &[u8]) -> Vec<(Vec<&'static str>, &'static str)> {
        Message::from_json(body)
            .unwrap_err()
            .into_iter()
            .map(|error| (error.loc, error.kind))
            .collect()
    }

    #[test]
    fn a_valid_body_becomes_a_message() {
        let message = Message::from_json(&serde_json::to_vec(&valid()).unwrap()).unwrap();
        assert_eq!(message.message_id, "m1");
        assert_eq!(message.from, "+919876543210");
        assert_eq!(message.ts.as_str(), "2025-01-15T10:00:00Z");
        assert_eq!(message.text.as_deref(), Some("Hello"));
    }

    #[test]
    fn text_may_be_absent_or_null_and_unknown_fields_are_ignored() {
        assert_eq!(Message::from_json(&without("text")).unwrap().text, None);
        assert_eq!(
            Message::from_json(&with("text", Value::Null)).unwrap().text,
            None
        );
        assert!(Message::from_json(&with("extra", json!([1, 2]))).is_ok());
    }

    #[test]
    fn text_is_limited_in_characters_not_bytes() {
        let at_limit = "é".repeat(MAX_TEXT_CHARS);
        assert!(Message::from_json(&with("text", json!(at_limit))).is_ok());
        let over = "a".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(
            kinds(&with("text", json!(over))),
            [(vec!["body", "text"], "string_too_long")]
        );
    }

    #[test]
    fn each_field_rule_names_its_field() {
        let cases = [
            (
                with("message_id", json!("")),
                "message_id",
                "string_too_short",
            ),
            (without("message_id"), "message_id", "missing"),
            (with("message_id", json!(7)), "message_id", "string_type"),
            (
                with("from", json!("919876543210")),
                "from",
                "string_pattern_mismatch",
            ),
            (with("from", json!("+")), "from", "string_pattern_mismatch"),
            (
                with("message_id", json!("m".repeat(MAX_MESSAGE_ID_CHARS + 1))),
                "message_id",
                "string_too_long",
            ),
            (
                with(
                    "from",
                    json!(format!("+{}", "9".repeat(MAX_MSISDN_DIGITS + 1))),
                ),
                "from",
                "string_pattern_mismatch",
            ),
            (
                with("from", json!("+91 98765")),
                "from",
                "string_pattern_mismatch",
            ),
            (
                with("to", json!("+1415555010a")),
                "to",
                "string_pattern_mismatch",
            ),
            (
                with("ts", json!("2025-13-45T10:00:00Z")),
                "ts",
                "datetime_parsing",
            ),
            (with("ts", json!(1736935200)), "ts", "string_type"),
            (with("text", json!(["Hello"])), "text", "string_type"),
        ];
        for (body, field, kind) in cases {
            assert_eq!(
                kinds(&body),
                [(vec!["body", field], kind)],
                "{field} {kind}"
            );
        }
    }

    #[test]
    fn fields_at_their_limits_are_accepted() {
        let mut body = valid();
        body["message_id"] = json!("é".repeat(MAX_MESSAGE_ID_CHARS));
        body["from"] = json!(format!("+{}", "1".repeat(MAX_MSISDN_DIGITS)));
        body["to"] = json!("+1");
        assert!(Message::from_json(&serde_json::to_vec(&body).unwrap()).is_ok());
    }

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let body = br#"{"message_id": "", "from": "x", "to": "y", "ts": "z"}"#;
        let mut fields: Vec<_> = kinds(body).into_iter().map(|(loc, _)| loc).collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                ["body", "from"],
                ["body", "message_id"],
                ["body", "to"],
                ["body", "ts"]
            ]
        );
    }

    #[test]
    fn bodies_that_are_not_one_json_object_are_refused() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"\"m1\"",
            b"null",
            b"{\"message_id\":",
            b"\xff\xfe",
        ] {
            let errors = kinds(body);
            assert_eq!(errors.len(), 1);
            assert_eq!(errors[0].0, ["body"]);
        }
    }

    #[test]
    fn a_field_given_twice_is_refused() {
        let body = br#"{"message_id": "m1", "message_id": "m2", "from": "+1", "to": "+2",
                        "ts": "2025-01-15T10:00:00Z"}"#;
        assert_eq!(kinds(body), [(vec!["body"], "model_attributes_type")]);
    }
}
