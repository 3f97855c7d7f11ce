-- Substring search for q: a trigram index over the lowercased text, filled by a
-- trigger in the inserting transaction. It holds text_folded (lowercased by the
-- service) case-sensitively, so a phrase match finds exactly the rows where
-- instr(text_folded, lower(q)) > 0, for queries of 3 or more characters.
-- Rows are tied to messages by message_id, not by rowid, which VACUUM may renumber.
CREATE VIRTUAL TABLE messages_text USING fts5(
    message_id UNINDEXED,
    text_folded,
    tokenize = 'trigram case_sensitive 1'
);

INSERT INTO messages_text (message_id, text_folded)
SELECT message_id, text_folded FROM messages WHERE text_folded IS NOT NULL;

CREATE TRIGGER messages_index_text AFTER INSERT ON messages
WHEN NEW.text_folded IS NOT NULL
BEGIN
    INSERT INTO messages_text (message_id, text_folded) VALUES (NEW.message_id, NEW.text_folded);
END;
