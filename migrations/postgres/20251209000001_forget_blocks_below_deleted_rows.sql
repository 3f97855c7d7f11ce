-- Blocks are forgotten only below the rows a deletion removed. With no row left
-- visible, the bound was the next seq to be taken: a batch still open (this replica's
-- own writer, beside its sweep) could have taken seqs in a block the deletion then
-- forgot, after waiting for that batch to commit, and the rows of that batch were
-- left out of every `q` total. The rows a deletion removed were all stored before it
-- began, so every seq a batch still open holds is above them.
CREATE OR REPLACE FUNCTION seq_blocks_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM seq_blocks_changed(ARRAY(SELECT seq >> 12 FROM deleted));
    DELETE FROM seq_blocks
    WHERE (block, shard) IN (
        SELECT block, shard FROM seq_blocks
        WHERE block < COALESCE(
            (SELECT MIN(seq) FROM messages),
            (SELECT MAX(seq) + 1 FROM deleted)
        ) >> 12
        ORDER BY block, shard
        FOR UPDATE
    );
    RETURN NULL;
END
$$;
