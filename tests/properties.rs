//! Property-based tests of the two pure gates every webhook passes: signature
//! verification and message validation.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{Map, Value};
use webhook_inbox::config::Secret;
use webhook_inbox::message::{Message, MAX_TEXT_CHARS};
use webhook_inbox::signature::{sign, verify_signature, SignatureError};

const FIELDS: [&str; 5] = ["message_id", "from", "to", "ts", "text"];

fn secrets() -> impl Strategy<Value = String> {
    ".{1,64}"
}

fn bodies() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..2048)
}

/// `^\+[0-9]{1,15}$`, written out independently of the service's own check.
fn is_msisdn(value: &str) -> bool {
    let mut chars = value.chars();
    chars.next() == Some('+')
        && (2..=16).contains(&value.len())
        && chars.all(|c| c.is_ascii_digit())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    const DAYS: [u32; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    DAYS[(month - 1) as usize] + u32::from(month == 2 && leap)
}

/// A real instant in the contract's format, with 0 to 9 fractional digits.
fn valid_timestamps() -> impl Strategy<Value = String> {
    (
        0u32..=9999,
        1u32..=12,
        0u32..24,
        0u32..60,
        0u32..60,
        "[0-9]{0,9}",
    )
        .prop_flat_map(|(year, month, hour, minute, second, fraction)| {
            let days = days_in_month(year, month);
            (1..=days).prop_map(move |day| {
                let fraction = match fraction.as_str() {
                    "" => String::new(),
                    digits => format!(".{digits}"),
                };
                format!(
                    "{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}{fraction}Z"
                )
            })
        })
}

fn invalid_timestamps() -> impl Strategy<Value = String> {
    prop_oneof![
        // Out-of-range parts.
        (13u32..100).prop_map(|month| format!("2025-{month:02}-15T10:00:00Z")),
        Just("2025-00-15T10:00:00Z".to_owned()),
        Just("2025-01-00T10:00:00Z".to_owned()),
        (1u32..=12).prop_map(|month| format!(
            "2025-{month:02}-{:02}T10:00:00Z",
            days_in_month(2025, month) + 1
        )),
        (24u32..100).prop_map(|hour| format!("2025-01-15T{hour:02}:00:00Z")),
        (60u32..100).prop_map(|minute| format!("2025-01-15T10:{minute:02}:00Z")),
        (60u32..100).prop_map(|second| format!("2025-01-15T10:00:{second:02}Z")),
        "[0-9]{10,20}".prop_map(|fraction| format!("2025-01-15T10:00:00.{fraction}Z")),
        // Other shapes: no Z, offsets, lower case, spaces, truncation.
        "[a-zA-Y0-9:. +-]{0,30}",
        valid_timestamps().prop_map(|ts| ts.replace('T', " ")),
        valid_timestamps().prop_map(|ts| ts.to_lowercase()),
        valid_timestamps().prop_map(|ts| format!("{}+00:00", &ts[..ts.len() - 1])),
        valid_timestamps().prop_map(|ts| format!(" {ts}")),
        valid_timestamps().prop_map(|ts| format!("{ts}Z")),
    ]
}

fn msisdns() -> impl Strategy<Value = String> {
    "\\+[0-9]{1,15}"
}

fn texts() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => proptest::option::of(".{0,64}"),
        1 => Just(Some("é".repeat(MAX_TEXT_CHARS))),
        1 => (0..MAX_TEXT_CHARS).prop_map(|n| Some("x".repeat(n))),
    ]
}

fn non_strings() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Array(vec![Value::from("+1")])),
        Just(Value::Object(Map::new())),
    ]
}

/// One field: `None` when absent, and whether the contract accepts it.
type Field = (Option<Value>, bool);

fn message_id_fields() -> impl Strategy<Value = Field> {
    prop_oneof![
        3 => ".{1,40}".prop_map(|id| (Some(Value::from(id)), true)),
        1 => ".{256}".prop_map(|id| (Some(Value::from(id)), true)),
        1 => ".{257,300}".prop_map(|id| (Some(Value::from(id)), false)),
        1 => Just((Some(Value::from("")), false)),
        1 => Just((None, false)),
        1 => Just((Some(Value::Null), false)),
        1 => non_strings().prop_map(|value| (Some(value), false)),
    ]
}

fn msisdn_fields() -> impl Strategy<Value = Field> {
    prop_oneof![
        3 => msisdns().prop_map(|value| (Some(Value::from(value)), true)),
        1 => "[0-9]{0,12}".prop_map(|value| (Some(Value::from(value)), false)),
        1 => "\\+[0-9]{0,6}[^0-9][0-9]{0,6}".prop_map(|value| (Some(Value::from(value)), false)),
        1 => msisdns().prop_map(|value| (Some(Value::from(format!("{value} "))), false)),
        1 => "\\+[0-9]{16,20}".prop_map(|value| (Some(Value::from(value)), false)),
        1 => Just((None, false)),
        1 => non_strings().prop_map(|value| (Some(value), false)),
    ]
}

fn ts_fields() -> impl Strategy<Value = Field> {
    prop_oneof![
        3 => valid_timestamps().prop_map(|ts| (Some(Value::from(ts)), true)),
        2 => invalid_timestamps().prop_map(|ts| (Some(Value::from(ts)), false)),
        1 => Just((None, false)),
        1 => non_strings().prop_map(|value| (Some(value), false)),
    ]
}

fn text_fields() -> impl Strategy<Value = Field> {
    prop_oneof![
        3 => texts().prop_map(|text| (text.map(Value::from), true)),
        1 => Just((Some(Value::Null), true)),
        1 => (MAX_TEXT_CHARS + 1..MAX_TEXT_CHARS + 100)
            .prop_map(|n| (Some(Value::from("y".repeat(n))), false)),
        1 => non_strings().prop_map(|value| (Some(value), false)),
    ]
}

fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(
        (
            "[a-z_]{1,12}"
                .prop_filter("not a message field", |key| !FIELDS.contains(&key.as_str())),
            json_values(),
        ),
        0..4,
    )
}

/// Any JSON value, nested a few levels.
fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::from),
        msisdns().prop_map(Value::from),
        valid_timestamps().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((field_names(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Keys that are often the message fields, sometimes not.
fn field_names() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

/// A valid message as a JSON object.
fn valid_objects() -> impl Strategy<Value = Map<String, Value>> {
    (".{1,40}", msisdns(), msisdns(), valid_timestamps(), texts()).prop_map(
        |(message_id, from, to, ts, text)| {
            let mut object = Map::new();
            object.insert("message_id".into(), Value::from(message_id));
            object.insert("from".into(), Value::from(from));
            object.insert("to".into(), Value::from(to));
            object.insert("ts".into(), Value::from(ts));
            object.insert("text".into(), Value::from(text));
            object
        },
    )
}

/// A JSON object built field by field, and the fields the contract refuses in it.
fn judged_objects() -> impl Strategy<Value = (Value, BTreeSet<&'static str>)> {
    (
        message_id_fields(),
        msisdn_fields(),
        msisdn_fields(),
        ts_fields(),
        text_fields(),
        unknown_fields(),
    )
        .prop_map(|(message_id, from, to, ts, text, unknown)| {
            let mut object: Map<String, Value> = unknown.into_iter().collect();
            let mut refused = BTreeSet::new();
            for (name, (value, valid)) in FIELDS.into_iter().zip([message_id, from, to, ts, text]) {
                if let Some(value) = value {
                    object.insert(name.to_owned(), value);
                }
                if !valid {
                    refused.insert(name);
                }
            }
            (Value::Object(object), refused)
        })
}

/// Every rule of the contract holds for `message`, which was parsed from `object`.
fn assert_follows_the_rules(message: &Message, object: &Value) -> Result<(), TestCaseError> {
    prop_assert!(!message.message_id.is_empty());
    prop_assert!(is_msisdn(&message.from), "from {:?}", message.from);
    prop_assert!(is_msisdn(&message.to), "to {:?}", message.to);
    let ts = message.ts.as_str();
    prop_assert!(ts.ends_with('Z') && ts.len() >= 20, "ts {ts:?}");
    if let Some(text) = &message.text {
        prop_assert!(text.chars().count() <= MAX_TEXT_CHARS);
    }
    prop_assert_eq!(
        &object["message_id"],
        &Value::from(message.message_id.as_str())
    );
    prop_assert_eq!(&object["from"], &Value::from(message.from.as_str()));
    prop_assert_eq!(&object["to"], &Value::from(message.to.as_str()));
    prop_assert_eq!(&object["ts"], &Value::from(ts));
    prop_assert_eq!(&object["text"], &Value::from(message.text.clone()));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_body_signed_with_the_secret_verifies(secret in secrets(), body in bodies()) {
        let secret = Secret::new(secret);
        let signature = sign(&secret, &body);

        prop_assert_eq!(signature.len(), 64);
        prop_assert_eq!(verify_signature(&secret, &body, Some(signature.as_bytes())), Ok(()));
        let upper = signature.to_ascii_uppercase();
        prop_assert_eq!(verify_signature(&secret, &body, Some(upper.as_bytes())), Ok(()));
    }

    #[test]
    fn changing_any_byte_of_a_signed_body_fails_verification(
        secret in secrets(),
        body in prop::collection::vec(any::<u8>(), 1..2048),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let secret = Secret::new(secret);
        let signature = sign(&secret, &body);
        let mut changed = body.clone();
        changed[index.index(body.len())] ^= flip;

        prop_assert_eq!(
            verify_signature(&secret, &changed, Some(signature.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn changing_any_hex_digit_of_the_signature_fails_verification(
        secret in secrets(),
        body in bodies(),
        position in 0usize..64,
        delta in 1u32..16,
        upper in any::<bool>(),
    ) {
        let secret = Secret::new(secret);
        let mut signature: Vec<char> = sign(&secret, &body).chars().collect();
        let digit = signature[position].to_digit(16).expect("hex digit");
        let replacement = char::from_digit((digit + delta) % 16, 16).expect("hex digit");
        signature[position] = if upper { replacement.to_ascii_uppercase() } else { replacement };
        let signature: String = signature.into_iter().collect();

        prop_assert_eq!(
            verify_signature(&secret, &body, Some(signature.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_signature_of_another_length_or_under_another_secret_fails(
        secret in secrets(),
        other in secrets(),
        body in bodies(),
        cut in 1usize..64,
        extra in "[0-9a-f]{1,8}",
    ) {
        prop_assume!(secret != other);
        let secret = Secret::new(secret);
        let signature = sign(&secret, &body);

        for wrong in [signature[..64 - cut].to_owned(), format!("{signature}{extra}")] {
            prop_assert!(verify_signature(&secret, &body, Some(wrong.as_bytes())).is_err());
        }
        let foreign = sign(&Secret::new(other), &body);
        prop_assert_eq!(
            verify_signature(&secret, &body, Some(foreign.as_bytes())),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn parsing_arbitrary_bytes_never_panics_and_explains_every_refusal(body in bodies()) {
        match Message::from_json(&body) {
            Ok(message) => {
                let object: Value = serde_json::from_slice(&body).expect("a message is JSON");
                assert_follows_the_rules(&message, &object)?;
            }
            Err(errors) => prop_assert!(!errors.is_empty()),
        }
    }

    #[test]
    fn any_json_object_becomes_a_valid_message_or_a_list_of_errors(
        // Arbitrary pairs alone are almost never a valid message; over a valid one,
        // they often still are.
        base in prop_oneof![Just(Map::new()), valid_objects()],
        pairs in prop::collection::vec((field_names(), json_values()), 0..8),
    ) {
        let mut object = base;
        object.extend(pairs);
        let object = Value::Object(object);
        let body = serde_json::to_vec(&object).expect("serialize");

        match Message::from_json(&body) {
            Ok(message) => assert_follows_the_rules(&message, &object)?,
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for error in errors {
                    prop_assert_eq!(error.loc.first(), Some(&"body"));
                    prop_assert!(!error.msg.is_empty());
                }
            }
        }
    }

    #[test]
    fn exactly_the_fields_that_break_a_rule_are_reported((object, refused) in judged_objects()) {
        let body = serde_json::to_vec(&object).expect("serialize");

        match Message::from_json(&body) {
            Ok(message) => {
                prop_assert!(refused.is_empty(), "accepted despite {refused:?}: {object}");
                assert_follows_the_rules(&message, &object)?;
            }
            Err(errors) => {
                let reported: BTreeSet<&str> = errors
                    .iter()
                    .map(|error| {
                        assert_eq!(error.loc.len(), 2, "{error:?}");
                        error.loc[1]
                    })
                    .collect();
                prop_assert_eq!(reported, refused, "{}", object);
            }
        }
    }

    #[test]
    fn valid_messages_parse_and_keep_every_field(
        message_id in ".{1,40}",
        from in msisdns(),
        to in msisdns(),
        ts in valid_timestamps(),
        text in texts(),
        unknown in unknown_fields(),
        pretty in any::<bool>(),
    ) {
        let mut object: Map<String, Value> = unknown.into_iter().collect();
        object.insert("message_id".into(), Value::from(message_id.as_str()));
        object.insert("from".into(), Value::from(from.as_str()));
        object.insert("to".into(), Value::from(to.as_str()));
        object.insert("ts".into(), Value::from(ts.as_str()));
        if let Some(text) = &text {
            object.insert("text".into(), Value::from(text.as_str()));
        }
        let object = Value::Object(object);
        let body = if pretty {
            serde_json::to_vec_pretty(&object)
        } else {
            serde_json::to_vec(&object)
        }
        .expect("serialize");

        let message = Message::from_json(&body).map_err(|errors| {
            TestCaseError::fail(format!("refused {object}: {errors:?}"))
        })?;

        prop_assert_eq!(message.message_id, message_id);
        prop_assert_eq!(message.from, from);
        prop_assert_eq!(message.to, to);
        prop_assert_eq!(message.ts.as_str(), ts);
        prop_assert_eq!(message.text, text);
    }
}
