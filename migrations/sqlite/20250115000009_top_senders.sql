-- The ten senders of /stats kept in a table of their own, instead of an index of every
-- sender by count. That index moved an entry on every message (a delete and an insert
-- on a leaf of its own: 4.5k instructions and 1.2 WAL frames per commit, README,
-- Performance). Counts only grow, one message at a time, so the top ten can change only
-- when the sender whose count just grew ranks above the last of them: the triggers
-- below test that against one row, and rarely have more to do.
CREATE TABLE top_senders (
    -- The count, negated: the table's key is then the order of /stats, and the last
    -- of the ten is the last entry of the key.
    rank_count  INTEGER NOT NULL,
    from_msisdn TEXT NOT NULL,
    PRIMARY KEY (rank_count, from_msisdn)
) WITHOUT ROWID;

INSERT INTO top_senders (rank_count, from_msisdn)
SELECT -count, from_msisdn FROM sender_counts
ORDER BY count DESC, from_msisdn ASC
LIMIT 10;

-- Places no sender holds (count 0, below every real one), so that there are always
-- ten rows and "the last of them" is always there to compare with.
WITH RECURSIVE place(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM place WHERE n < 9)
INSERT INTO top_senders (rank_count, from_msisdn)
SELECT 0, printf('%d', n) FROM place
WHERE n < 10 - (SELECT COUNT(*) FROM top_senders);

DROP INDEX sender_counts_by_rank;

-- A sender enters (or moves up in) the top ten when there are fewer than ten, or when
-- it ranks above the last of them: by count descending, then by sender ascending, as
-- /stats orders them. A sender already among them always ranks above the last one
-- once its count grew. The last one drops out when there are eleven.
CREATE TRIGGER sender_counts_rank_new AFTER INSERT ON sender_counts
WHEN (-NEW.count, NEW.from_msisdn) < (SELECT rank_count, from_msisdn FROM top_senders
                                        ORDER BY rank_count DESC, from_msisdn DESC LIMIT 1)
BEGIN
    INSERT INTO top_senders (rank_count, from_msisdn) VALUES (-NEW.count, NEW.from_msisdn);
    DELETE FROM top_senders WHERE (SELECT COUNT(*) FROM top_senders) > 10
        AND (rank_count, from_msisdn) = (SELECT rank_count, from_msisdn FROM top_senders
                                         ORDER BY rank_count DESC, from_msisdn DESC LIMIT 1);
END;

CREATE TRIGGER sender_counts_rank_grown AFTER UPDATE OF count ON sender_counts
WHEN (-NEW.count, NEW.from_msisdn) < (SELECT rank_count, from_msisdn FROM top_senders
                                        ORDER BY rank_count DESC, from_msisdn DESC LIMIT 1)
BEGIN
    DELETE FROM top_senders WHERE rank_count < 0 AND from_msisdn = NEW.from_msisdn;
    INSERT INTO top_senders (rank_count, from_msisdn) VALUES (-NEW.count, NEW.from_msisdn);
    DELETE FROM top_senders WHERE (SELECT COUNT(*) FROM top_senders) > 10
        AND (rank_count, from_msisdn) = (SELECT rank_count, from_msisdn FROM top_senders
                                         ORDER BY rank_count DESC, from_msisdn DESC LIMIT 1);
END;
