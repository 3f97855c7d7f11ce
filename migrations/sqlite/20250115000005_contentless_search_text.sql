-- The trigram index becomes an index and nothing more. Until now it kept its own copy
-- of every message_id and folded text (and a per-row size table), because it could
-- only point at messages by message_id: the implicit rowid of `messages` may be
-- renumbered by VACUUM. Here `messages` gets an explicit INTEGER PRIMARY KEY, `seq`
-- (its rowid, in the order rows were stored), which VACUUM keeps, so the index can be
-- contentless and point at rows by `seq`.
CREATE TABLE messages_by_seq (
    seq         INTEGER PRIMARY KEY,
    message_id  TEXT NOT NULL,
    from_msisdn TEXT NOT NULL,
    to_msisdn   TEXT NOT NULL,
    -- ts exactly as received, and the same instant with nine fractional digits,
    -- whose text order is time order (10:00:00Z < 10:00:00.5Z).
    ts          TEXT NOT NULL,
    ts_key      TEXT NOT NULL,
    text        TEXT,
    -- text in Unicode lowercase, so q is a plain substring test (NULL without text).
    text_folded TEXT,
    created_at  TEXT NOT NULL
);

INSERT INTO messages_by_seq
    (seq, message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at)
SELECT rowid, message_id, from_msisdn, to_msisdn, ts, ts_key, text, text_folded, created_at
FROM messages ORDER BY rowid;

-- Takes the old table's indexes and triggers with it.
DROP TABLE messages;
ALTER TABLE messages_by_seq RENAME TO messages;

CREATE UNIQUE INDEX messages_by_id ON messages (message_id);
CREATE INDEX messages_by_ts ON messages (ts_key, message_id, text_folded);
CREATE INDEX messages_by_sender_ts ON messages (from_msisdn, ts_key, message_id, text_folded);

CREATE TRIGGER messages_count_sender AFTER INSERT ON messages
BEGIN
    INSERT OR IGNORE INTO sender_counts (from_msisdn, count) VALUES (NEW.from_msisdn, 0);
    UPDATE sender_counts SET count = count + 1 WHERE from_msisdn = NEW.from_msisdn;
    UPDATE message_totals SET messages = messages + 1 WHERE id = 1;
END;

CREATE TRIGGER messages_count_day AFTER INSERT ON messages
BEGIN
    INSERT INTO messages_per_day (day, count) VALUES (substr(NEW.ts_key, 1, 10), 1)
    ON CONFLICT (day) DO UPDATE SET count = count + 1;
END;

-- The folded text, case-sensitively, so that a phrase match finds exactly the rows
-- where instr(text_folded, lower(q)) > 0, for queries of 3 or more characters. The
-- index's rowid is the message's seq. Without content it cannot re-read a row, which
-- only deleting or updating would need; messages are never deleted or updated.
DROP TABLE messages_text;
CREATE VIRTUAL TABLE messages_text USING fts5(
    text_folded,
    tokenize = 'trigram case_sensitive 1',
    content = '',
    columnsize = 0
);

INSERT INTO messages_text (rowid, text_folded)
SELECT seq, text_folded FROM messages WHERE text_folded IS NOT NULL;

CREATE TRIGGER messages_index_text AFTER INSERT ON messages
WHEN NEW.text_folded IS NOT NULL
BEGIN
    INSERT INTO messages_text (rowid, text_folded) VALUES (NEW.seq, NEW.text_folded);
END;
