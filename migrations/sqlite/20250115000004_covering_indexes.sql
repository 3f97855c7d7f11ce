-- The time-ordered indexes also carry the lowercased text, so that a q filter walked
-- in ts order (with or without a sender) is tested on index entries alone, without a
-- lookup of each row.
DROP INDEX messages_by_ts;
DROP INDEX messages_by_sender_ts;
CREATE INDEX messages_by_ts ON messages (ts_key, message_id, text_folded);
CREATE INDEX messages_by_sender_ts ON messages (from_msisdn, ts_key, message_id, text_folded);
