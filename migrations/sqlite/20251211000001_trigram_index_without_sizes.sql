-- The trigram index without its table of sizes (FTS5's `columnsize`): one row per
-- message that only ranking reads, and nothing ranks. Every commit wrote a page of it.
-- The index is built again from `messages`, with the same merge settings.
DROP TABLE messages_text;
CREATE VIRTUAL TABLE messages_text USING fts5(
    text_folded,
    tokenize = 'trigram case_sensitive 1',
    content = 'messages',
    content_rowid = 'seq',
    columnsize = 0
);
INSERT INTO messages_text (messages_text, rank) VALUES ('automerge', 16);
INSERT INTO messages_text (messages_text, rank) VALUES ('crisismerge', 64);
INSERT INTO messages_text (messages_text) VALUES ('rebuild');
