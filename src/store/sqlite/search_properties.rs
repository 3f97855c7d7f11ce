//! Property test: on random messages (non-ASCII, `%`, `_`, missing text, tied
//! timestamps, ids sent again) stored and expired in rounds, every way the store can
//! answer `/messages`, and `/stats`, gives exactly what a naive model of the same
//! messages gives.

use sqlx::sqlite::SqlitePoolOptions;

use super::batch::{insert_messages, AfterFailure, SqliteCommitter};
use super::count::{count_rows, TextSearch};
use super::reads::page;
use crate::message::Message;
use crate::store::committer::Committer;
use crate::store::{fold_case, MessageFilter, PageStart, SenderCount, Stats};
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

    /// Tied instants over three days, so that a sender's rows lie in several days of
    /// the sender index (led by the day), some just before midnight.
    fn ts(&mut self) -> Timestamp {
        let fraction = ["", ".5", ".50", ".000", ".25"][self.below(5)];
        let time = ["00:00", "10:00", "23:59"][self.below(3)];
        let raw = format!(
            "2025-01-{}T{time}:{:02}{fraction}Z",
            14 + self.below(3),
            52 + self.below(8)
        );
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

/// `/stats` of `messages`, counted naively.
fn naive_stats(messages: &[(Message, String)]) -> Stats {
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    for (message, _) in messages {
        *counts.entry(message.from.as_str()).or_default() += 1;
    }
    let mut top: Vec<SenderCount> = counts
        .iter()
        .map(|(from, count)| SenderCount {
            from: (*from).to_owned(),
            count: *count,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.from.cmp(&b.from)));
    top.truncate(10);
    let by_time = |(m, _): &&(Message, String)| (m.ts.sort_key().to_owned(), m.message_id.clone());
    let ts = |found: Option<&(Message, String)>| found.map(|(m, _)| m.ts.as_str().to_owned());
    Stats {
        total_messages: messages.len() as u64,
        senders_count: counts.len() as u64,
        messages_per_sender: top,
        first_message_ts: ts(messages.iter().min_by_key(by_time)),
        last_message_ts: ts(messages.iter().max_by_key(by_time)),
    }
}

#[tokio::test]
async fn every_query_plan_answers_exactly_what_a_naive_filter_answers() {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .unwrap();
    super::MIGRATOR.run(&pool).await.unwrap();
    let store = super::SqliteReader {
        pool: pool.clone(),
        probe: pool.clone(),
        _served_here: None,
        searches: Default::default(),
    };
    let mut committer = SqliteCommitter::new(pool, false, AfterFailure::RollBack);
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    // What is stored, each message with its `created_at`, as the naive model keeps it.
    let mut kept: Vec<(Message, String)> = Vec::new();
    let (mut expired, mut stored_again) = (std::collections::HashSet::new(), 0);
    for round in 1..=6 {
        let created_at = format!("2025-02-0{round}T00:00:00.000000Z");
        let arriving: Vec<Message> = (0..120)
            .map(|_| Message {
                // Few ids: many are sent again, before and after they expire.
                message_id: format!("m{:03}", random.below(400)),
                from: SENDERS[random.below(SENDERS.len())].to_owned(),
                to: "+9".to_owned(),
                ts: random.ts(),
                text: (random.below(7) > 0).then(|| random.text(12)),
            })
            .collect();
        let mut connection = store.pool.acquire().await.unwrap();
        for batch in arriving.chunks(1 + random.below(6)) {
            insert_messages(&mut connection, batch, &created_at, true)
                .await
                .unwrap();
            // Gaps in seq spread the rows over many blocks of remembered search totals
            // (4,096 seqs each): some change between rounds, others do not.
            sqlx::query("UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'messages'")
                .bind(random.below(20_000) as i64)
                .execute(&mut *connection)
                .await
                .unwrap();
        }
        drop(connection);
        for message in arriving {
            if !kept.iter().any(|(m, _)| m.message_id == message.message_id) {
                stored_again += usize::from(expired.contains(&message.message_id));
                kept.push((message, created_at.clone()));
            }
        }
        // Everything stored two rounds ago or earlier expires, a few rows at a time.
        if round >= 3 {
            let cutoff = format!("2025-02-0{}T00:00:00.000000Z", round - 1);
            while committer
                .expire(&cutoff, 1 + random.below(40))
                .await
                .unwrap()
                > 0
            {}
            for (message, _) in kept.iter().filter(|(_, created)| *created < cutoff) {
                expired.insert(message.message_id.clone());
            }
            kept.retain(|(_, created)| *created >= cutoff);
        }
        let messages: Vec<Message> = kept.iter().map(|(m, _)| m.clone()).collect();
        assert_eq!(
            store.stats().await.unwrap(),
            naive_stats(&kept),
            "round {round}"
        );
        check_queries(&store, &messages, &mut random, round).await;
        // One more message changes one block: remembered totals are counted again in
        // that block alone.
        let late = Message {
            message_id: format!("late{round}"),
            text: Some(random.text(6)),
            ..messages[0].clone()
        };
        let mut connection = store.pool.acquire().await.unwrap();
        let created_at = format!("2025-02-0{round}T12:00:00.000000Z");
        insert_messages(&mut connection, [&late], &created_at, true)
            .await
            .unwrap();
        drop(connection);
        kept.push((late, created_at));
        let messages: Vec<Message> = kept.iter().map(|(m, _)| m.clone()).collect();
        check_queries(&store, &messages, &mut random, round + 10).await;
    }
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(stored as usize, kept.len());
    let blocks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM seq_blocks")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert!(
        blocks > 16,
        "{blocks} blocks: each search counted in one pass"
    );
    // Ids sent again after they expired were stored again, as new.
    assert!(stored_again > 20, "{stored_again}");
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
            // The rows whose text holds `q`, as a short search's total keeps them.
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
