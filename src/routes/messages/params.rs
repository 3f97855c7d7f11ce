//! The query parameters of `/messages` as the OpenAPI document describes them. The
//! parser beside this file reads the raw query by hand (that is what makes its 422s
//! exact), so the description is written here, from the same constants.

use serde_json::json;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;

use super::{DEFAULT_LIMIT, MAX_LIMIT};

/// `limit`, `offset`, `cursor`, `from`, `since` and `q`, all optional.
pub struct ListQuery;

impl IntoParams for ListQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let integer = |minimum: u64, maximum: Option<u64>, default: u64| {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(minimum as f64))
                .maximum(maximum.map(|maximum| maximum as f64))
                .default(Some(json!(default)))
                .build()
        };
        let string = |pattern: Option<&str>| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(pattern)
                .build()
        };
        let params = [
            (
                "limit",
                "Page size.",
                integer(1, Some(MAX_LIMIT.into()), DEFAULT_LIMIT.into()),
            ),
            (
                "offset",
                "Matching messages to skip. Not together with `cursor`.",
                integer(0, Some(i64::MAX as u64), 0),
            ),
            (
                "cursor",
                "The `next_cursor` of the previous page (an opaque token): continue right \
                 after it. Pass the same filters again. Not together with `offset`.",
                string(Some("^[A-Za-z0-9_-]+$")),
            ),
            (
                "from",
                "Exact sender. A leading space (an unencoded `+`) is read as `+`; empty means \
                 not filtered.",
                string(None),
            ),
            (
                "since",
                "Only messages with `ts >= since`, compared as instants.",
                crate::openapi::timestamp(),
            ),
            (
                "q",
                "Case-insensitive substring of `text`; `%` and `_` are ordinary characters; \
                 messages without text never match. Empty means not filtered.",
                string(None),
            ),
        ];
        params
            .into_iter()
            .map(|(name, description, schema): (_, _, Object)| {
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some(description))
                    .schema(Some(schema))
                    .build()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_the_parser_reads_is_documented() {
        let documented: Vec<String> = ListQuery::into_params(|| None)
            .into_iter()
            .map(|param| param.name)
            .collect();
        assert_eq!(documented, super::super::PARAMS);
    }
}
