-- Search totals per block of 4,096 consecutive seqs, as on SQLite: a reader remembers
-- the total of a `q` per block and counts again only the blocks whose stamp changed
-- (src/store/search_totals.rs), which keeps a repeated `q` within its p50 of 5 ms at
-- 1,000,000 messages.

-- The order rows were stored in, for blocks of rows stored together. Replicas take
-- seqs from one sequence, so a block may gain a row after newer blocks did.
ALTER TABLE messages ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY;
CREATE INDEX messages_by_seq ON messages (seq);

-- A block's stamp is one row per connection shard that changed it (as for the totals,
-- so replicas committing at once never queue on one hot row). Every insert into the
-- block and every deletion from it sets its shard's `version` to a new value of
-- `seq_block_versions`, which is never taken twice: a block whose versions are the same
-- in two snapshots holds the same rows in both.
CREATE SEQUENCE seq_block_versions AS BIGINT;

CREATE TABLE seq_blocks (
    block   BIGINT NOT NULL,  -- seq >> 12
    shard   SMALLINT NOT NULL,
    version BIGINT NOT NULL,
    PRIMARY KEY (block, shard)
);

INSERT INTO seq_blocks (block, shard, version)
SELECT block, 0, nextval('seq_block_versions')
FROM (SELECT DISTINCT seq >> 12 AS block FROM messages) AS blocks;

-- These triggers fire after the aggregates' (PostgreSQL fires them in name order), so
-- row locks are still taken in one global order: messages, senders, days, one totals
-- shard, then blocks in block order.
CREATE FUNCTION seq_blocks_changed(blocks BIGINT[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO seq_blocks AS existing (block, shard, version)
    SELECT block, pg_backend_pid() % 16, nextval('seq_block_versions')
    FROM (SELECT DISTINCT unnest(blocks) AS block ORDER BY 1) AS changed
    ON CONFLICT (block, shard) DO UPDATE SET version = excluded.version;
$$;

CREATE FUNCTION seq_blocks_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seq_blocks_changed(ARRAY(SELECT seq >> 12 FROM inserted));
    RETURN NULL;
END
$$;

CREATE TRIGGER seq_blocks_inserted AFTER INSERT ON messages
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION seq_blocks_inserted();

-- Blocks wholly below the oldest row (or, with no row left, below the next seq) are
-- forgotten. A block that gains a row again (a replica's insert that took its seq long
-- ago and commits late) comes back with a new version: never one a reader remembers.
CREATE FUNCTION seq_blocks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seq_blocks_changed(ARRAY(SELECT seq >> 12 FROM deleted));
    DELETE FROM seq_blocks
    WHERE (block, shard) IN (
        SELECT block, shard FROM seq_blocks
        WHERE block < COALESCE(
            (SELECT MIN(seq) FROM messages),
            (SELECT last_value + 1 FROM messages_seq_seq)
        ) >> 12
        ORDER BY block, shard
        FOR UPDATE
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER seq_blocks_deleted AFTER DELETE ON messages
REFERENCING OLD TABLE AS deleted
FOR EACH STATEMENT EXECUTE FUNCTION seq_blocks_deleted();

-- How many blocks there are, for the planner: counting a `q` in every block then takes
-- parallel workers (it takes none when it expects a group per row). Statistics on an
-- expression need PostgreSQL 14; on 13 that count runs in one process.
DO $$
BEGIN
    IF current_setting('server_version_num')::INT >= 140000 THEN
        EXECUTE 'CREATE STATISTICS messages_seq_blocks ON (seq >> 12) FROM messages';
    END IF;
END
$$;
