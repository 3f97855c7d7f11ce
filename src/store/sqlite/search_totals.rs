//! Totals of `q`-only searches, remembered per block of 4,096 consecutive seqs (the
//! table `seq_blocks`), for the p50 of 5 ms of a repeated `q` at 1,000,000 messages:
//! counting afresh costs a pass over every row for a `q` under three characters
//! (about 200 ms) and a pass over every match for a longer one (7 ms for a common
//! word). A block's count of inserts and deletes only grows, so a total counted in a
//! block stays true for as long as that count is unchanged; a request counts again
//! only the blocks that changed since (under live traffic, the newest and the oldest).
//!
//! For a short `q` the matches themselves are kept too while a block has few: when
//! every block kept them, a page is read from those rows alone, where a walk of the
//! `ts` order would test nearly every row to fill a page of a rare `q`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sqlx::SqliteConnection;

use crate::store::{fold_case, non_negative, StoreError};

/// Blocks with more changes than this are counted in one pass over every row or
/// match, instead of one query per block.
const BLOCKS_ONE_BY_ONE: usize = 16;

/// Searches remembered at most; when full, all are forgotten.
const SEARCHES: usize = 256;

/// A block's `changes` when counted, its matches, and their seqs if few.
#[derive(Clone)]
struct Block {
    changes: i64,
    count: u64,
    seqs: Option<Arc<Vec<i64>>>,
}

/// The total of one search in one snapshot, and every matching seq when each block
/// kept them.
pub(super) struct Total {
    pub(super) count: u64,
    pub(super) seqs: Option<Vec<i64>>,
}

#[derive(Default)]
pub(super) struct SearchTotals {
    by_needle: Mutex<HashMap<(String, bool), HashMap<i64, Block>>>,
}

impl SearchTotals {
    /// The rows of the snapshot whose text contains `q`: from the trigram index when
    /// `indexed`, else by testing each row.
    pub(super) async fn count(
        &self,
        connection: &mut SqliteConnection,
        q: &str,
        indexed: bool,
    ) -> Result<Total, StoreError> {
        let key = (fold_case(q), indexed);
        let blocks: Vec<(i64, i64)> = sqlx::query_as("SELECT block, changes FROM seq_blocks")
            .fetch_all(&mut *connection)
            .await?;
        let known = self.remembered(&key);
        let stale: Vec<i64> = blocks
            .iter()
            .filter(|(block, changes)| known.get(block).map(|b| b.changes) != Some(*changes))
            .map(|(block, _)| *block)
            .collect();
        let mut fresh = HashMap::new();
        if stale.len() > BLOCKS_ONE_BY_ONE {
            fresh = count_blocks(connection, q, indexed, None).await?;
        } else {
            for block in &stale {
                fresh.extend(count_blocks(connection, q, indexed, Some(*block)).await?);
            }
        }
        let none = (0, Some(Arc::new(Vec::new())));
        let mut now = HashMap::with_capacity(blocks.len());
        let (mut count, mut seqs) = (0, Some(Vec::new()));
        for (block, changes) in blocks {
            let counted = match known.get(&block) {
                Some(kept) if kept.changes == changes => kept.clone(),
                _ => {
                    let (count, seqs) = fresh.get(&block).cloned().unwrap_or(none.clone());
                    Block {
                        changes,
                        count,
                        seqs,
                    }
                }
            };
            count += counted.count;
            match (&mut seqs, &counted.seqs) {
                (Some(all), Some(kept)) => all.extend(kept.iter()),
                _ => seqs = None,
            }
            now.insert(block, counted);
        }
        self.remember(key, now);
        Ok(Total { count, seqs })
    }

    fn remembered(&self, key: &(String, bool)) -> HashMap<i64, Block> {
        let by_needle = self.by_needle.lock().expect("search totals lock");
        by_needle.get(key).cloned().unwrap_or_default()
    }

    fn remember(&self, key: (String, bool), blocks: HashMap<i64, Block>) {
        let mut by_needle = self.by_needle.lock().expect("search totals lock");
        if by_needle.len() >= SEARCHES && !by_needle.contains_key(&key) {
            by_needle.clear();
        }
        by_needle.insert(key, blocks);
    }
}

type Counted = HashMap<i64, (u64, Option<Arc<Vec<i64>>>)>;

/// Per block with matches (all blocks, or only `block`): how many, and their seqs if
/// few (at most 32, for a short `q`). One query: each returned row is one more
/// hand-off from SQLite's thread.
async fn count_blocks(
    connection: &mut SqliteConnection,
    q: &str,
    indexed: bool,
    block: Option<i64>,
) -> Result<Counted, StoreError> {
    // Only a short `q` reads its pages from kept matches: a longer one has the index.
    let (seq, from, test, kept) = match indexed {
        true => ("rowid", "messages_text", "messages_text MATCH ?1", "NULL"),
        false => (
            "seq",
            "messages",
            "instr(text_folded, ?1) > 0",
            "CASE WHEN COUNT(*) <= 32 THEN json_group_array(seq) END",
        ),
    };
    let within = match block {
        Some(_) => format!(" AND {seq} >= ?2 AND {seq} < ?3"),
        None => String::new(),
    };
    let sql =
        format!("SELECT {seq} >> 12, COUNT(*), {kept} FROM {from} WHERE {test}{within} GROUP BY 1");
    let needle = match indexed {
        true => super::count::phrase(q),
        false => fold_case(q),
    };
    let mut query = sqlx::query_as(&sql).bind(needle);
    if let Some(block) = block {
        query = query.bind(block << 12).bind((block + 1) << 12);
    }
    let rows: Vec<(i64, i64, Option<String>)> = query.fetch_all(connection).await?;
    rows.into_iter()
        .map(|(block, count, seqs)| {
            let seqs = seqs
                .map(|seqs| serde_json::from_str(&seqs).map(Arc::new))
                .transpose()
                .map_err(|error| StoreError::Unavailable(error.to_string()))?;
            Ok((block, (non_negative(count), seqs)))
        })
        .collect()
}
