//! The messages the load generator sends: message `number` of a run, from one of `senders`
//! senders in turn, a millisecond after the one before, with one of a few short texts.

/// Every message's recipient.
pub const TO: &str = "+14155550100";
const TEXTS: [&str; 5] = [
    "Hello",
    "Order shipped",
    "Your code is 123456",
    "See you at 5",
    "Thanks!",
];

/// Message `number`'s fields; none needs escaping in JSON.
pub struct Fields {
    pub message_id: String,
    pub from: String,
    pub ts: String,
    pub text: String,
}

pub fn fields(prefix: &str, number: usize, senders: usize) -> Fields {
    Fields {
        message_id: format!("{prefix}-{number}"),
        from: format!("+9198{:08}", number % senders.max(1)),
        ts: format!(
            "2025-01-15T{:02}:{:02}:{:02}.{:03}Z",
            (number / 3_600_000) % 24,
            (number / 60_000) % 60,
            (number / 1000) % 60,
            number % 1000,
        ),
        text: format!("{} #{number}", TEXTS[number % TEXTS.len()]),
    }
}
