# Sourced by the schema benchmarks (bench-schema.sh, bench-instructions.sh): statements
# that drop part of the SQLite schema from a fresh database, so that a run without that
# part tells what it costs. Each entry is "name|statements".
drop_trigram="DROP TRIGGER messages_index_text;"
drop_aggregates="DROP TRIGGER messages_count_sender; DROP TRIGGER messages_count_day;"
# The (from, ts) order is a table that the writer fills behind the inserts: marking
# every row as merged leaves it nothing to do.
drop_sender_order="UPDATE sender_order SET merged_seq = 9223372036854775807, window_end = 9223372036854775807;"
drop_ordering="DROP INDEX messages_by_ts; $drop_sender_order"
schema_variants=(
    "as shipped|"
    "without the trigram index|$drop_trigram"
    "without the sender and per-day aggregate triggers|$drop_aggregates"
    "without the two ordering indexes|$drop_ordering"
    "primary key only|$drop_trigram $drop_aggregates $drop_ordering"
)
# Single indexes, for a finer breakdown.
schema_single_indexes=(
    "without the top-senders table|DROP TRIGGER sender_counts_rank_new; DROP TRIGGER sender_counts_rank_grown;"
    "without the (from, ts) order|$drop_sender_order"
    "without the (ts) index|DROP INDEX messages_by_ts;"
)
