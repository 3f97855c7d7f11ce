-- The (from, ts) order is built behind the inserts instead of inside them. As an index
-- of `messages`, every message dirtied its sender's leaf, and the senders of a batch
-- each have their own: one more 4 KiB WAL frame per message, the costliest part of
-- the schema on the ingest path (README, Performance). Now the writer merges the
-- newest rows into `messages_by_sender` a few thousand at a time, in sender order, so
-- that a leaf takes all of its sender's new entries in one write. Until then a row is
-- found by scanning the few newest rows of `messages` (src/store/sqlite/sender_order.rs);
-- reads combine both, so answers stay exact.
CREATE TABLE messages_by_sender (
    from_msisdn TEXT NOT NULL,
    ts_key      TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    -- The folded text, so that a `from` + `q` walk tests entries without reading rows.
    text_folded TEXT,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (from_msisdn, ts_key, message_id)
) WITHOUT ROWID;

-- How far the merge has come. Every row with seq <= merged_seq is in
-- messages_by_sender. The rows merged_seq < seq <= window_end are being merged, one
-- range of senders at a time: those whose sender sorts before next_sender are in it
-- already. With no merge under way, window_end = merged_seq and next_sender = ''.
CREATE TABLE sender_order (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    merged_seq  INTEGER NOT NULL,
    window_end  INTEGER NOT NULL,
    next_sender TEXT NOT NULL
);

INSERT INTO messages_by_sender (from_msisdn, ts_key, message_id, text_folded, seq)
SELECT from_msisdn, ts_key, message_id, text_folded, seq FROM messages
ORDER BY from_msisdn, ts_key, message_id;

INSERT INTO sender_order (id, merged_seq, window_end, next_sender)
SELECT 1, COALESCE(MAX(seq), 0), COALESCE(MAX(seq), 0), '' FROM messages;

DROP INDEX messages_by_sender_ts;
