-- The sender index led by the day of `ts`. Led by the sender, the index holds each
-- sender's rows of every day side by side, so the retention sweep, deleting the oldest
-- rows, touched a page of it for nearly every row it deleted, all over the index:
-- 8.6 ms and 383 WAL pages per step of 250 rows at 1,000,000 messages. Led by the day,
-- the oldest rows of every sender lie together: 3.8 ms and 198 pages
-- (scripts/sweep-wal.py), and a sweep deletes 1.5 to 2 times as many rows a second
-- (docs/performance.md, "A sender index led by the day").
-- A `from` filter reads the index one day at a time, over the days `messages_per_day`
-- holds and in their order, which is `ts` order: no sort.
DROP INDEX messages_by_sender_ts;
-- Computed when read, never stored. The planner walks `ts_day IN (SELECT day …)`
-- along an index only on a column, not on the same expression.
ALTER TABLE messages ADD COLUMN ts_day TEXT
    GENERATED ALWAYS AS (substr(ts_key, 1, 10)) VIRTUAL;
CREATE INDEX messages_by_day_sender_ts
    ON messages (ts_day, from_msisdn, ts_key, message_id, text_folded);
