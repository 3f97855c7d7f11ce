-- How often the trigram index merges its segments. Every commit writes the batch's
-- trigrams as a new small segment; FTS5 merges the segments of a level into one of the
-- next level once `automerge` of them are there (default 4), and at once, inside the
-- committing transaction, when `crisismerge` are (default 16). A merge rewrites every
-- entry of the segments it merges, so an entry is rewritten once per level it passes
-- through. With the defaults, merging was about 60% of what the index cost per
-- message on the ingest path (callgrind, batches of 22 messages); wider levels mean
-- fewer levels and fewer rewrites, for a few more segments that a search looks each
-- trigram up in. Measured in the README's Performance section.
INSERT INTO messages_text (messages_text, rank) VALUES ('automerge', 16);
INSERT INTO messages_text (messages_text, rank) VALUES ('crisismerge', 64);
