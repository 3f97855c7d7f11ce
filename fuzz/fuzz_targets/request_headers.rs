//! What the service reads from request headers and the query before any handler
//! trusts it: the `X-Request-ID` rule and the paging cursor. Nothing may panic, an
//! accepted request id is 1 to 128 visible ASCII characters, and a cursor that decodes
//! encodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use webhook_inbox::store::Cursor;
use webhook_inbox::telemetry::is_acceptable_request_id;

fuzz_target!(|data: &[u8]| {
    if is_acceptable_request_id(data) {
        assert!((1..=128).contains(&data.len()));
        assert!(data.iter().all(|b| (0x21..=0x7e).contains(b)));
    }

    if let Ok(token) = std::str::from_utf8(data) {
        if let Some(cursor) = Cursor::decode(token) {
            assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }
    }
});
