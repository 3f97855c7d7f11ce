//! Counting the rows of a filter, and choosing how `q` is evaluated: from aggregates
//! and indexes where they answer exactly, by scanning where nothing else can.

use std::sync::Arc;

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::reads::{conditions, MESSAGE_COUNT};
use crate::store::search_totals::{
    from_seqs, kept_seqs, Counted, SearchTotals, Total, FEW_MATCHES, KEPT_PER_BLOCK,
};
use crate::store::{fold_case, non_negative, MessageFilter, PageStart, StoreError};

/// The trigram index serves substrings of at least this many characters; shorter
/// ones are matched by scanning `text_folded`.
const TRIGRAM: usize = 3;

/// How the `q` condition is evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TextSearch {
    /// `instr()` on each row the other conditions reach: exact for any `q`, and cheap
    /// when matches are dense or the other conditions narrow the rows.
    Scan,
    /// Candidates from the trigram index, for `q` of 3+ characters. Carries how many
    /// rows the other conditions reach, to judge whether matches are rare among them.
    Index { rows_in_range: u64 },
    /// Exactly these rows (seqs) match, among every row of the snapshot: a short `q`
    /// with few matches, whose seqs its remembered total kept.
    Rows(Arc<Vec<i64>>),
}

impl TextSearch {
    /// The plan for a page of `total` matches. Walking the `ts` order and testing each
    /// row stops after about `wanted × rows_in_range / total` rows; fetching candidates
    /// from the index costs about `total` lookups. Prefer the walk unless it is long.
    pub(super) fn for_page(self, limit: u32, start: &PageStart, total: u64) -> Self {
        let Self::Index { rows_in_range } = self else {
            return self;
        };
        let skipped = match start {
            PageStart::Offset(offset) => *offset,
            PageStart::After(_) => 0,
        };
        let wanted = skipped.saturating_add(u64::from(limit) + 1);
        let walked = wanted.saturating_mul(rows_in_range) / total.max(1);
        if walked <= SCAN_BUDGET_ROWS || walked <= total.saturating_mul(CANDIDATE_COST_ROWS) {
            Self::Scan
        } else {
            self
        }
    }
}

/// Rows a walk may test for one page before the index is worth consulting.
const SCAN_BUDGET_ROWS: u64 = 20_000;

/// Fetching one candidate found by the index costs about as much as testing this many
/// rows in a walk (a primary-key lookup against an `instr()`).
const CANDIDATE_COST_ROWS: u64 = 5;

/// Counts the rows matching `filter`, from an aggregate, an index or a remembered
/// total where one answers exactly, and says how `q` is best evaluated.
pub(super) async fn count(
    connection: &mut SqliteConnection,
    filter: &MessageFilter,
    searches: &SearchTotals<i64>,
) -> Result<(u64, TextSearch), StoreError> {
    let indexed_q = filter
        .q
        .as_deref()
        .filter(|q| filter.from.is_none() && uses_trigram_index(q));
    if let (None, None, Some(q)) = (&filter.from, &filter.since, filter.q.as_deref()) {
        let indexed = indexed_q.is_some();
        let total = count_q(connection, q, indexed, searches).await?;
        let text = match (indexed, total.seqs) {
            (true, _) => TextSearch::Index {
                rows_in_range: count_all(connection).await?,
            },
            (false, Some(seqs)) if seqs.len() <= FEW_MATCHES => TextSearch::Rows(Arc::new(seqs)),
            (false, _) => TextSearch::Scan,
        };
        return Ok((total.count, text));
    }
    let total = match (&filter.from, &filter.since, indexed_q) {
        (None, Some(since), Some(q)) => {
            // Test every row since `since`, or look up every match: whichever is fewer.
            let rows_in_range = count_since(connection, since.sort_key()).await?;
            let matches = count_text_matches(connection, q).await?;
            let index = TextSearch::Index { rows_in_range };
            let by_index = matches.saturating_mul(CANDIDATE_COST_ROWS) < rows_in_range;
            let plan = if by_index { &index } else { &TextSearch::Scan };
            return Ok((count_rows(connection, filter, plan).await?, index));
        }
        (None, None, None) if filter.q.is_none() => count_all(connection).await?,
        (Some(from), None, None) if filter.q.is_none() => {
            let query = sqlx::query_scalar("SELECT count FROM sender_counts WHERE from_msisdn = ?");
            scalar(query.bind(from), connection).await?
        }
        (None, Some(since), None) if filter.q.is_none() => {
            count_since(connection, since.sort_key()).await?
        }
        _ => count_rows(connection, filter, &TextSearch::Scan).await?,
    };
    Ok((total, TextSearch::Scan))
}

/// The matches of `q` among all rows: remembered per block of seqs, counted again in
/// the blocks whose `changes` moved (the stamp of a block in `seq_blocks`).
async fn count_q(
    connection: &mut SqliteConnection,
    q: &str,
    indexed: bool,
    searches: &SearchTotals<i64>,
) -> Result<Total, StoreError> {
    // One row of JSON: every row returned is one more hand-off from SQLite's thread,
    // and there are 2,442 blocks at 10,000,000 messages (a repeated `q` took 4.8 ms
    // as rows).
    let blocks: String =
        sqlx::query_scalar("SELECT json_group_array(json_array(block, changes)) FROM seq_blocks")
            .fetch_one(&mut *connection)
            .await?;
    let blocks: Vec<(i64, i64)> = serde_json::from_str(&blocks)
        .map_err(|error| StoreError::Unavailable(error.to_string()))?;
    let search = searches.start(q, indexed, blocks);
    let mut fresh = Counted::new();
    for block in search.to_count() {
        fresh.extend(count_blocks(&mut *connection, q, indexed, block).await?);
    }
    Ok(searches.finish(search, fresh))
}

/// Per block with matches (all blocks, or only `block`): how many, and their seqs if
/// few (at most `KEPT_PER_BLOCK`, for a short `q`). One query where it can: each
/// returned row is one more hand-off from SQLite's thread.
async fn count_blocks(
    connection: &mut SqliteConnection,
    q: &str,
    indexed: bool,
    block: Option<i64>,
) -> Result<Counted, StoreError> {
    // Only a short `q` reads its pages from kept matches: a longer one has the index.
    let (seq, from, test, kept) = match indexed {
        true => (
            "rowid",
            "messages_text",
            "messages_text MATCH ?1",
            "NULL".to_owned(),
        ),
        false => (
            "seq",
            "messages",
            "instr(text_folded, ?1) > 0",
            format!("CASE WHEN COUNT(*) <= {KEPT_PER_BLOCK} THEN json_group_array(seq) END"),
        ),
    };
    let needle = match indexed {
        true => phrase(q),
        false => fold_case(q),
    };
    let Some(block) = block else {
        return count_every_block(connection, (seq, from, test), needle, indexed).await;
    };
    let sql = format!(
        "SELECT {seq} >> 12, COUNT(*), {kept} FROM {from} \
         WHERE {test} AND {seq} >= ?2 AND {seq} < ?3 GROUP BY 1"
    );
    let rows: Vec<(i64, i64, Option<String>)> = sqlx::query_as(&sql)
        .bind(needle)
        .bind(block << 12)
        .bind((block + 1) << 12)
        .fetch_all(connection)
        .await?;
    rows.into_iter()
        .map(|(block, count, seqs)| Ok((block, (non_negative(count), kept_seqs(seqs)?))))
        .collect()
}

/// Every block at once: the seqs of the matches first, up to one more than
/// `FEW_MATCHES`, and only when there are more a count per block (gathering the seqs of
/// a block while counting it builds a string of every match: half as fast again).
async fn count_every_block(
    connection: &mut SqliteConnection,
    (seq, from, test): (&str, &str, &str),
    needle: String,
    indexed: bool,
) -> Result<Counted, StoreError> {
    let few: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT {seq} FROM {from} WHERE {test} LIMIT {}",
        FEW_MATCHES + 1
    ))
    .bind(&needle)
    .fetch_all(&mut *connection)
    .await?;
    if few.len() <= FEW_MATCHES {
        return Ok(from_seqs(few, !indexed));
    }
    // Without the index, block by block along the rowid: grouping by `seq >> 12`
    // would sort every match first (a third slower).
    let sql = match indexed {
        true => format!("SELECT {seq} >> 12, COUNT(*) FROM {from} WHERE {test} GROUP BY 1"),
        false => format!(
            "SELECT block, (SELECT COUNT(*) FROM {from} \
             WHERE {test} AND {seq} >= block << 12 AND {seq} < (block + 1) << 12) \
             FROM seq_blocks"
        ),
    };
    let rows: Vec<(i64, i64)> = sqlx::query_as(&sql)
        .bind(needle)
        .fetch_all(connection)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .map(|(block, count)| (block, (non_negative(count), None)))
        .collect())
}

async fn count_all(connection: &mut SqliteConnection) -> Result<u64, StoreError> {
    scalar(sqlx::query_scalar(MESSAGE_COUNT), connection).await
}

pub(super) async fn count_rows(
    connection: &mut SqliteConnection,
    filter: &MessageFilter,
    text: &TextSearch,
) -> Result<u64, StoreError> {
    let mut query = QueryBuilder::new("SELECT COUNT(*) FROM messages");
    conditions(&mut query, filter, text);
    Ok(non_negative(
        query.build_query_scalar().fetch_one(connection).await?,
    ))
}

async fn count_text_matches(connection: &mut SqliteConnection, q: &str) -> Result<u64, StoreError> {
    let query =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages_text WHERE messages_text MATCH ?");
    scalar(query.bind(phrase(q)), connection).await
}

/// Rows with `ts_key >= since`: whole days from the per-day counts, plus the rows of
/// the first day that are at or after `since`.
async fn count_since(connection: &mut SqliteConnection, since: &str) -> Result<u64, StoreError> {
    let day = &since[..10];
    let later_days =
        sqlx::query_scalar("SELECT COALESCE(SUM(count), 0) FROM messages_per_day WHERE day > ?");
    let later_days = scalar(later_days.bind(day), &mut *connection).await?;
    // Every ts_key of `day` starts with `day` and then `T`, which sorts before `U`.
    let same_day =
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE ts_key >= ? AND ts_key < ?");
    let same_day = scalar(same_day.bind(since).bind(format!("{day}U")), connection).await?;
    Ok(later_days + same_day)
}

async fn scalar<'q>(
    query: sqlx::query::QueryScalar<'q, Sqlite, i64, sqlx::sqlite::SqliteArguments<'q>>,
    connection: &mut SqliteConnection,
) -> Result<u64, StoreError> {
    Ok(non_negative(
        query.fetch_optional(connection).await?.unwrap_or(0),
    ))
}

pub(super) fn uses_trigram_index(q: &str) -> bool {
    fold_case(q).chars().count() >= TRIGRAM
}

/// `q` as an FTS5 phrase over the folded text: with the trigram tokenizer a phrase
/// matches exactly the texts that contain it as a substring.
pub(super) fn phrase(q: &str) -> String {
    format!("\"{}\"", fold_case(q).replace('"', "\"\""))
}
