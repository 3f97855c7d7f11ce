//! Totals of `q`-only searches, remembered per block of 4,096 consecutive seqs, for the
//! p50 of 5 ms of a repeated `q` at 1,000,000 messages: counting afresh costs a pass
//! over every row for a `q` under three characters (100–140 ms) and a pass over every
//! match for a longer one (12 ms on SQLite, 125 ms on PostgreSQL for a common word).
//!
//! Each backend keeps a stamp per block, changed by every insert into the block and
//! every deletion from it, in the same transaction; a total counted in a block stays
//! true for as long as the block's stamp is unchanged. A request counts again only the
//! blocks whose stamps changed since (under live traffic, the newest and the oldest).
//!
//! For a short `q` the matches themselves are kept too while a block has few: when
//! every block kept them, a page is read from those rows alone, where a walk of the
//! `ts` order would test nearly every row to fill a page of a rare `q`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{fold_case, StoreError};

/// Blocks with changes beyond this many are counted in one pass over every row or
/// match, instead of one query per block.
const BLOCKS_ONE_BY_ONE: usize = 16;

/// Searches remembered at most; when full, all are forgotten.
const SEARCHES: usize = 256;

/// A block's matches when its stamp was `stamp`, and their seqs if few.
#[derive(Clone)]
struct Block<S> {
    stamp: S,
    count: u64,
    seqs: Option<Arc<Vec<i64>>>,
}

/// Per block with matches: how many, and their seqs if the backend kept them.
pub(super) type Counted = HashMap<i64, (u64, Option<Arc<Vec<i64>>>)>;

/// The total of one search in one snapshot, and every matching seq when each block
/// kept them.
pub(super) struct Total {
    pub(super) count: u64,
    pub(super) seqs: Option<Vec<i64>>,
}

/// A search: its folded `q`, and whether the backend counts it with its trigram index.
type Needle = (String, bool);

/// What is remembered of one search, per block.
type Blocks<S> = HashMap<i64, Block<S>>;

/// The remembered totals; `S` is the backend's stamp of a block.
pub(super) struct SearchTotals<S> {
    by_needle: Mutex<HashMap<Needle, Blocks<S>>>,
}

impl<S> Default for SearchTotals<S> {
    fn default() -> Self {
        Self {
            by_needle: Mutex::default(),
        }
    }
}

/// One search under way: the blocks of its snapshot, and what was remembered of them.
pub(super) struct Search<S> {
    key: Needle,
    blocks: Vec<(i64, S)>,
    known: Blocks<S>,
}

impl<S: Clone + Eq> SearchTotals<S> {
    /// Starts counting the matches of `q` among the rows of one snapshot, whose blocks
    /// and their stamps are `blocks`; `indexed` says whether the backend counts with its
    /// trigram index (the totals are the same either way).
    pub(super) fn start(&self, q: &str, indexed: bool, blocks: Vec<(i64, S)>) -> Search<S> {
        let key = (fold_case(q), indexed);
        let known = self.remembered(&key);
        Search { key, blocks, known }
    }

    /// The total of `search`, given the matches the backend counted (in that snapshot)
    /// in every block of [`Search::to_count`]; remembers it for the next request.
    pub(super) fn finish(&self, search: Search<S>, fresh: Counted) -> Total {
        let Search { key, blocks, known } = search;
        let none = (0, Some(Arc::new(Vec::new())));
        let mut now = HashMap::with_capacity(blocks.len());
        let (mut count, mut seqs) = (0, Some(Vec::new()));
        for (block, stamp) in blocks {
            let counted = match known.get(&block) {
                Some(kept) if kept.stamp == stamp => kept.clone(),
                _ => {
                    let (count, seqs) = fresh.get(&block).cloned().unwrap_or(none.clone());
                    Block { stamp, count, seqs }
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
        Total { count, seqs }
    }

    fn remembered(&self, key: &Needle) -> Blocks<S> {
        let by_needle = self.by_needle.lock().expect("search totals lock");
        by_needle.get(key).cloned().unwrap_or_default()
    }

    fn remember(&self, key: Needle, blocks: Blocks<S>) {
        let mut by_needle = self.by_needle.lock().expect("search totals lock");
        if by_needle.len() >= SEARCHES && !by_needle.contains_key(&key) {
            by_needle.clear();
        }
        by_needle.insert(key, blocks);
    }
}

impl<S: Eq> Search<S> {
    /// What the backend must count: each block whose stamp changed (`Some(block)`), or
    /// every block in one pass (`None`) when many did.
    pub(super) fn to_count(&self) -> Vec<Option<i64>> {
        let stale: Vec<Option<i64>> = self
            .blocks
            .iter()
            .filter(|(block, stamp)| self.known.get(block).is_none_or(|b| b.stamp != *stamp))
            .map(|(block, _)| Some(*block))
            .collect();
        match stale.len() > BLOCKS_ONE_BY_ONE {
            true => vec![None],
            false => stale,
        }
    }
}

/// A new `q` is counted in every block from the seqs of its matches when there are
/// at most this many (they are read first, up to one more); a page reads from kept
/// matches only up to this many in all.
pub(super) const FEW_MATCHES: usize = 2_000;

/// Blocks keep the seqs of their matches when they have at most this many.
pub(super) const KEPT_PER_BLOCK: usize = 32;

/// The count per block of matches whose seqs are `seqs`, with the seqs of each block
/// that has few when `keep`.
pub(super) fn from_seqs(seqs: Vec<i64>, keep: bool) -> Counted {
    let mut blocks: HashMap<i64, Vec<i64>> = HashMap::new();
    for seq in seqs {
        blocks.entry(seq >> 12).or_default().push(seq);
    }
    blocks
        .into_iter()
        .map(|(block, seqs)| {
            let count = seqs.len() as u64;
            let kept = keep && seqs.len() <= KEPT_PER_BLOCK;
            (block, (count, kept.then(|| Arc::new(seqs))))
        })
        .collect()
}

/// Seqs kept as a JSON array by the database (`json_group_array`, `json_agg`).
pub(super) fn kept_seqs(seqs: Option<String>) -> Result<Option<Arc<Vec<i64>>>, StoreError> {
    seqs.map(|seqs| serde_json::from_str(&seqs).map(Arc::new))
        .transpose()
        .map_err(|error| StoreError::Unavailable(error.to_string()))
}
