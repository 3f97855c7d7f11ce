-- Messages, stored once per message_id, with what the queries need to stay fast.
CREATE TABLE messages (
    message_id  TEXT PRIMARY KEY NOT NULL,
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

CREATE INDEX messages_by_ts ON messages (ts_key, message_id);
CREATE INDEX messages_by_sender_ts ON messages (from_msisdn, ts_key, message_id);

-- Aggregates for /stats and unfiltered totals, kept by triggers in the inserting
-- transaction, so they always equal a full scan.
CREATE TABLE sender_counts (
    from_msisdn TEXT PRIMARY KEY NOT NULL,
    count       INTEGER NOT NULL
);

CREATE INDEX sender_counts_by_rank ON sender_counts (count DESC, from_msisdn ASC);

CREATE TABLE message_totals (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    messages INTEGER NOT NULL,
    senders  INTEGER NOT NULL
);

INSERT INTO message_totals (id, messages, senders) VALUES (1, 0, 0);

CREATE TRIGGER messages_count_sender AFTER INSERT ON messages
BEGIN
    INSERT OR IGNORE INTO sender_counts (from_msisdn, count) VALUES (NEW.from_msisdn, 0);
    UPDATE sender_counts SET count = count + 1 WHERE from_msisdn = NEW.from_msisdn;
    UPDATE message_totals SET messages = messages + 1 WHERE id = 1;
END;

CREATE TRIGGER sender_counts_count_sender AFTER INSERT ON sender_counts
BEGIN
    UPDATE message_totals SET senders = senders + 1 WHERE id = 1;
END;
