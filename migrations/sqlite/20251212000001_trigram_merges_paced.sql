-- The trigram index no longer merges by itself (`automerge` 0): every write
-- transaction asks for a few pages of merges instead (`merge` in src/store/sqlite/batch.rs),
-- which merges the segments of a level once 16 of them pile up (`usermerge`), as
-- `automerge` 16 did. FTS5's own merges came in bursts: each time 64 more leaf pages
-- had been written, the transaction that crossed the mark merged 64 pages for every
-- level of the index, 20-45 ms inside one batch of webhooks or one step of the
-- retention sweep. Paced, a step's merges take a few milliseconds.
INSERT INTO messages_text (messages_text, rank) VALUES ('automerge', 0);
INSERT INTO messages_text (messages_text, rank) VALUES ('usermerge', 16);
