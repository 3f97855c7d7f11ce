-- The folded text writes the Greek final sigma ς as σ: lowercase writes Σ as ς at the
-- end of a word only, so a `q` cut from inside a word missed the text it came from.
-- Rows folded before are folded again, and their blocks' remembered totals forgotten.
WITH refolded AS (
    UPDATE messages SET text_folded = replace(text_folded, 'ς', 'σ')
    WHERE strpos(text_folded, 'ς') > 0
    RETURNING seq
)
SELECT seq_blocks_changed(ARRAY(SELECT seq >> 12 FROM refolded));
