-- Messages per UTC day of ts, kept by a trigger in the inserting transaction, so
-- that counting messages since an instant reads one row per day instead of one
-- index entry per message.
CREATE TABLE messages_per_day (
    day   TEXT PRIMARY KEY NOT NULL,  -- YYYY-MM-DD, the first 10 characters of ts_key
    count INTEGER NOT NULL
);

INSERT INTO messages_per_day (day, count)
SELECT substr(ts_key, 1, 10), COUNT(*) FROM messages GROUP BY substr(ts_key, 1, 10);

CREATE TRIGGER messages_count_day AFTER INSERT ON messages
BEGIN
    INSERT INTO messages_per_day (day, count) VALUES (substr(NEW.ts_key, 1, 10), 1)
    ON CONFLICT (day) DO UPDATE SET count = count + 1;
END;
