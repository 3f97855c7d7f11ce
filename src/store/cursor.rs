//! Keyset pagination: a cursor names the last row of a page in the fixed
//! `ts, message_id` order, so the next page starts right after it at the cost of
//! an index seek, however deep it is.

use crate::timestamp::Timestamp;

/// A position in `ts, message_id` order. Opaque to clients: they get it as
/// `next_cursor` and hand it back as `?cursor=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub(super) ts_key: String,
    pub(super) message_id: String,
}

impl Cursor {
    pub(super) fn new(ts_key: String, message_id: String) -> Self {
        Self { ts_key, message_id }
    }

    /// The token a client sends back: hex of the sort key followed by the id.
    pub fn encode(&self) -> String {
        hex::encode(format!("{}{}", self.ts_key, self.message_id))
    }

    /// Reads a token made by `encode`; `None` for anything else.
    pub fn decode(token: &str) -> Option<Self> {
        let text = String::from_utf8(hex::decode(token).ok()?).ok()?;
        let key_length = "2025-01-15T10:00:00.000000000Z".len();
        let (ts_key, message_id) = (text.get(..key_length)?, text.get(key_length..)?);
        let parsed = Timestamp::parse(ts_key).ok()?;
        (parsed.sort_key() == ts_key && !message_id.is_empty())
            .then(|| Self::new(ts_key.to_owned(), message_id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_own_encoding() {
        let cursor = Cursor::new("2025-01-15T10:00:00.500000000Z".into(), "m-ü\n1".into());
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let not_a_key = hex::encode("2025-01-15T10:00:00Zm1");
        for token in ["", "zz", "00", not_a_key.as_str()] {
            assert_eq!(Cursor::decode(token), None, "{token}");
        }
    }
}
