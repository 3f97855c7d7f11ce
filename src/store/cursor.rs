//! Keyset pagination: a cursor names the last row of a page in the fixed
//! `ts, message_id` order, so the next page starts right after it at the cost of
//! an index seek, however deep it is.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

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

    /// The token a client sends back: the sort key followed by the id, in URL-safe
    /// base64. An id of `MAX_MESSAGE_ID_CHARS` ASCII characters makes 382 bytes.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}", self.ts_key, self.message_id))
    }

    /// Reads a token made by `encode`; `None` for anything else.
    pub fn decode(token: &str) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
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
    fn the_longest_ascii_id_makes_a_cursor_of_a_few_hundred_bytes() {
        let id = "m".repeat(crate::message::MAX_MESSAGE_ID_CHARS);
        let cursor = Cursor::new("2025-01-15T10:00:00.500000000Z".into(), id);
        assert!(cursor.encode().len() <= 400, "{}", cursor.encode().len());
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }

    #[test]
    fn anything_else_is_not_a_cursor() {
        let not_a_key = URL_SAFE_NO_PAD.encode("2025-01-15T10:00:00Zm1");
        for token in ["", "zz", "00", not_a_key.as_str()] {
            assert_eq!(Cursor::decode(token), None, "{token}");
        }
    }
}
