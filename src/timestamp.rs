//! The `ts` format of the contract: ISO-8601 UTC with a `Z` suffix and up to nine
//! fractional digits, a real calendar date and time.

use std::fmt;

/// A timestamp as received, plus a key that sorts as the instant it denotes.
///
/// The key is the same instant written with exactly nine fractional digits, so string
/// order is time order: `10:00:00Z` becomes `10:00:00.000000000Z` and sorts before
/// `10:00:00.5Z` (`10:00:00.500000000Z`).
#[derive(Clone, PartialEq, Eq)]
pub struct Timestamp {
    raw: String,
    key: String,
}

/// Why a string is not a contract timestamp.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidTimestamp;

impl fmt::Display for InvalidTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "Input should be an ISO-8601 UTC timestamp such as 2025-01-15T10:00:00Z \
             (optionally with up to 9 fractional digits) naming a real date and time",
        )
    }
}

impl Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`.
    pub fn parse(raw: &str) -> Result<Self, InvalidTimestamp> {
        let bytes = raw.as_bytes();
        let (head, fraction) = match bytes {
            [head @ .., b'Z'] if head.len() == 19 => (head, &[][..]),
            [head @ .., b'Z'] if head.len() > 20 && head[19] == b'.' => (&head[..19], &head[20..]),
            _ => return Err(InvalidTimestamp),
        };
        let shape_ok = head.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
        if !shape_ok || fraction.len() > 9 || !fraction.iter().all(u8::is_ascii_digit) {
            return Err(InvalidTimestamp);
        }
        let number = |range: std::ops::Range<usize>| {
            head[range]
                .iter()
                .fold(0u32, |n, &digit| n * 10 + u32::from(digit - b'0'))
        };
        let (year, month, day) = (number(0..4), number(5..7), number(8..10));
        let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
        let date_ok = (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day);
        if !date_ok || hour > 23 || minute > 59 || second > 59 {
            return Err(InvalidTimestamp);
        }
        let fraction = std::str::from_utf8(fraction).map_err(|_| InvalidTimestamp)?;
        let head = &raw[..19];
        Ok(Self {
            raw: raw.to_owned(),
            key: format!("{head}.{fraction:0<9}Z"),
        })
    }

    /// The timestamp exactly as received.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// A string whose order is the order of the instants.
    pub fn sort_key(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_whole_and_fractional_seconds() {
        for raw in [
            "2025-01-15T10:00:00Z",
            "2025-01-15T10:00:00.1Z",
            "2025-01-15T10:00:00.123Z",
            "2025-01-15T10:00:00.123456789Z",
            "2024-02-29T23:59:59Z",
            "2000-02-29T00:00:00Z",
        ] {
            assert_eq!(Timestamp::parse(raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn rejects_unreal_dates_and_other_formats() {
        for raw in [
            "2025-13-45T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "1900-02-29T10:00:00Z",
            "2025-04-31T10:00:00Z",
            "2025-01-00T10:00:00Z",
            "2025-01-15T24:00:00Z",
            "2025-01-15T10:60:00Z",
            "2025-01-15T10:00:60Z",
            "2025-01-15T10:00:00",
            "2025-01-15T10:00:00+00:00",
            "2025-01-15 10:00:00Z",
            "2025-01-15t10:00:00z",
            "2025-01-15T10:00:00.Z",
            "2025-01-15T10:00:00.1234567890Z",
            "2025-01-15T10:00Z",
            "2025-1-15T10:00:00Z",
            "+2025-01-15T10:00:00Z",
            "２０２５-01-15T10:00:00Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(raw), Err(InvalidTimestamp), "{raw}");
        }
    }

    #[test]
    fn sort_keys_order_by_instant_not_by_text() {
        let key = |raw| Timestamp::parse(raw).unwrap().sort_key().to_owned();
        assert!(key("2025-01-15T10:00:00Z") < key("2025-01-15T10:00:00.5Z"));
        assert!(key("2025-01-15T10:00:00.5Z") < key("2025-01-15T10:00:01Z"));
        assert_eq!(key("2025-01-15T10:00:00Z"), key("2025-01-15T10:00:00.000Z"));
        assert_eq!(
            key("2025-01-15T10:00:00.5Z"),
            "2025-01-15T10:00:00.500000000Z"
        );
    }
}
