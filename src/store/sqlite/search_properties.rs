//! Property test: on random messages (non-ASCII, `%`, `_`, missing text, tied
//! timestamps), every way the store can answer `/messages` gives exactly what a
//! naive filter over the same messages gives.

use sqlx::sqlite::SqlitePoolOptions;

use super::count::{count_rows, TextSearch};
use super::insert_messages;
use super::reads::page;
use super::sender_order::{SenderOrder, WindowCopy};
use crate::message::Message;
use crate::store::{fold_case, MessageFilter, PageStart};
use crate::timestamp::Timestamp;

const SENDERS: [&str; 4] = ["+1", "+22", "+333", "+4444"];
/// Pieces of text, chosen for case folding beyond ASCII and for LIKE's wildcards.
const PIECES: [&str; 16] = [
    "a", "A", "é", "É", "ß", "ẞ", "%", "_", " ", "İ", "ö", "Ö", "ab", "x", "🚀", "Σσς",
];

struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }

    /// Up to `max_pieces` pieces of text, at least one.
    fn text(&mut self, max_pieces: usize) -> String {
        let pieces = 1 + self.below(max_pieces);
        (0..pieces)
            .map(|_| PIECES[self.below(PIECES.len())])
            .collect()
    }

    fn ts(&mut self) -> Timestamp {
        let fraction = ["", ".5", ".50", ".000", ".25"][self.below(5)];
        let raw = format!("2025-01-15T10:00:{:02}{fraction}Z", self.below(8));
        Timestamp::parse(&raw).expect("valid")
    }
}

fn naive(messages: &[Message], filter: &MessageFilter) -> Vec<String> {
    let mut matching: Vec<&Message> = messages
        .iter()
        .filter(|m| filter.from.as_ref().is_none_or(|from| &m.from == from))
        .filter(|m| {
            let since = filter.since.as_ref();
            since.is_none_or(|since| m.ts.sort_key() >= since.sort_key())
        })
        .filter(|m| match (&filter.q, &m.text) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(q), Some(text)) => fold_case(text).contains(&fold_case(q)),
        })
        .collect();
    matching
        .sort_by(|a, b| (a.ts.sort_key(), &a.message_id).cmp(&(b.ts.sort_key(), &b.message_id)));
    matching.into_iter().map(|m| m.message_id.clone()).collect()
}

#[tokio::test]
async fn every_query_plan_answers_exactly_what_a_naive_filter_answers() {
    // Rows are inserted with the writer's statement, but without a writer: its merges
    // into the sender order in pauses of traffic would blur the states below.
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    super::MIGRATOR.run(&pool).await.unwrap();
    // Short searches are counted a few rows at a time, so that counts cross many
    // chunk boundaries; the rows of at most 10 matches are kept, so that some short
    // searches page from their rows and others by testing each row.
    let store = super::SqliteReader {
        pool,
        text_counts: super::text_counts::TextCounts::new(7, 10),
    };
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    let messages: Vec<Message> = (0..300)
        .map(|index| Message {
            message_id: format!("m{:03}", random.below(1000) * 1000 + index),
            from: SENDERS[random.below(SENDERS.len())].to_owned(),
            to: "+9".to_owned(),
            ts: random.ts(),
            text: (random.below(7) > 0).then(|| random.text(12)),
        })
        .collect();
    // The sender order merges every 7 rows here, about 40 rows a step, so that
    // `from` reads meet every state of it: [steps after the first half of a round's
    // rows, steps after the second half].
    let mut sender_order = SenderOrder::new(7, 40);
    let steps = [[0, 2], [1, 0], [1, 0]];
    // Stored in three rounds, queried after each: remembered counts of `q` must follow
    // the rows inserted since they were counted.
    for (round, steps) in (1..=3).zip(steps) {
        let stored = &messages[..messages.len() * round / 3];
        let new = &messages[messages.len() * (round - 1) / 3..stored.len()];
        for (half, steps) in new.chunks(new.len().div_ceil(2)).zip(steps) {
            let mut connection = store.pool.acquire().await.unwrap();
            for batch in half.chunks(1 + random.below(30)) {
                insert_messages(&mut connection, batch, "c").await.unwrap();
            }
            for _ in 0..steps {
                sender_order
                    .step(&mut connection, false, WindowCopy::Inline)
                    .await
                    .unwrap();
            }
        }
        check_queries(&store, stored, &mut random, round).await;
    }
    // Round 1 ended with every row merged; round 2 in the middle of a merge, with rows
    // after it; round 3 with the merge done and rows after it.
    let (merged, window_end, next): (i64, i64, String) =
        sqlx::query_as("SELECT merged_seq, window_end, next_sender FROM sender_order")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert_eq!((merged, window_end, next.as_str()), (150, 150, ""));
}

/// Random filters and pages over `messages` (all of them stored), each compared with
/// the naive filter, through every plan.
async fn check_queries(
    store: &super::SqliteReader,
    messages: &[Message],
    random: &mut Random,
    round: usize,
) {
    for case in 0..150 {
        let case = format!("round {round} case {case}");
        let q = match random.below(4) {
            0 => None,
            // A piece of a stored text, in another case: always has matches.
            1 | 2 => messages[random.below(messages.len())]
                .text
                .as_ref()
                .map(|text| {
                    let chars: Vec<char> = text.chars().collect();
                    let from = random.below(chars.len());
                    let piece: String = chars[from..(from + 1 + random.below(5)).min(chars.len())]
                        .iter()
                        .collect();
                    if random.below(2) == 0 {
                        piece.to_uppercase()
                    } else {
                        piece
                    }
                }),
            _ => Some(random.text(3)),
        };
        let filter = MessageFilter {
            from: (random.below(3) == 0).then(|| SENDERS[random.below(SENDERS.len())].to_owned()),
            since: (random.below(3) == 0).then(|| random.ts()),
            q,
        };
        let expected = naive(messages, &filter);
        let (limit, offset) = (1 + random.below(20) as u32, random.below(30) as u64);
        let expected_page: Vec<&String> = expected
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect();

        let listed = store
            .list(&filter, limit, &PageStart::Offset(offset))
            .await
            .unwrap();
        let ids: Vec<&String> = listed.data.iter().map(|m| &m.message_id).collect();
        assert_eq!(
            ids, expected_page,
            "case {case}: {filter:?} limit {limit} offset {offset}"
        );
        assert_eq!(
            listed.total,
            expected.len() as u64,
            "case {case}: total of {filter:?}"
        );

        let mut connection = store.pool.acquire().await.unwrap();
        let mut plans = vec![TextSearch::Scan];
        if let Some(q) = filter.q.as_deref() {
            if super::count::uses_trigram_index(q) {
                plans.push(TextSearch::Index { rows_in_range: 1 });
            }
            // The rows whose text holds `q`, as a short search's count keeps them.
            let rows: Vec<i64> = sqlx::query_scalar(
                "SELECT seq FROM messages WHERE instr(text_folded, ?) > 0 ORDER BY seq",
            )
            .bind(fold_case(q))
            .fetch_all(&mut *connection)
            .await
            .unwrap();
            plans.push(TextSearch::Rows(rows.into()));
        }
        for plan in plans {
            let counted = count_rows(&mut connection, &filter, &plan).await.unwrap();
            assert_eq!(
                counted,
                expected.len() as u64,
                "case {case}: {plan:?} count of {filter:?}"
            );
            // Walk every page by cursor with this plan.
            let (mut walked, mut start) = (Vec::new(), PageStart::Offset(0));
            loop {
                let (data, next) = page(&mut connection, &filter, 7, &start, &plan)
                    .await
                    .unwrap();
                walked.extend(data.into_iter().map(|m| m.message_id));
                match next {
                    Some(cursor) => start = PageStart::After(cursor),
                    None => break,
                }
            }
            assert_eq!(
                walked, expected,
                "case {case}: {plan:?} pages of {filter:?}"
            );
        }
    }
}
