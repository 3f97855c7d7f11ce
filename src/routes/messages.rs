//! `GET /messages`: a filtered, paginated list in `ts, message_id` order.

use std::borrow::Cow;
use std::num::IntErrorKind;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use percent_encoding::percent_decode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::message::{timestamp, InvalidField, StoredMessage};
use crate::openapi::{ServiceUnavailable, TimedOut, Unauthenticated, ValidationErrorBody};
use crate::routes::error::ApiError;
use crate::routes::Authorized;
use crate::store::{Cursor, MessageFilter, PageStart};

mod params;

pub use params::ListQuery;

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// Every query parameter `/messages` reads; others are ignored.
const PARAMS: [&str; 6] = ["limit", "offset", "cursor", "from", "since", "q"];

/// One page of `/messages`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesPage {
    /// In `ts` (as an instant) then `message_id` order.
    #[schema(value_type = Vec<crate::openapi::StoredMessage>)]
    data: Vec<StoredMessage>,
    /// Every message matching the filters, ignoring `limit`, `offset` and `cursor`.
    total: u64,
    /// The page size applied.
    #[schema(minimum = 1, maximum = 100)]
    limit: u32,
    /// The offset applied (0 when paging by cursor).
    offset: u64,
    /// Pass as `?cursor=` (with the same filters) for the next page; null on the last.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// A filtered page of messages, oldest first.
#[utoipa::path(
    get,
    path = "/messages",
    tag = "messages",
    params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, body = MessagesPage, description = "One page of matching messages"),
        (status = 401, response = Unauthenticated),
        (status = 408, response = TimedOut),
        (status = 422, body = ValidationErrorBody, description = "A parameter is out of range, \
            not an integer, not a timestamp, not one of our cursors, given twice, or a cursor \
            is given with an offset; `loc` is `[\"query\", name]`"),
        (status = 503, response = ServiceUnavailable),
    )
)]
pub async fn list_messages(
    _: Authorized,
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Json<MessagesPage>, ApiError> {
    let params = ListParams::parse(query.as_deref().unwrap_or_default())?;
    let page = state
        .store
        .list(&params.filter, params.limit, &params.start)
        .await?;
    let offset = match params.start {
        PageStart::Offset(offset) => offset,
        PageStart::After(_) => 0,
    };
    Ok(Json(MessagesPage {
        data: page.data,
        total: page.total,
        limit: params.limit,
        offset,
        next_cursor: page.next.map(|cursor| cursor.encode()),
    }))
}

/// The validated query string of `/messages`.
#[derive(Debug)]
struct ListParams {
    filter: MessageFilter,
    limit: u32,
    start: PageStart,
}

impl ListParams {
    /// Parses the raw query string, reporting every bad parameter at once. Unknown
    /// parameters are ignored; a known one given twice is refused as ambiguous.
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let mut params = Self {
            filter: MessageFilter::default(),
            limit: DEFAULT_LIMIT,
            start: PageStart::Offset(0),
        };
        let mut cursor = None;
        let mut seen: Vec<&'static str> = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let Some(name) = known_name(&decode(raw_name).unwrap_or_default()) else {
                continue;
            };
            if seen.contains(&name) {
                errors.push(InvalidField::new(
                    vec!["query", name],
                    "multiple_values",
                    "Give this parameter at most once",
                ));
                continue;
            }
            seen.push(name);
            let Some(value) = decode(raw_value) else {
                errors.push(InvalidField::new(
                    vec!["query", name],
                    "string_unicode",
                    "Input should be a valid string, unable to parse raw data as a unicode string",
                ));
                continue;
            };
            match name {
                "limit" => {
                    if let Some(limit) = integer(&value, name, 1, MAX_LIMIT.into(), &mut errors) {
                        params.limit = u32::try_from(limit).unwrap_or(MAX_LIMIT);
                    }
                }
                "offset" => {
                    if let Some(offset) = integer(&value, name, 0, i64::MAX as u64, &mut errors) {
                        params.start = PageStart::Offset(offset);
                    }
                }
                "cursor" => match Cursor::decode(&value) {
                    Some(decoded) => cursor = Some(decoded),
                    None => errors.push(InvalidField::new(
                        vec!["query", "cursor"],
                        "cursor_invalid",
                        "Input should be a next_cursor value returned by this service",
                    )),
                },
                "since" => {
                    params.filter.since = timestamp(&value, &["query", "since"], &mut errors);
                }
                // A `+` that was not URL-encoded arrives as a space.
                "from" if !value.is_empty() => {
                    params.filter.from = Some(match value.strip_prefix(' ') {
                        Some(digits) => format!("+{digits}"),
                        None => value.into_owned(),
                    });
                }
                "q" if !value.is_empty() => params.filter.q = Some(value.into_owned()),
                _ => {}
            }
        }
        if let Some(cursor) = cursor {
            if seen.contains(&"offset") {
                errors.push(InvalidField::new(
                    vec!["query", "cursor"],
                    "cursor_with_offset",
                    "Give either cursor or offset, not both",
                ));
            }
            params.start = PageStart::After(cursor);
        }
        if errors.is_empty() {
            Ok(params)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

fn known_name(name: &str) -> Option<&'static str> {
    PARAMS.into_iter().find(|known| *known == name)
}

/// Form decoding: `+` is a space, `%XX` a byte; `None` when the bytes are not UTF-8.
fn decode(raw: &str) -> Option<Cow<'_, str>> {
    let spaced = if raw.contains('+') {
        Cow::Owned(raw.replace('+', " "))
    } else {
        Cow::Borrowed(raw)
    };
    let bytes: Cow<'_, [u8]> = percent_decode(spaced.as_bytes()).into();
    match String::from_utf8(bytes.into_owned()) {
        Ok(text) => Some(Cow::Owned(text)),
        Err(_) => None,
    }
}

fn integer(
    raw: &str,
    name: &'static str,
    min: u64,
    max: u64,
    errors: &mut Vec<InvalidField>,
) -> Option<u64> {
    // An integer too large for i128 is still an integer, out of range.
    let parsed = raw
        .trim()
        .parse::<i128>()
        .or_else(|error| match error.kind() {
            IntErrorKind::PosOverflow => Ok(i128::MAX),
            IntErrorKind::NegOverflow => Ok(i128::MIN),
            _ => Err(error),
        });
    let error = match parsed {
        Ok(value) if value < i128::from(min) => InvalidField::new(
            vec!["query", name],
            "greater_than_equal",
            format!("Input should be greater than or equal to {min}"),
        ),
        Ok(value) if value > i128::from(max) => InvalidField::new(
            vec!["query", name],
            "less_than_equal",
            format!("Input should be less than or equal to {max}"),
        ),
        Ok(value) => return u64::try_from(value).ok(),
        Err(_) => InvalidField::new(
            vec!["query", name],
            "int_parsing",
            "Input should be a valid integer, unable to parse string as an integer",
        ),
    };
    errors.push(error);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(query: &str) -> Vec<(Vec<&'static str>, &'static str)> {
        match ListParams::parse(query) {
            Err(ApiError::Validation(errors)) => {
                errors.into_iter().map(|e| (e.loc, e.kind)).collect()
            }
            other => panic!("expected a validation error for {query:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_when_nothing_is_given() {
        let params = ListParams::parse("").unwrap();
        assert_eq!(
            (params.limit, params.start),
            (DEFAULT_LIMIT, PageStart::Offset(0))
        );
        assert!(params.filter.from.is_none() && params.filter.q.is_none());
    }

    #[test]
    fn an_unencoded_plus_in_from_is_restored() {
        for query in [
            "from=+919876543210",
            "from=%2B919876543210",
            "from=%20919876543210",
        ] {
            let params = ListParams::parse(query).unwrap();
            assert_eq!(
                params.filter.from.as_deref(),
                Some("+919876543210"),
                "{query}"
            );
        }
    }

    #[test]
    fn q_is_decoded_literally() {
        let params = ListParams::parse("q=50%25+off_now").unwrap();
        assert_eq!(params.filter.q.as_deref(), Some("50% off_now"));
    }

    #[test]
    fn limits_and_offsets_outside_their_ranges_are_refused() {
        assert_eq!(
            errors("limit=0"),
            [(vec!["query", "limit"], "greater_than_equal")]
        );
        assert_eq!(
            errors("limit=101"),
            [(vec!["query", "limit"], "less_than_equal")]
        );
        assert_eq!(
            errors("limit=1e9"),
            [(vec!["query", "limit"], "int_parsing")]
        );
        assert_eq!(errors("limit="), [(vec!["query", "limit"], "int_parsing")]);
        assert_eq!(
            errors("offset=-1"),
            [(vec!["query", "offset"], "greater_than_equal")]
        );
        assert_eq!(errors("offset=abc&limit=x").len(), 2);
        let huge = "9".repeat(40);
        assert_eq!(
            errors(&format!("limit={huge}&offset=-{huge}")),
            [
                (vec!["query", "limit"], "less_than_equal"),
                (vec!["query", "offset"], "greater_than_equal")
            ]
        );
    }

    #[test]
    fn since_must_be_a_contract_timestamp() {
        assert!(ListParams::parse("since=2025-01-15T10:00:00.5Z").is_ok());
        assert_eq!(
            errors("since=yesterday"),
            [(vec!["query", "since"], "datetime_parsing")]
        );
        assert_eq!(
            errors("since="),
            [(vec!["query", "since"], "datetime_parsing")]
        );
    }

    #[test]
    fn a_cursor_must_be_one_of_ours_and_excludes_offset() {
        assert_eq!(
            errors("cursor=abc"),
            [(vec!["query", "cursor"], "cursor_invalid")]
        );
        use base64::Engine;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode("2025-01-15T10:00:00.000000000Zm1");
        let params = ListParams::parse(&format!("cursor={token}")).unwrap();
        assert!(matches!(params.start, PageStart::After(_)));
        assert_eq!(
            errors(&format!("cursor={token}&offset=0")),
            [(vec!["query", "cursor"], "cursor_with_offset")]
        );
    }

    #[test]
    fn repeated_and_undecodable_parameters_are_refused() {
        assert_eq!(
            errors("limit=1&limit=2"),
            [(vec!["query", "limit"], "multiple_values")]
        );
        assert_eq!(errors("q=%FF"), [(vec!["query", "q"], "string_unicode")]);
    }
}
