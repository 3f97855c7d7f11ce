-- The per-message aggregates with fewer B-tree operations. Each message used to cost
-- its sender's row an INSERT OR IGNORE and then an UPDATE, each looking the sender up
-- in the table's key index and then in the table; now one upsert looks it up once, in
-- tables that are their own key index (WITHOUT ROWID). Together about 8% fewer
-- instructions per message in SQLite (callgrind, batches of 22 messages; README,
-- Performance). The contents stay the same.
--
-- The triggers that write the rebuilt tables are dropped first: a rename checks every
-- trigger's body, and theirs would name a table that is gone for a moment.
DROP TRIGGER messages_count_sender;
DROP TRIGGER messages_count_day;

CREATE TABLE sender_counts_keyed (
    from_msisdn TEXT PRIMARY KEY NOT NULL,
    count       INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO sender_counts_keyed (from_msisdn, count)
SELECT from_msisdn, count FROM sender_counts;
-- Takes sender_counts_by_rank and sender_counts_count_sender with it.
DROP TABLE sender_counts;
ALTER TABLE sender_counts_keyed RENAME TO sender_counts;
CREATE INDEX sender_counts_by_rank ON sender_counts (count DESC, from_msisdn ASC);

CREATE TABLE messages_per_day_keyed (
    day   TEXT PRIMARY KEY NOT NULL,  -- YYYY-MM-DD, the first 10 characters of ts_key
    count INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO messages_per_day_keyed (day, count)
SELECT day, count FROM messages_per_day;
DROP TABLE messages_per_day;
ALTER TABLE messages_per_day_keyed RENAME TO messages_per_day;

-- A sender's first message inserts its row (and counts one more sender); every later
-- one adds one to it.
CREATE TRIGGER messages_count_sender AFTER INSERT ON messages
BEGIN
    INSERT INTO sender_counts (from_msisdn, count) VALUES (NEW.from_msisdn, 1)
    ON CONFLICT (from_msisdn) DO UPDATE SET count = count + 1;
    UPDATE message_totals SET messages = messages + 1 WHERE id = 1;
END;

CREATE TRIGGER sender_counts_count_sender AFTER INSERT ON sender_counts
BEGIN
    UPDATE message_totals SET senders = senders + 1 WHERE id = 1;
END;

CREATE TRIGGER messages_count_day AFTER INSERT ON messages
BEGIN
    INSERT INTO messages_per_day (day, count) VALUES (substr(NEW.ts_key, 1, 10), 1)
    ON CONFLICT (day) DO UPDATE SET count = count + 1;
END;
