//! The remembered totals of `q`-only searches on PostgreSQL: stamps per block from
//! `seq_blocks`, and the counting of matches per block (see `store::search_totals`).

use sqlx::PgConnection;

use super::reads::like_pattern;
use super::searchable;
use crate::store::search_totals::{kept_seqs, Counted, SearchTotals, Total};
use crate::store::{non_negative, StoreError};

/// The matches of `q` among all rows of the snapshot: remembered per block, counted
/// again in the blocks whose versions changed. `indexed`: the first count of every
/// block takes the candidates from the trigram index.
pub(super) async fn count(
    connection: &mut PgConnection,
    q: &str,
    indexed: bool,
    searches: &SearchTotals<Vec<i64>>,
) -> Result<Total, StoreError> {
    let blocks = sqlx::query_as(
        "SELECT block, array_agg(version ORDER BY version) FROM seq_blocks GROUP BY block",
    )
    .fetch_all(&mut *connection)
    .await?;
    let search = searches.start(q, indexed, blocks);
    let mut fresh = Counted::new();
    for block in search.to_count() {
        fresh.extend(count_blocks(&mut *connection, q, indexed, block).await?);
    }
    Ok(searches.finish(search, fresh))
}

/// Per block with matches (all blocks, or only `block`): how many, and their seqs if
/// few (at most 32, for a `q` the trigram index cannot serve).
async fn count_blocks(
    connection: &mut PgConnection,
    q: &str,
    indexed: bool,
    block: Option<i64>,
) -> Result<Counted, StoreError> {
    let kept = match indexed {
        true => "NULL",
        false => "CASE WHEN COUNT(*) <= 32 THEN json_agg(seq)::TEXT END",
    };
    // One block is read through the seq index and tested row by row; every block at
    // once through the trigram index when it serves `q`.
    let (test, needle) = match (indexed, block) {
        (true, None) => ("text_folded LIKE $1 ESCAPE '\\'", like_pattern(q)),
        _ => ("strpos(text_folded, $1) > 0", searchable(q)),
    };
    let within = match block {
        Some(_) => " AND seq >= $2 AND seq < $3",
        None => "",
    };
    let sql =
        format!("SELECT seq >> 12, COUNT(*), {kept} FROM messages WHERE {test}{within} GROUP BY 1");
    let mut query = sqlx::query_as(&sql).bind(needle);
    if let Some(block) = block {
        query = query.bind(block << 12).bind((block + 1) << 12);
    }
    let rows: Vec<(i64, i64, Option<String>)> = query.fetch_all(connection).await?;
    rows.into_iter()
        .map(|(block, count, seqs)| Ok((block, (non_negative(count), kept_seqs(seqs)?))))
        .collect()
}
