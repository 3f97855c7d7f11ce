//! The read side on PostgreSQL: `/messages` pages and `/stats`, each from one
//! snapshot, with totals from the aggregates where they answer exactly.

use std::sync::{Arc, LazyLock};

use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::{search, PgReader};
use crate::message::StoredMessage;
use crate::store::query::{
    page_conditions, page_order, select_page, split_page, stats_query, Conditions, SenderIndex,
    PAGE_COLUMNS,
};
use crate::store::search_totals::{SearchTotals, FEW_MATCHES};
use crate::store::{
    fold_case, non_negative, Cursor, MessageFilter, Page, PageStart, Stats, StoreError,
};

/// The sender index is led by the sender: `(from_msisdn, ts_key, message_id)`.
const SENDERS: SenderIndex = SenderIndex::Sender;

/// How many messages are stored: the sum of the totals' shards.
const MESSAGE_COUNT: &str = "SELECT COALESCE(SUM(messages), 0)::BIGINT FROM message_totals";

/// The top senders of `/stats`, from the index of senders by rank, a coarse measure of
/// the count that most changes of a count leave as it is (see its migration). No sender
/// of a lower rank than the tenth's can be among the 10, and at most nine rank above
/// it. A rank below 300 is one count, whose senders the index lists in `from` order, so
/// the first 10 senders of that rank or above are the 10; a higher rank spans counts,
/// and all of its senders are read (at 1,000 senders of nearly equal counts, all 1,000).
const TOP_SENDERS: &str = "WITH tenth AS MATERIALIZED (\
        SELECT COALESCE((SELECT rank FROM sender_counts ORDER BY rank DESC LIMIT 1 OFFSET 9), 0) \
        AS rank) \
    SELECT from_msisdn, count FROM (\
        SELECT from_msisdn, count FROM sender_counts WHERE rank >= (SELECT rank FROM tenth) \
        ORDER BY rank DESC, from_msisdn ASC \
        LIMIT (SELECT CASE WHEN rank < 300 THEN 10 END FROM tenth)) AS ranked \
    ORDER BY count DESC, from_msisdn ASC LIMIT 10";

/// `/stats`: the totals' shards summed, and the top senders as `json_agg`.
static STATS: LazyLock<String> = LazyLock::new(|| {
    stats_query(
        &format!(
            "({MESSAGE_COUNT}), (SELECT COALESCE(SUM(senders), 0)::BIGINT FROM message_totals)"
        ),
        TOP_SENDERS,
        "json_agg(json_build_array(from_msisdn, count) ORDER BY count DESC, from_msisdn ASC)::TEXT",
    )
});

type MessageRow = (Vec<u8>, String, String, String, Option<Vec<u8>>, String);

/// Makes a transaction read-only, seeing one snapshot for all its statements.
const SNAPSHOT: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY";

impl PgReader {
    pub(super) async fn list(
        &self,
        filter: &MessageFilter,
        limit: u32,
        start: &PageStart,
    ) -> Result<Page, StoreError> {
        // sqlx's transaction rolls back when dropped, also when a timed-out request
        // drops this future halfway: the connection goes back to the pool clean.
        let mut snapshot = self.pool.begin().await?;
        sqlx::query(SNAPSHOT).execute(&mut *snapshot).await?;
        let (total, rows_in_range, matches) = count(&mut snapshot, filter, &self.searches).await?;
        // Count and page see one snapshot: past the last match there is no row to find.
        let (data, next) = if start.is_past_the_last(total) {
            (Vec::new(), None)
        } else {
            let plan = match matches {
                Some(seqs) => TextPlan::Rows(seqs),
                None => TextPlan::for_page(filter, limit, start, (total, rows_in_range)),
            };
            page(&mut snapshot, filter, limit, start, &plan).await?
        };
        snapshot.rollback().await?;
        Ok(Page { data, total, next })
    }

    pub(super) async fn stats(&self) -> Result<Stats, StoreError> {
        let row = sqlx::query_as(&STATS).fetch_one(&self.pool).await?;
        Stats::from_row(row)
    }
}

/// How a page or a count tests `q`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TextPlan {
    /// `strpos` on each row's folded text, which no index serves: the page walks its
    /// order (the `ts` or the sender index) and stops after the page's rows, and a
    /// count reads every row of its range.
    Walk,
    /// `LIKE`, which the trigram index serves: a page takes every match from the index
    /// first, then sorts them.
    Candidates,
    /// Exactly these rows (seqs) match, among every row of the snapshot: a `q` without
    /// a trigram and with few matches, whose seqs its remembered total kept. A page
    /// looks each up and sorts them.
    Rows(Arc<Vec<i64>>),
}

/// Rows a walk may test for one page before the trigram index is worth consulting. A
/// walk in `ts` order reads rows stored near each other; one in a sender's order reads
/// a table page per row (about 5 µs each at 1M rows).
const WALK_BUDGET_ROWS: u64 = 2_000;

/// Rows a count may read with `strpos` before the trigram index is worth consulting:
/// the index reads the whole table's matches of `q`'s trigrams (8–12 ms for a common
/// word at 1M), whatever the range.
const COUNT_WALK_BUDGET_ROWS: u64 = 5_000;

/// Taking one match from the trigram index (rechecked on its table row, then sorted)
/// costs about as much as testing this many rows in a walk.
const CANDIDATE_COST_ROWS: u64 = 4;

impl TextPlan {
    /// The plan for a page of `total` matches among `rows_in_range` rows (those of the
    /// filter without `q`). The planner
    /// cannot tell: it guesses how many rows a `LIKE` matches from a sample, and has
    /// walked 450,000 rows for a word 124 rows hold. The exact count is known here. A
    /// walk stops after about `wanted × rows_in_range / total` rows.
    fn for_page(
        filter: &MessageFilter,
        limit: u32,
        start: &PageStart,
        (total, rows_in_range): (u64, u64),
    ) -> Self {
        if !filter.q.as_deref().is_some_and(has_trigram) {
            return Self::Walk;
        }
        let skipped = match start {
            PageStart::Offset(offset) => *offset,
            PageStart::After(_) => 0,
        };
        let wanted = skipped.saturating_add(u64::from(limit) + 1);
        let walked = rows_in_range.min(wanted.saturating_mul(rows_in_range) / total.max(1));
        if walked <= WALK_BUDGET_ROWS || walked <= total.saturating_mul(CANDIDATE_COST_ROWS) {
            Self::Walk
        } else {
            Self::Candidates
        }
    }

    /// The plan for counting the matches among `rows_in_range` rows.
    fn for_count(q: &str, rows_in_range: u64) -> Self {
        if has_trigram(q) && rows_in_range > COUNT_WALK_BUDGET_ROWS {
            Self::Candidates
        } else {
            Self::Walk
        }
    }
}

/// Whether the trigram index can narrow down `q`: `pg_trgm` takes trigrams from runs
/// of letters and digits only.
pub(super) fn has_trigram(q: &str) -> bool {
    let mut run = 0;
    fold_case(q).chars().any(|character| {
        run = if character.is_alphanumeric() {
            run + 1
        } else {
            0
        };
        run >= 3
    })
}

/// Counts the rows matching `filter`, from an aggregate where one answers exactly; and
/// the rows of its range: those matching it without `q` (for `from` and `since`
/// together, the sender's rows).
async fn count(
    connection: &mut PgConnection,
    filter: &MessageFilter,
    searches: &SearchTotals<Vec<i64>>,
) -> Result<(u64, u64, Option<Arc<Vec<i64>>>), StoreError> {
    let (from, since) = (filter.from.as_deref(), filter.since.as_ref());
    if let (Some(_), Some(_), None) = (from, since, &filter.q) {
        // No aggregate answers, and without `q` the range is the matches themselves.
        let total = count_rows(connection, filter, &TextPlan::Walk).await?;
        return Ok((total, total, None));
    }
    let rows_in_range = match (from, since) {
        (None, None) => {
            let all = sqlx::query_scalar(MESSAGE_COUNT)
                .fetch_optional(&mut *connection)
                .await?;
            if let Some(q) = filter.q.as_deref() {
                let total = search::count(connection, q, has_trigram(q), searches).await?;
                let matches = total.seqs.filter(|seqs| seqs.len() <= FEW_MATCHES);
                let rows_in_range = non_negative(all.unwrap_or(0));
                return Ok((total.count, rows_in_range, matches.map(Arc::new)));
            }
            all
        }
        (Some(from), _) => {
            sqlx::query_scalar("SELECT count FROM sender_counts WHERE from_msisdn = $1")
                .bind(from)
                .fetch_optional(&mut *connection)
                .await?
        }
        (None, Some(since)) => {
            // Whole days from the per-day counts, plus the rows of the first day that
            // are at or after `since`. Every ts_key of a day sorts before "<day>U".
            let since = since.sort_key();
            let day = &since[..10];
            sqlx::query_scalar(
                "SELECT ((SELECT COALESCE(SUM(count), 0) FROM messages_per_day WHERE day > $1) \
                 + (SELECT COUNT(*) FROM messages WHERE ts_key >= $2 AND ts_key < $3))::BIGINT",
            )
            .bind(day)
            .bind(since)
            .bind(format!("{day}U"))
            .fetch_optional(&mut *connection)
            .await?
        }
    };
    let rows_in_range = non_negative(rows_in_range.unwrap_or(0));
    let total = match filter.q.as_deref() {
        None => rows_in_range,
        Some(q) => count_rows(connection, filter, &TextPlan::for_count(q, rows_in_range)).await?,
    };
    Ok((total, rows_in_range, None))
}

/// Counts the rows matching `filter` one by one, testing `q` as `plan` says.
async fn count_rows(
    connection: &mut PgConnection,
    filter: &MessageFilter,
    plan: &TextPlan,
) -> Result<u64, StoreError> {
    let mut query = QueryBuilder::new("SELECT COUNT(*) FROM messages");
    Conditions::new(&mut query, SENDERS).filter(filter, |query, q| text_condition(query, q, plan));
    let total: i64 = query.build_query_scalar().fetch_one(connection).await?;
    Ok(non_negative(total))
}

/// The rows of one page, and the cursor of the next page if there is one.
async fn page(
    connection: &mut PgConnection,
    filter: &MessageFilter,
    limit: u32,
    start: &PageStart,
    plan: &TextPlan,
) -> Result<(Vec<StoredMessage>, Option<Cursor>), StoreError> {
    let id_bytes = |id: &str| id.as_bytes().to_vec();
    let text_condition = |query: &mut QueryBuilder<'_, Postgres>, q: &str| {
        text_condition(query, q, plan);
    };
    let conditions = |select: &mut QueryBuilder<'_, Postgres>| {
        page_conditions(select, filter, SENDERS, start, text_condition, id_bytes);
    };
    let mut select = match plan {
        TextPlan::Walk if matches!(start, PageStart::Offset(skipped) if *skipped > 0) => {
            // The ids of the page first: the rows skipped are then read from the index
            // alone wherever the visibility map allows, not from the table (10,000 rows
            // skipped at 1,000,000 messages: 2 ms instead of 3.5 ms).
            let mut select = QueryBuilder::new(format!(
                "SELECT {PAGE_COLUMNS} FROM messages \
                 WHERE message_id IN (SELECT message_id FROM messages"
            ));
            conditions(&mut select);
            page_order(&mut select, filter, SENDERS, limit, start);
            // The order of `page_order` with the sender index led by the sender.
            select.push(") ORDER BY ts_key ASC, message_id ASC");
            select
        }
        TextPlan::Walk => select_page(filter, SENDERS, limit, start, text_condition, id_bytes),
        TextPlan::Candidates | TextPlan::Rows(_) => {
            // Materialized: every match first (no order, no limit, so the planner has
            // no reason to walk an ordering index), then the page of them.
            let mut select = QueryBuilder::new(format!(
                "WITH matches AS MATERIALIZED (SELECT {PAGE_COLUMNS} FROM messages"
            ));
            conditions(&mut select);
            select.push(format!(") SELECT {PAGE_COLUMNS} FROM matches"));
            page_order(&mut select, filter, SENDERS, limit, start);
            select
        }
    };
    let rows: Vec<MessageRow> = select.build_query_as().fetch_all(connection).await?;
    let rows = rows
        .into_iter()
        .map(|(message_id, from, to, ts, text, ts_key)| {
            let message = StoredMessage {
                message_id: utf8(message_id)?,
                from,
                to,
                ts,
                text: text.map(utf8).transpose()?,
            };
            Ok((message, ts_key))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(split_page(rows, limit))
}

/// What was stored as UTF-8 reads back as UTF-8.
fn utf8(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|error| StoreError::Unavailable(error.to_string()))
}

/// The test of `q` on the folded text: `strpos`, which takes `q` literally, or `LIKE`
/// with `%` and `_` escaped, which the trigram index serves. A NULL text_folded (no
/// text) never matches.
fn text_condition(query: &mut QueryBuilder<'_, Postgres>, q: &str, plan: &TextPlan) {
    match plan {
        TextPlan::Walk => query
            .push("strpos(text_folded, ")
            .push_bind(fold_case(q))
            .push(") > 0"),
        TextPlan::Candidates => query
            .push("text_folded LIKE ")
            .push_bind(like_pattern(q))
            .push(" ESCAPE '\\'"),
        TextPlan::Rows(seqs) => query.push("seq = ANY(").push_bind(seqs.to_vec()).push(")"),
    };
}

/// `%q%` with `q` folded as the stored text is, and `\`, `%` and `_` escaped, so every
/// character of `q` matches only itself.
pub(super) fn like_pattern(q: &str) -> String {
    let mut pattern = String::from("%");
    for character in fold_case(q).chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::{has_trigram, like_pattern, TextPlan};
    use crate::store::{MessageFilter, PageStart};

    fn q(q: &str) -> MessageFilter {
        MessageFilter {
            q: Some(q.to_owned()),
            ..MessageFilter::default()
        }
    }

    #[test]
    fn the_trigram_index_is_consulted_only_for_matches_a_walk_would_find_late() {
        let first = PageStart::Offset(0);
        let plan = |filter: &MessageFilter, start: &PageStart, total, range| {
            TextPlan::for_page(filter, 50, start, (total, range))
        };
        // 124 of 1,000,000: a walk would test about 411,000 rows.
        assert_eq!(
            plan(&q("zanzibar"), &first, 124, 1_000_000),
            TextPlan::Candidates
        );
        // 56,751 of 1,000,000: about 900 rows.
        assert_eq!(plan(&q("hello"), &first, 56_751, 1_000_000), TextPlan::Walk);
        // The index cannot narrow down fewer than three letters or digits in a row.
        assert_eq!(plan(&q("ka"), &first, 1, 1_000_000), TextPlan::Walk);
        assert_eq!(plan(&q("a%b c"), &first, 1, 1_000_000), TextPlan::Walk);
        // A walk never reads more than the range: 1,500 rows at most.
        assert_eq!(plan(&q("zanzibar"), &first, 1, 1_500), TextPlan::Walk);
        // 5,000 of 1,000,000: the first page after about 10,200 rows, cheaper than
        // sorting 5,000 matches; 2,000 rows further in, after about 410,000.
        assert_eq!(plan(&q("hello"), &first, 5_000, 1_000_000), TextPlan::Walk);
        let deep = PageStart::Offset(2_000);
        assert_eq!(
            plan(&q("hello"), &deep, 5_000, 1_000_000),
            TextPlan::Candidates
        );
        // A count reads its whole range when walking.
        assert_eq!(TextPlan::for_count("order", 2_065), TextPlan::Walk);
        assert_eq!(TextPlan::for_count("order", 500_000), TextPlan::Candidates);
        assert_eq!(TextPlan::for_count("ka", 500_000), TextPlan::Walk);
    }

    #[test]
    fn trigrams_come_from_runs_of_three_letters_or_digits() {
        for (q, expected) in [
            ("zanzibar", true),
            ("École", true),
            ("Σσς", true),
            ("50%", false),
            ("ab cd", false),
            ("a_b_c", false),
            ("x 123", true),
        ] {
            assert_eq!(has_trigram(q), expected, "{q:?}");
        }
    }

    #[test]
    fn a_like_pattern_takes_every_character_of_q_literally() {
        assert_eq!(like_pattern("50%_Off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(like_pattern("a\0b"), "%a\u{FFFF}b%");
    }
}
