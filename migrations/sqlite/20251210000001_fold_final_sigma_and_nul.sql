-- The folded text writes the Greek final sigma ς as σ (lowercase writes Σ as ς at the
-- end of a word only, so a `q` cut from inside a word missed the text it came from)
-- and NUL as U+FFFF (the trigram index stopped at a NUL, so a `q` after it was neither
-- found nor counted). Rows folded before are folded again, in the trigram index too.
CREATE TEMP TABLE refolded (seq INTEGER PRIMARY KEY, text_folded TEXT NOT NULL);

-- replace() cannot replace NUL: the text is cut at each NUL, as bytes.
WITH RECURSIVE parts (seq, done, rest) AS (
    SELECT seq, '', CAST(text_folded AS BLOB) FROM messages
    WHERE instr(text_folded, char(0)) > 0
    UNION ALL
    SELECT seq, done || substr(rest, 1, instr(rest, x'00') - 1) || char(65535),
        substr(rest, instr(rest, x'00') + 1)
    FROM parts WHERE instr(rest, x'00') > 0
)
INSERT INTO refolded (seq, text_folded)
SELECT seq, done || rest FROM parts WHERE instr(rest, x'00') = 0;

INSERT OR IGNORE INTO refolded (seq, text_folded)
SELECT seq, text_folded FROM messages WHERE instr(text_folded, 'ς') > 0;
UPDATE refolded SET text_folded = replace(text_folded, 'ς', 'σ');

INSERT INTO messages_text (messages_text, rowid, text_folded)
SELECT 'delete', seq, text_folded FROM messages WHERE seq IN (SELECT seq FROM refolded);
UPDATE messages
SET text_folded = (SELECT text_folded FROM refolded WHERE refolded.seq = messages.seq)
WHERE seq IN (SELECT seq FROM refolded);
INSERT INTO messages_text (rowid, text_folded) SELECT seq, text_folded FROM refolded;
-- Totals of `q` remembered for these blocks are no longer true.
UPDATE seq_blocks SET changes = changes + 1
WHERE block IN (SELECT DISTINCT seq >> 12 FROM refolded);

DROP TABLE refolded;
