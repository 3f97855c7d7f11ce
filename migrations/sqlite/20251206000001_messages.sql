-- The whole SQLite schema. Messages are stored once per message_id; everything else
-- is an index or an aggregate kept by triggers in the transaction that inserts or
-- deletes a message, so it always equals a full scan of `messages`.
CREATE TABLE messages (
    -- The order rows were stored in, never reused; the trigram index and the search
    -- totals (`seq_blocks`) point at rows by it.
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id  TEXT NOT NULL UNIQUE,
    from_msisdn TEXT NOT NULL,
    to_msisdn   TEXT NOT NULL,
    -- ts exactly as received, and the same instant with nine fractional digits,
    -- whose text order is time order (10:00:00Z < 10:00:00.5Z).
    ts          TEXT NOT NULL,
    ts_key      TEXT NOT NULL,
    text        TEXT,
    -- text in Unicode lowercase, so q is a plain substring test (NULL without text).
    text_folded TEXT,
    -- When the row was stored (RFC 3339, UTC, microseconds): what RETENTION expires by.
    created_at  TEXT NOT NULL
);

-- The orders of /messages, with and without `from`. They carry the folded text, so
-- that a `q` walked in `ts` order is tested on index entries alone.
CREATE INDEX messages_by_ts ON messages (ts_key, message_id, text_folded);
CREATE INDEX messages_by_sender_ts ON messages (from_msisdn, ts_key, message_id, text_folded);
-- The oldest rows first, for the retention sweep.
CREATE INDEX messages_by_created ON messages (created_at);

-- Substring search for `q` of 3 or more characters: a trigram index over the folded
-- text, case-sensitively, so that a phrase match finds exactly the rows where
-- instr(text_folded, lower(q)) > 0. Its content is `messages` itself (by `seq`).
CREATE VIRTUAL TABLE messages_text USING fts5(
    text_folded,
    tokenize = 'trigram case_sensitive 1',
    content = 'messages',
    content_rowid = 'seq'
);

-- Every commit writes its trigrams as a new small segment, and FTS5 merges segments
-- into larger ones as they pile up; wider merges (16 and 64 instead of 4 and 16)
-- rewrite each entry fewer times, which keeps the index's cost to ingest down.
INSERT INTO messages_text (messages_text, rank) VALUES ('automerge', 16);
INSERT INTO messages_text (messages_text, rank) VALUES ('crisismerge', 64);

-- Messages per sender: `from` totals, the senders count and the top 10 of /stats. A
-- sender's row goes when its last message does.
CREATE TABLE sender_counts (
    from_msisdn TEXT PRIMARY KEY NOT NULL,
    count       INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sender_counts_by_rank ON sender_counts (count DESC, from_msisdn ASC);

-- Messages per UTC day of ts: the total is their sum, and counting the messages since
-- an instant reads one row per day instead of one index entry per message.
CREATE TABLE messages_per_day (
    day   TEXT PRIMARY KEY NOT NULL,  -- YYYY-MM-DD, the first 10 characters of ts_key
    count INTEGER NOT NULL
) WITHOUT ROWID;

-- Every block of 4,096 consecutive seqs with rows in it: how many, and a count of the
-- inserts and deletes it has seen. That count only grows, so a total of `q` counted in
-- a block stays true while it is unchanged: the reader remembers totals per block and
-- counts again only the blocks that changed (src/store/sqlite/search_totals.rs), which
-- keeps a repeated `q` within its p50 of 5 ms at 1,000,000 messages. A block whose rows
-- are all gone goes, and never comes back (seqs are never reused).
CREATE TABLE seq_blocks (
    block   INTEGER PRIMARY KEY,  -- seq >> 12
    rows    INTEGER NOT NULL,
    changes INTEGER NOT NULL
);

-- How many senders have messages.
CREATE TABLE message_totals (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    senders INTEGER NOT NULL
);

INSERT INTO message_totals (id, senders) VALUES (1, 0);

CREATE TRIGGER messages_inserted AFTER INSERT ON messages
BEGIN
    INSERT INTO sender_counts (from_msisdn, count) VALUES (NEW.from_msisdn, 1)
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
    INSERT INTO messages_per_day (day, count) VALUES (substr(NEW.ts_key, 1, 10), 1)
    ON CONFLICT (day) DO UPDATE SET count = count + 1;
    INSERT INTO messages_text (rowid, text_folded)
    SELECT NEW.seq, NEW.text_folded WHERE NEW.text_folded IS NOT NULL;
    INSERT INTO seq_blocks (block, rows, changes) VALUES (NEW.seq >> 12, 1, 1)
    ON CONFLICT (block) DO UPDATE SET rows = rows + 1, changes = changes + 1;
END;

CREATE TRIGGER messages_deleted AFTER DELETE ON messages
BEGIN
    UPDATE sender_counts SET count = count - 1 WHERE from_msisdn = OLD.from_msisdn;
    DELETE FROM sender_counts WHERE from_msisdn = OLD.from_msisdn AND count = 0;
    UPDATE messages_per_day SET count = count - 1 WHERE day = substr(OLD.ts_key, 1, 10);
    DELETE FROM messages_per_day WHERE day = substr(OLD.ts_key, 1, 10) AND count = 0;
    INSERT INTO messages_text (messages_text, rowid, text_folded)
    SELECT 'delete', OLD.seq, OLD.text_folded WHERE OLD.text_folded IS NOT NULL;
    UPDATE seq_blocks SET rows = rows - 1, changes = changes + 1 WHERE block = OLD.seq >> 12;
    DELETE FROM seq_blocks WHERE block = OLD.seq >> 12 AND rows = 0;
END;

CREATE TRIGGER sender_counts_inserted AFTER INSERT ON sender_counts
BEGIN
    UPDATE message_totals SET senders = senders + 1 WHERE id = 1;
END;

CREATE TRIGGER sender_counts_deleted AFTER DELETE ON sender_counts
BEGIN
    UPDATE message_totals SET senders = senders - 1 WHERE id = 1;
END;
