-- The whole PostgreSQL schema: the same tables as on SQLite, with aggregates that stay
-- exact when several replicas insert and delete at once.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Messages, stored once per message_id. message_id and text are UTF-8 bytes (bytea):
-- PostgreSQL's text type cannot hold NUL, which JSON strings may carry, and bytea
-- orders bytewise, as SQLite does. Columns that are ordered are in the "C" collation
-- for the same reason.
CREATE TABLE messages (
    message_id  BYTEA PRIMARY KEY,
    from_msisdn TEXT COLLATE "C" NOT NULL,
    to_msisdn   TEXT NOT NULL,
    -- ts exactly as received, and the same instant with nine fractional digits,
    -- whose text order is time order (10:00:00Z < 10:00:00.5Z).
    ts          TEXT NOT NULL,
    ts_key      TEXT COLLATE "C" NOT NULL,
    text        BYTEA,
    -- text in Unicode lowercase (folded by the service), NUL written as U+FFFF, so
    -- q is a plain LIKE served by the trigram index (NULL without text).
    text_folded TEXT,
    -- When the row was stored (RFC 3339, UTC, microseconds): what RETENTION expires by.
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE INDEX messages_by_ts ON messages (ts_key, message_id);
CREATE INDEX messages_by_sender_ts ON messages (from_msisdn, ts_key, message_id);
CREATE INDEX messages_text_trigrams ON messages USING gin (text_folded gin_trgm_ops);
-- The oldest rows first, for the retention sweep.
CREATE INDEX messages_by_created ON messages (created_at);

-- Aggregates for /stats and totals, kept by statement triggers in the inserting or
-- deleting transaction, so they always equal a full scan. A sender's row goes when its
-- last message does.
CREATE TABLE sender_counts (
    from_msisdn TEXT COLLATE "C" PRIMARY KEY,
    count       BIGINT NOT NULL
);

CREATE INDEX sender_counts_by_rank ON sender_counts (count DESC, from_msisdn ASC);

-- Live traffic puts every message on today's row, so days are spread over 16 shards
-- like the totals below; readers sum them.
CREATE TABLE messages_per_day (
    day   TEXT COLLATE "C" NOT NULL,  -- YYYY-MM-DD, the first 10 characters of ts_key
    shard SMALLINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (day, shard)
);

-- The totals are spread over 16 rows, each connection adding to its own, so that
-- replicas committing at once never queue on one hot row; readers sum them.
CREATE TABLE message_totals (
    shard    SMALLINT PRIMARY KEY,
    messages BIGINT NOT NULL DEFAULT 0,
    senders  BIGINT NOT NULL DEFAULT 0
);

INSERT INTO message_totals (shard) SELECT generate_series(0, 15);

-- Every row lock is taken in one global order (messages by id, then senders by number,
-- then days, then one totals shard), so concurrent writers wait but never deadlock.
-- Writers wait for each other only on a sender they both add to: day and total rows
-- are per connection shard.
CREATE FUNCTION messages_aggregate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    added       BIGINT;
    new_senders BIGINT;
BEGIN
    SELECT COUNT(*) INTO added FROM inserted;
    IF added = 0 THEN
        RETURN NULL;
    END IF;
    WITH upserted AS (
        INSERT INTO sender_counts AS existing (from_msisdn, count)
        SELECT from_msisdn, COUNT(*) FROM inserted GROUP BY from_msisdn ORDER BY from_msisdn
        ON CONFLICT (from_msisdn) DO UPDATE SET count = existing.count + excluded.count
        RETURNING xmax = 0 AS created
    )
    SELECT COUNT(*) FILTER (WHERE created) INTO new_senders FROM upserted;
    INSERT INTO messages_per_day AS existing (day, shard, count)
    SELECT left(ts_key, 10), pg_backend_pid() % 16, COUNT(*) FROM inserted GROUP BY 1 ORDER BY 1
    ON CONFLICT (day, shard) DO UPDATE SET count = existing.count + excluded.count;
    UPDATE message_totals
    SET messages = messages + added, senders = senders + new_senders
    WHERE shard = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_aggregate AFTER INSERT ON messages
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION messages_aggregate();

-- The same in reverse for deleted rows, taking locks in the same order. Days and
-- totals are decremented on this connection's shard (a shard may go below zero; the
-- sums are exact).
CREATE FUNCTION messages_unaggregate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    removed      BIGINT;
    gone_senders BIGINT;
BEGIN
    SELECT COUNT(*) INTO removed FROM deleted;
    IF removed = 0 THEN
        RETURN NULL;
    END IF;
    -- Every sender row exists (its messages did), and is locked in sender order.
    INSERT INTO sender_counts AS existing (from_msisdn, count)
    SELECT from_msisdn, -COUNT(*) FROM deleted GROUP BY from_msisdn ORDER BY from_msisdn
    ON CONFLICT (from_msisdn) DO UPDATE SET count = existing.count + excluded.count;
    DELETE FROM sender_counts
    WHERE from_msisdn IN (SELECT from_msisdn FROM deleted) AND count = 0;
    GET DIAGNOSTICS gone_senders = ROW_COUNT;
    INSERT INTO messages_per_day AS existing (day, shard, count)
    SELECT left(ts_key, 10), pg_backend_pid() % 16, -COUNT(*) FROM deleted GROUP BY 1 ORDER BY 1
    ON CONFLICT (day, shard) DO UPDATE SET count = existing.count + excluded.count;
    UPDATE message_totals
    SET messages = messages - removed, senders = senders - gone_senders
    WHERE shard = pg_backend_pid() % 16;
    RETURN NULL;
END
$$;

CREATE TRIGGER messages_unaggregate AFTER DELETE ON messages
REFERENCING OLD TABLE AS deleted
FOR EACH STATEMENT EXECUTE FUNCTION messages_unaggregate();
