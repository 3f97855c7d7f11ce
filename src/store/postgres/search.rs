//! The remembered totals of `q`-only searches on PostgreSQL: stamps per block from
//! `seq_blocks`, and the counting of matches per block (see `store::search_totals`).

use sqlx::PgConnection;

use super::reads::like_pattern;
use crate::store::search_totals::{
    from_seqs, kept_seqs, Counted, SearchTotals, Total, FEW_MATCHES, KEPT_PER_BLOCK,
};
use crate::store::{fold_case, non_negative, StoreError};

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
/// few (at most `KEPT_PER_BLOCK`, for a `q` the trigram index cannot serve).
async fn count_blocks(
    connection: &mut PgConnection,
    q: &str,
    indexed: bool,
    block: Option<i64>,
) -> Result<Counted, StoreError> {
    let Some(block) = block else {
        return count_every_block(connection, q, indexed).await;
    };
    // One block is read through the seq index and tested row by row.
    let kept = match indexed {
        true => "NULL".to_owned(),
        false => format!("CASE WHEN COUNT(*) <= {KEPT_PER_BLOCK} THEN json_agg(seq)::TEXT END"),
    };
    let rows: Vec<(i64, Option<String>)> = sqlx::query_as(&format!(
        "SELECT COUNT(*), {kept} FROM messages \
         WHERE strpos(text_folded, $1) > 0 AND seq >= $2 AND seq < $3 HAVING COUNT(*) > 0"
    ))
    .bind(fold_case(q))
    .bind(block << 12)
    .bind((block + 1) << 12)
    .fetch_all(connection)
    .await?;
    rows.into_iter()
        .map(|(count, seqs)| Ok((block, (non_negative(count), kept_seqs(seqs)?))))
        .collect()
}

/// Parallel workers cost the planner nothing, until the transaction ends or
/// `PARALLEL_AT_COST`.
const PARALLEL_FOR_FREE: &str = "SELECT set_config(name, '0', true) FROM pg_settings \
    WHERE name IN ('parallel_setup_cost', 'parallel_tuple_cost')";

/// Parallel workers cost what the server's settings say.
const PARALLEL_AT_COST: &str = "SELECT set_config(name, reset_val, true) FROM pg_settings \
    WHERE name IN ('parallel_setup_cost', 'parallel_tuple_cost')";

/// Every block at once, through the trigram index when it serves `q`, else in a pass
/// over every row, both in parallel workers: first the seqs of the matches, up to one
/// more than `FEW_MATCHES`; when there are more, a count per block. (One aggregate
/// that gathers seqs per block as it counts takes no parallel workers before
/// PostgreSQL 16: twice as long.)
async fn count_every_block(
    connection: &mut PgConnection,
    q: &str,
    indexed: bool,
) -> Result<Counted, StoreError> {
    let (test, needle) = match indexed {
        true => ("text_folded LIKE $1 ESCAPE '\\'", like_pattern(q)),
        false => ("strpos(text_folded, $1) > 0", fold_case(q)),
    };
    // The planner expects a third of all rows to match, so it would read a few
    // thousand matches in one process; free workers make it take them (after this
    // query, the planner's costs are as before).
    sqlx::query(PARALLEL_FOR_FREE)
        .execute(&mut *connection)
        .await?;
    let few: Vec<i64> = sqlx::query_scalar(&format!(
        "SELECT seq FROM messages WHERE {test} LIMIT {}",
        FEW_MATCHES + 1
    ))
    .bind(&needle)
    .fetch_all(&mut *connection)
    .await?;
    sqlx::query(PARALLEL_AT_COST)
        .execute(&mut *connection)
        .await?;
    if few.len() <= FEW_MATCHES {
        return Ok(from_seqs(few, !indexed));
    }
    let counts: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT seq >> 12, COUNT(*) FROM messages WHERE {test} GROUP BY 1"
    ))
    .bind(&needle)
    .fetch_all(connection)
    .await?;
    Ok(counts
        .into_iter()
        .map(|(block, count)| (block, (non_negative(count), None)))
        .collect())
}
