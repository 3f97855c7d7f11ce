-- The top 10 of /stats, read without an index of the counts themselves. Every message
-- stored or deleted changes its sender's count; indexed by count, each change was a new
-- row version with a new entry in that index as well as in the primary key's, and the
-- entries of old versions stayed until a vacuum, passed by every top 10 meanwhile
-- (during a retention sweep, 185 rising to 1,268 pages a request).
--
-- A sender is indexed by its rank instead: the count's number of digits times 100 plus
-- its first two digits (7 → 107, 42 → 242, 1,234 → 412). A larger count never has a
-- smaller rank, a rank below 300 is a single count (below 100), and a rank changes only
-- every 10th message from 100 to 999, every 100th from 1,000, and so on. A change of
-- count that keeps the rank changes no index, so PostgreSQL writes the new version
-- beside the old on the same page (a HOT update: no index entry, and the old version
-- pruned without a vacuum): half of every page is left free for them.
ALTER TABLE sender_counts SET (fillfactor = 50);
ALTER TABLE sender_counts ADD COLUMN rank INTEGER NOT NULL
    GENERATED ALWAYS AS (length(count::TEXT) * 100 + left(count::TEXT, 2)::INTEGER) STORED;
DROP INDEX sender_counts_by_rank;
CREATE INDEX sender_counts_by_rank ON sender_counts (rank DESC, from_msisdn ASC);
